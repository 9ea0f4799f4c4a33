#include "engine/segment_rewrite.h"

#include <fcntl.h>

#include <climits>

#include "engine/segment_scan.h"

namespace eventflow {

namespace {
constexpr size_t kWriteChunk = 1u << 20;
}  // namespace

Result<uint64_t> WriteSegmentFile(const std::string& path, const std::vector<KeptRecord>& records,
                                  FileOps* fops, std::optional<uint64_t> segment_end) {
  auto fd = fops->Open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (!fd.ok()) return fd.status();
  struct CloseFd {
    FileOps* fops;
    int fd;
    ~CloseFd() { fops->Close(fd); }
  } close_fd{fops, *fd};

  std::string buf;
  buf.reserve(2 * kWriteChunk);
  uint64_t pos = 0;
  auto flush = [&]() -> Status {
    if (buf.empty()) return Status::Ok();
    EF_RETURN_IF_ERROR(fops->Write(*fd, buf.data(), buf.size(), pos, path));
    pos += buf.size();
    buf.clear();
    return Status::Ok();
  };
  for (size_t i = 0; i < records.size(); ++i) {
    const KeptRecord& r = records[i];
    record::Header h;
    h.type = record::RecordType::kEvent;
    h.offset = r.offset;
    h.timestamp_ms = r.timestamp_ms;
    const bool begin = i == 0 || records[i - 1].source_batch != r.source_batch;
    const bool end = i + 1 == records.size() || records[i + 1].source_batch != r.source_batch;
    h.flags =
        static_cast<uint16_t>((r.flags & record::kCompactEvent) |
                              (begin ? record::kBatchBegin : 0) | (end ? record::kBatchEnd : 0));
    if (segment_end && i + 1 == records.size()) h.set_segment_end(*segment_end);
    record::AppendTo(h, r.payload, &buf);
    if (buf.size() >= kWriteChunk) EF_RETURN_IF_ERROR(flush());
  }
  EF_RETURN_IF_ERROR(flush());
  EF_RETURN_IF_ERROR(fops->Sync(*fd, path));
  return pos;
}

Status RenameDurably(const std::string& from, const std::string& to, const std::string& dir,
                     FileOps* fops) {
  EF_RETURN_IF_ERROR(fops->Rename(from, to));
  return fops->SyncDir(dir);
}

Salvage SalvageRecords(const char* data, size_t size, uint64_t min_offset,
                       std::optional<uint64_t> below_offset) {
  Salvage out;
  std::optional<uint64_t> prev_offset;
  int64_t prev_ts = INT64_MIN;
  uint64_t batch = 0;
  bool batch_open = false;  // the last record taken began or continued a batch with no end yet
  uint64_t last_end = 0;    // byte position just past the last record taken
  bool in_bad_range = false;
  size_t open_batch_first = 0;  // index in out.records of the open batch's first record
  // A batch is kept whole or not at all (rule 8.9): its records go back out.
  auto drop_open_batch = [&] {
    if (!batch_open) return;
    out.dropped_partial_records += out.records.size() - open_batch_first;
    out.records.resize(open_batch_first);
    batch_open = false;
  };
  uint64_t pos = 0;
  while (pos + record::kHeaderSize <= size) {
    record::Header h;
    bool take = ValidRecordAt(data, size, pos) &&
                record::DecodeHeader(data + pos, &h) == record::HeaderCheck::kOk &&
                h.offset >= min_offset && (!below_offset || h.offset < *below_offset) &&
                (!prev_offset || h.offset > *prev_offset) && h.timestamp_ms >= prev_ts;
    if (!take) {
      // Zeroed space (a preallocated tail) is not damage; anything else is.
      bool zero = record::DecodeHeader(data + pos, &h) == record::HeaderCheck::kZero;
      if (!zero && !in_bad_range) {
        ++out.bad_ranges;
        in_bad_range = true;
      }
      drop_open_batch();
      pos += record::kAlignment;
      continue;
    }
    in_bad_range = false;
    const bool begin = h.flags & record::kBatchBegin;
    prev_offset = h.offset;
    prev_ts = h.timestamp_ms;
    const bool continues = !begin && batch_open && pos == last_end;
    pos += record::EncodedSize(h.length);
    if (!begin && !continues) {
      // The rest of a batch whose start was lost: not kept.
      drop_open_batch();
      ++out.dropped_partial_records;
      continue;
    }
    if (begin) {
      drop_open_batch();
      ++batch;
      open_batch_first = out.records.size();
    }
    batch_open = !(h.flags & record::kBatchEnd);
    out.records.push_back(
        KeptRecord{h.offset, h.timestamp_ms, h.flags,
                   std::string_view(
                       data + pos - record::EncodedSize(h.length) + record::kHeaderSize, h.length),
                   batch});
    last_end = pos;
  }
  drop_open_batch();
  return out;
}

}  // namespace eventflow
