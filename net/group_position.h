// GroupPosition: a consumer group's committed position as kept in the
// index's durable state ("group/<stream_id>/<group_id>"), and its JSON for
// the API, shared by the group handlers, poll and nack; and ReadEventAt,
// one stored event by offset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/engine.h"

namespace eventflow {

struct GroupPosition {
  std::optional<uint64_t> committed;  // offset of the last committed event
  std::string last_event_id;          // empty: none
  int64_t updated_at_ms = 0;
};

std::string GroupKey(const Stream& s, std::string_view group);
std::string EncodePosition(const GroupPosition& p);
// Removes every group position of the stream (stream deletion).
Status DropGroupPositions(Index& index, const Stream& s);
// The stored position, or nullopt for a group never written.
Result<std::optional<GroupPosition>> LoadPosition(Index& index, const std::string& key);
// Events the group has not committed yet (the contract's lag).
uint64_t Lag(const Stream& s, const GroupPosition& p);
// {"group_id","last_event_id","committed_offset","lag","updated_at"}
std::string GroupJson(const Stream& s, std::string_view group, const GroupPosition& p);
// The stored event at `offset` (raw, as written), or empty when it is gone.
Result<std::string> ReadEventAt(const Stream& s, uint64_t offset);

}  // namespace eventflow
