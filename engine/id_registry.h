// IdRegistry: event ids that are being appended or are durable but not yet
// in the RocksDB index, per organization. A stream writer reserves an id
// before it checks the index, so two streams (or two requests) racing with
// one id cannot both store it. Sharded, thread-safe.
#pragma once

#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "engine/index.h"

namespace eventflow {

class IdRegistry {
 public:
  // The offset of a reservation whose event has no offset yet (the writer
  // is still checking the index for it).
  static constexpr uint64_t kUnassigned = UINT64_MAX;

  // Reserves (org, id) for `loc`. If it is already reserved, returns the
  // holder's location and reserves nothing.
  std::optional<EventLocation> TryReserve(std::string_view org, const Uuid& id,
                                          const EventLocation& loc);
  // Replaces the location of a reservation the caller holds.
  void Update(std::string_view org, const Uuid& id, const EventLocation& loc);
  void Release(std::string_view org, const Uuid& id);
  // The location of a reserved id that has an offset; nullopt otherwise.
  std::optional<EventLocation> Find(std::string_view org, const Uuid& id) const;

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, EventLocation> ids;
  };
  static std::string Key(std::string_view org, const Uuid& id);
  Shard& ShardFor(const Uuid& id) const {
    return const_cast<Shard&>(shards_[id.bytes[15] % kShards]);
  }
  std::array<Shard, kShards> shards_;
};

}  // namespace eventflow
