// ScanHints: per consumer group, how far a poll read without finding an
// event to deliver because the stream's processing rules had filtered out
// (or dead-lettered) every one of them, and at which committed position.
// The group's next poll at that same position starts there instead of
// reading the run again: without it each wake of a long-poll rereads a
// long filtered run from the last commit. A run only counts up to the
// first event the view delivers, so what it covers no group can receive,
// and a hint stays right even for a group deleted and made again. A commit
// or seek to another position leaves it unused. At most `capacity` hints are
// kept (groups are made by any poll): past it an arbitrary one is dropped,
// which costs only a reread. Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace eventflow {

class ScanHints {
 public:
  static constexpr size_t kDefaultCapacity = 100'000;
  explicit ScanHints(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // Where a poll of `group_key` at `committed` may start, if a poll at the
  // same position read that far.
  std::optional<uint64_t> Find(const std::string& group_key,
                               std::optional<uint64_t> committed) const {
    std::lock_guard lock(mu_);
    auto it = hints_.find(group_key);
    if (it == hints_.end() || it->second.committed != committed) return std::nullopt;
    return it->second.through;
  }
  void Record(const std::string& group_key, std::optional<uint64_t> committed, uint64_t through) {
    std::lock_guard lock(mu_);
    if (hints_.size() >= capacity_ && !hints_.contains(group_key)) hints_.erase(hints_.begin());
    hints_[group_key] = Hint{committed, through};
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return hints_.size();
  }
  // Forgets the hints of every key starting with `prefix` (a deleted stream).
  void ForgetPrefix(const std::string& prefix) {
    std::lock_guard lock(mu_);
    std::erase_if(hints_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
  }

 private:
  struct Hint {
    std::optional<uint64_t> committed;
    uint64_t through = 0;
  };
  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Hint> hints_;
};

}  // namespace eventflow
