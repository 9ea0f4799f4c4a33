#include "engine/sparse_index.h"

namespace eventflow {

SparseIndex::SparseIndex(uint64_t capacity_bytes)
    : max_entries_(capacity_bytes / kIntervalBytes + 2),
      chunks_(new std::unique_ptr<Entry[]>[(max_entries_ + kChunk - 1) / kChunk]) {}

void SparseIndex::MaybeAdd(uint64_t offset, uint64_t pos, int64_t timestamp_ms) {
  if (pending_ > 0 && pos < next_pos_) return;
  if (pending_ >= max_entries_) return;
  auto& chunk = chunks_[pending_ / kChunk];
  if (!chunk) chunk.reset(new Entry[kChunk]);
  chunk[pending_ % kChunk] = Entry{offset, pos, timestamp_ms};
  ++pending_;
  next_pos_ = pos + kIntervalBytes;
}

std::optional<SparseIndex::Entry> SparseIndex::FloorByOffset(uint64_t offset) const {
  size_t lo = 0, hi = size();  // first entry with offset > target is in [lo, hi]
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (At(mid).offset <= offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return std::nullopt;
  return At(lo - 1);
}

std::optional<SparseIndex::Entry> SparseIndex::LastBeforeTime(int64_t timestamp_ms) const {
  size_t lo = 0, hi = size();
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (At(mid).timestamp_ms < timestamp_ms)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return std::nullopt;
  return At(lo - 1);
}

}  // namespace eventflow
