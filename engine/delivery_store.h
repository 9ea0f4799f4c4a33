// DeliveryStore: what a consumer group's committed position does not say
// about delivery, and the stream's dead-letter queue, kept in the index's
// durable state (WAL + sync: durable when a call returns OK).
//   delivery/<stream_id>/<group>/<offset:020>          -> a Delivery
//   dlq/<stream_id>/<offset:020>/<stage>/<group>       -> a DlqEntry
// (processing-stage entries have an empty group). Zero-padded offsets keep
// both in offset order. Thread-safe as Index is; the caller serialises the
// read-modify-write of one group (net/'s GroupLock).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/index.h"
#include "formats/status.h"
#include "formats/uuid.h"

namespace eventflow {

// One event's delivery state in one group, beside the group's position.
struct Delivery {
  enum class State : uint8_t {
    kParked,   // nacked: redelivered once due_ms has passed
    kRetried,  // retried from the DLQ: redelivered at the next poll
    kDead,     // dead-lettered: never delivered to the group again
  };
  uint64_t offset = 0;
  std::string event_id;
  State state = State::kParked;
  uint32_t attempts = 0;  // failed deliveries (nacks) so far
  int64_t due_ms = 0;     // wall clock; kParked only
  std::string reason;     // of the last nack
  // Whether a poll at `now_ms` delivers it (wherever the position is).
  bool DueAt(int64_t now_ms) const {
    return state == State::kRetried || (state == State::kParked && due_ms <= now_ms);
  }
  // Whether the group still owes it a delivery (not settled, not dead).
  bool Pending() const { return state != State::kDead; }
};

// One dead-lettered event of a stream. `event_json` is a copy of the stored
// event as written (raw), so an entry outlives retention of the log.
struct DlqEntry {
  std::string event_id;
  uint64_t offset = 0;
  std::string stage;  // "consumer" or "processing"
  std::string group;  // consumer stage only
  std::string reason;
  uint32_t attempts = 0;
  int64_t failed_at_ms = 0;
  std::string event_json;
  // The entry as the API shows it (failed_at as RFC 3339).
  std::string ToJson() const;
};

struct DlqFilter {
  std::optional<std::string> group;
  std::optional<std::string> stage;
  std::optional<std::string> event_id;
  std::optional<uint64_t> offset;  // narrows the scan when the offset is known
  size_t limit = SIZE_MAX;
};

class DeliveryStore {
 public:
  explicit DeliveryStore(Index* index) : index_(index) {}

  // Every delivery record of the group, in offset order.
  Result<std::vector<Delivery>> Deliveries(const Uuid& stream, std::string_view group) const;
  Result<std::optional<Delivery>> Get(const Uuid& stream, std::string_view group,
                                      uint64_t offset) const;
  Status Put(const Uuid& stream, std::string_view group, const Delivery& d);
  // Writes `d` as kDead and `entry` in one write.
  Status DeadLetter(const Uuid& stream, std::string_view group, Delivery d, const DlqEntry& entry);
  // The writes that settle the group's records when its position moves to
  // `committed` by a commit of `acked`: the acked event's record goes, and so
  // do dead markers at or below `committed` (the position has passed them).
  // Parked and retried records below it stay: they are still owed.
  std::vector<Index::StateWrite> SettleOnCommit(const Uuid& stream, std::string_view group,
                                                const std::vector<Delivery>& records,
                                                uint64_t acked, uint64_t committed) const;

  // DLQ entries of the stream matching `filter`, in offset order.
  Result<std::vector<DlqEntry>> ListDlq(const Uuid& stream, const DlqFilter& filter) const;
  // Removes a consumer-stage entry and gives its group a kRetried record
  // with attempts reset, in one write.
  Status RetryConsumer(const Uuid& stream, const DlqEntry& entry);
  // Removes entries (their groups' dead markers stay).
  Status Discard(const Uuid& stream, const std::vector<DlqEntry>& entries);
  // Removes the group's records and consumer-stage entries.
  Status DropGroup(const Uuid& stream, std::string_view group);
  // Removes every record and entry of the stream.
  Status DropStream(const Uuid& stream);
  // The write that adds `entry` to the stream's DLQ, for callers that put it
  // in a larger atomic write (the processor).
  static Index::StateWrite DlqPut(const Uuid& stream, const DlqEntry& entry);
  // DLQ entries per (stream_id, stage), over every stream.
  Result<std::map<std::pair<std::string, std::string>, uint64_t>> CountDlq() const;

 private:
  Index* const index_;
};

}  // namespace eventflow
