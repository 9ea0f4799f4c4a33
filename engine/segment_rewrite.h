// Writing a segment file anew from chosen records, for compaction (the newest
// event per key) and repair (the good records of a damaged segment). Offsets
// and timestamps are kept; the records are written to a temporary file that
// is fsynced and then renamed over the target, so a crash at any point leaves
// either the old file or the new one (docs/segment-format.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/file_ops.h"
#include "formats/record.h"
#include "formats/status.h"

namespace eventflow {

// One record to write, with the batch it came from: each run of records of
// one source batch is written as one batch (the first marked begin, the last
// end), so dropping some records of a batch keeps the framing valid.
struct KeptRecord {
  uint64_t offset = 0;
  int64_t timestamp_ms = 0;
  uint16_t flags = 0;        // as read; only record::kCompactEvent is kept
  std::string_view payload;  // must outlive WriteSegmentFile
  uint64_t source_batch = 0;
};

// Writes `records` (in offset order) to `path` (created or truncated) as a
// complete segment file and fsyncs it. Returns the bytes written.
// `segment_end`: the end of the offsets the segment covered before the
// rewrite (the next segment's base), marked on the last record
// (record::kSegmentEnd) so that recovery does not count what the rewrite
// left out as lost.
Result<uint64_t> WriteSegmentFile(const std::string& path, const std::vector<KeptRecord>& records,
                                  FileOps* fops, std::optional<uint64_t> segment_end = {});

// Renames `from` over `to` and fsyncs `dir`: the atomic swap.
Status RenameDurably(const std::string& from, const std::string& to, const std::string& dir,
                     FileOps* fops);

// The good records of a damaged segment's bytes: every CRC-valid record at an
// 8-byte boundary whose offset is at least `min_offset`, below `below_offset`
// (the next segment's base) and above the previous record's, and whose
// timestamp does not go backwards, in whole batches only: a batch with a
// damaged or missing record is dropped entirely, as recovery drops a torn
// one (docs/segment-format.md rule 8.9), so a retried producer never finds
// part of its batch stored.
struct Salvage {
  std::vector<KeptRecord> records;
  uint64_t bad_ranges = 0;               // runs of bytes that held no valid record
  uint64_t dropped_partial_records = 0;  // valid records of batches not found whole
};
Salvage SalvageRecords(const char* data, size_t size, uint64_t min_offset,
                       std::optional<uint64_t> below_offset);

}  // namespace eventflow
