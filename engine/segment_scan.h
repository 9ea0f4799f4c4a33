// Walks the records of a segment's bytes and classifies what follows the last
// good one: clean end, torn tail (truncate it) or corruption (a bad record
// with valid records after it). Shared by recovery, verify and dump.
// The rule (docs/segment-format.md section 8): damage at or past the
// largest synced-before mark is a torn write, damage below it corruption.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "formats/record.h"

namespace eventflow {

struct ScannedRecord {
  uint64_t pos;   // byte position of the header in the segment
  uint32_t size;  // encoded size, padding included
  record::Header header;
  std::string_view payload;
};

// Records a torn tail dropped, with the range of their offsets (for the log
// and eventflow_torn_tail_events_total).
struct DroppedRecords {
  uint64_t count = 0;
  uint64_t first_offset = 0, last_offset = 0;
  void Note(uint64_t n, uint64_t first, uint64_t last) {
    if (n == 0) return;
    first_offset = count == 0 ? first : std::min(first_offset, first);
    last_offset = count == 0 ? last : std::max(last_offset, last);
    count += n;
  }
  void Add(const DroppedRecords& other) {
    Note(other.count, other.first_offset, other.last_offset);
  }
};

struct ScanResult {
  // End of the last complete batch: everything before it is good.
  uint64_t valid_end = 0;
  uint64_t record_count = 0;  // records before valid_end
  std::optional<uint64_t> first_offset, last_offset;
  int64_t first_timestamp_ms = 0, last_timestamp_ms = 0;
  // A rewritten segment's original end (record::kSegmentEnd), if its last
  // complete batch carries one.
  std::optional<uint64_t> segment_end;
  // Where the first bad record (or an unfinished batch) starts, if any.
  std::optional<uint64_t> bad_pos;
  // What is wrong at bad_pos, for messages.
  std::string_view bad_reason;
  // A valid record exists after bad_pos, and the damage lies below what a
  // completed sync had covered (or no record says what that was):
  // corruption, not a torn write.
  bool corruption = false;
  // Position of the first valid record found after bad_pos (the probe).
  uint64_t resync_pos = 0;
  // The largest synced-before mark of any CRC-valid record (scan and probe),
  // or ScanOptions::synced_floor if larger; unset when no record has one.
  std::optional<uint64_t> synced_before;
  // The first offset the damage may hold: one past the last complete batch.
  uint64_t damage_offset = 0;
  // CRC-valid records past valid_end that a torn tail drops (an unfinished
  // batch, records the probe found).
  DroppedRecords dropped;
};

struct ScanOptions {
  bool verify_crc = true;
  // Look past a bad record (or past the zeroed end) for valid records, to tell
  // corruption from a torn tail. Costs a pass over the rest of the bytes.
  bool classify_tail = true;
  uint64_t min_offset = 0;  // records below it are bad (a segment's base offset)
  // A synced-before mark known from a later segment of the same log.
  std::optional<uint64_t> synced_floor;
};

// Scans `data[0, size)`. `on_record` (optional) sees every good record in a
// complete batch, in order, before the call returns.
ScanResult ScanSegment(const char* data, size_t size, const ScanOptions& options,
                       const std::function<void(const ScannedRecord&)>& on_record = {});

// True if a complete, CRC-valid record starts at `pos`.
bool ValidRecordAt(const char* data, size_t size, uint64_t pos);

}  // namespace eventflow
