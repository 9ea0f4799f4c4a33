// SparseIndex: (offset, file position, timestamp) of about one record per
// 4 KiB of a segment, so a read by offset or time starts near its record.
// One writer appends; readers search the published prefix without locks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

namespace eventflow {

class SparseIndex {
 public:
  struct Entry {
    uint64_t offset;
    uint64_t pos;
    int64_t timestamp_ms;
  };
  static constexpr uint64_t kIntervalBytes = 4096;

  // `capacity_bytes` bounds the segment size, and so the number of entries.
  explicit SparseIndex(uint64_t capacity_bytes);
  SparseIndex(const SparseIndex&) = delete;
  SparseIndex& operator=(const SparseIndex&) = delete;

  // Writer: considers the record at `pos`; adds it when it starts a new
  // interval. Not visible to readers until Publish.
  void MaybeAdd(uint64_t offset, uint64_t pos, int64_t timestamp_ms);
  // Writer: entries added so far, and where the next one may start.
  size_t pending() const { return pending_; }
  uint64_t next_pos() const { return next_pos_; }
  // Makes the first `entries` visible (a count pending() had, with the
  // next_pos() of that moment); may run on a second thread beside MaybeAdd.
  void PublishUpTo(size_t entries, uint64_t next_pos) {
    published_next_pos_ = next_pos;
    published_.store(entries, std::memory_order_release);
  }
  // Writer: forgets unpublished entries (after a failed append), with no
  // PublishUpTo running.
  void DropUnpublished() {
    pending_ = published_.load(std::memory_order_relaxed);
    next_pos_ = published_next_pos_;
  }

  // Readers: the published entry with the greatest offset <= `offset`, or
  // the greatest timestamp < `timestamp_ms`; nullopt if none.
  std::optional<Entry> FloorByOffset(uint64_t offset) const;
  std::optional<Entry> LastBeforeTime(int64_t timestamp_ms) const;
  size_t size() const { return published_.load(std::memory_order_acquire); }

 private:
  static constexpr size_t kChunk = 1024;
  const Entry& At(size_t i) const { return chunks_[i / kChunk][i % kChunk]; }

  size_t max_entries_;
  std::unique_ptr<std::unique_ptr<Entry[]>[]> chunks_;
  size_t pending_ = 0;
  uint64_t next_pos_ = 0;  // the next entry needs a record at or after this
  uint64_t published_next_pos_ = 0;
  std::atomic<size_t> published_{0};
};

}  // namespace eventflow
