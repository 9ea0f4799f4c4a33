// A 128-bit hash of a compaction key (XXH3): compaction remembers the newest
// offset per key by hash, so memory per key stays fixed whatever the key
// length, and with 128 bits a collision (which would drop an event) is not a
// practical concern.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace eventflow {

struct KeyHash {
  uint64_t low = 0, high = 0;
  bool operator==(const KeyHash&) const = default;
};

KeyHash HashKey(std::string_view key);

struct KeyHashHasher {
  size_t operator()(const KeyHash& h) const { return static_cast<size_t>(h.low); }
};

}  // namespace eventflow
