#include "engine/segment_scan.h"

#include <algorithm>
#include <vector>

#include "formats/endian.h"

namespace eventflow {

bool ValidRecordAt(const char* data, size_t size, uint64_t pos) {
  if (pos + record::kHeaderSize > size) return false;
  // Cheap magic test first: this runs at every 8-byte step of a tail.
  if (DecodeFixed32(data + pos + record::kMagicPos) != record::kMagic) return false;
  record::Header h;
  if (record::DecodeHeader(data + pos, &h) != record::HeaderCheck::kOk) return false;
  if (pos + record::EncodedSize(h.length) > size) return false;
  return record::VerifyRecordCrc(data + pos, h);
}

namespace {
void NoteSyncedMark(const record::Header& h, std::optional<uint64_t>* best) {
  if (auto mark = h.synced_before(); mark && (!*best || *mark > **best)) *best = *mark;
}

// Whether the record at `src` (a valid header) was written by a version that
// marks the first record of every batch (version 2 on).
bool MarksBatches(const char* src) { return static_cast<uint8_t>(src[record::kVersionPos]) >= 2; }

}  // namespace

ScanResult ScanSegment(const char* data, size_t size, const ScanOptions& options,
                       const std::function<void(const ScannedRecord&)>& on_record) {
  ScanResult result;
  result.synced_before = options.synced_floor;
  // Records of the batch in progress, released to on_record at its end.
  std::vector<ScannedRecord> batch;
  bool in_batch = false;
  uint64_t batch_start = 0;
  std::optional<uint64_t> prev_offset;
  int64_t prev_ts = INT64_MIN;
  bool marking_writer = false;  // a record of version 2 or later was seen
  uint64_t pos = 0;

  auto fail = [&](std::string_view why) {
    result.bad_pos = in_batch ? batch_start : pos;
    result.bad_reason = why;
  };

  while (true) {
    if (pos + record::kHeaderSize > size) {
      if (pos < size) fail("header cut short");
      break;
    }
    record::Header h;
    const auto check = record::DecodeHeader(data + pos, &h);
    if (check == record::HeaderCheck::kZero) {
      break;
    }
    if (check == record::HeaderCheck::kBadHeader) {
      fail("bad record header");
      break;
    }
    const size_t rec_size = record::EncodedSize(h.length);
    if (pos + rec_size > size) {
      fail("record runs past the end");
      break;
    }
    if (options.verify_crc && !record::VerifyRecordCrc(data + pos, h)) {
      fail("record checksum mismatch");
      break;
    }
    if (h.offset < options.min_offset || (prev_offset && h.offset <= *prev_offset)) {
      fail("record offset out of order");
      break;
    }
    if (h.timestamp_ms < prev_ts) {
      fail("record timestamp goes backwards");
      break;
    }
    const bool begin = h.flags & record::kBatchBegin;
    const bool end = h.flags & record::kBatchEnd;
    if (begin == in_batch) {  // a begin inside a batch, or a continuation outside one
      fail("batch framing broken");
      break;
    }
    if (begin) {
      in_batch = true;
      batch_start = pos;
    }
    NoteSyncedMark(h, &result.synced_before);
    marking_writer = marking_writer || MarksBatches(data + pos);
    batch.push_back({pos, static_cast<uint32_t>(rec_size), h,
                     std::string_view(data + pos + record::kHeaderSize, h.length)});
    prev_offset = h.offset;
    prev_ts = h.timestamp_ms;
    pos += rec_size;
    if (end) {
      in_batch = false;
      for (const ScannedRecord& r : batch) {
        if (!result.first_offset) {
          result.first_offset = r.header.offset;
          result.first_timestamp_ms = r.header.timestamp_ms;
        }
        result.last_offset = r.header.offset;
        result.last_timestamp_ms = r.header.timestamp_ms;
        result.segment_end = r.header.segment_end();
        ++result.record_count;
        if (on_record) on_record(r);
      }
      batch.clear();
      result.valid_end = pos;
    }
  }
  if (in_batch && !result.bad_pos) {
    result.bad_pos = batch_start;
    result.bad_reason = "unfinished batch";
  }
  result.damage_offset = result.last_offset ? *result.last_offset + 1 : options.min_offset;
  if (!options.classify_tail) return result;
  // The records of an unfinished batch go with the tail, whatever it is.
  if (options.verify_crc) {
    for (const ScannedRecord& r : batch) result.dropped.Note(1, r.header.offset, r.header.offset);
  }
  // Anything valid beyond the end we stopped at means the bytes in between
  // were damaged: by a power loss if no completed sync had covered them
  // (pages of one write reach the disk in any order), else after they were
  // written. The probe starts past the record the scan stopped at (records
  // of an unfinished batch before it are not evidence of damage) and reads
  // on to the end: a later record may carry a larger synced-before mark.
  bool found = false;
  for (uint64_t probe = pos + record::kAlignment; probe + record::kHeaderSize <= size;) {
    if (!ValidRecordAt(data, size, probe)) {
      probe += record::kAlignment;
      continue;
    }
    record::Header h;
    (void)record::DecodeHeader(data + probe, &h);
    if (!found) {
      found = true;
      result.resync_pos = probe;
      if (!result.bad_pos) {
        result.bad_pos = pos;
        result.bad_reason = "zeroed bytes inside the log";
      }
    }
    NoteSyncedMark(h, &result.synced_before);
    marking_writer = marking_writer || MarksBatches(data + probe);
    result.dropped.Note(1, h.offset, h.offset);
    probe += record::EncodedSize(h.length);
  }
  // Without a mark, a log written before version 2 cannot tell a torn write
  // from damage: anything valid after it is corruption, as before. A log of
  // version 2 on marks every batch's first record, so a tail with no mark
  // left (the marked records were in the lost pages) proves no sync: torn.
  if (result.synced_before) {
    result.corruption = found && result.damage_offset < *result.synced_before;
  } else {
    result.corruption = found && !marking_writer;
  }
  return result;
}

}  // namespace eventflow
