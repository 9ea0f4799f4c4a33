#include "engine/processed_view.h"

#include <charconv>
#include <cstdio>

#include "formats/endian.h"

namespace eventflow {

namespace {

// How many blobs one index scan of Read loads.
constexpr size_t kBlobsPerScan = 4;
constexpr size_t kEntryHeader = 8 + 1 + 4;

}  // namespace

std::string ProcessedView::FrontierKey(const Uuid& stream_id) {
  return "procview/" + stream_id.ToString();
}

std::string ProcessedView::EntryPrefix(const Uuid& stream_id) {
  return "proc/" + stream_id.ToString() + "/";
}

std::string ProcessedView::EntryKey(const Uuid& stream_id, uint64_t offset) {
  char digits[21];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(offset));
  return EntryPrefix(stream_id) + digits;
}

Result<std::optional<uint64_t>> ProcessedView::StoredFrontier(const Index& index,
                                                              const Uuid& stream_id) {
  auto value = index.GetState(FrontierKey(stream_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<uint64_t>();
  uint64_t frontier = 0;
  const std::string& text = **value;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), frontier);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Status::Corruption("processed view frontier of " + stream_id.ToString() + " is \"" +
                              text + "\"");
  }
  return std::optional<uint64_t>(frontier);
}

void ProcessedBlob::Add(uint64_t offset, char fate, std::string_view body) {
  char header[kEntryHeader];
  EncodeFixed64(header, offset);
  header[8] = fate;
  EncodeFixed32(header + 9, static_cast<uint32_t>(body.size()));
  bytes_.append(header, sizeof header);
  bytes_.append(body);
  last_ = offset;
}

bool ProcessedBlob::Decode(std::string_view blob, std::vector<Entry>* out) {
  size_t at = 0;
  while (at < blob.size()) {
    if (blob.size() - at < kEntryHeader) return false;
    const char* h = blob.data() + at;
    const uint32_t len = DecodeFixed32(h + 9);
    if (blob.size() - at - kEntryHeader < len) return false;
    out->push_back({DecodeFixed64(h), h[8], blob.substr(at + kEntryHeader, len)});
    at += kEntryHeader + len;
  }
  return true;
}

Status ProcessedView::Read(const StreamLog& log, uint64_t from, const Visit& visit) const {
  const uint64_t end = frontier();
  if (from >= end) return Status::Ok();
  const std::string prefix = EntryPrefix(stream_id_);
  // The entries at or after the record being read, a few blobs at a time
  // (a blob's key is its last entry's offset, so the first blob whose key
  // is >= an offset is the one that may hold it).
  std::vector<std::string> blobs;
  std::vector<ProcessedBlob::Entry> entries;
  size_t k = 0;
  bool more_blobs = true;
  Status failed;
  auto load = [&](uint64_t at) {
    auto scan = index_->ScanStateFrom(prefix, EntryKey(stream_id_, at), kBlobsPerScan);
    if (!scan.ok()) return scan.status();
    entries.clear();
    blobs.clear();
    for (auto& [key, value] : *scan) blobs.push_back(std::move(value));
    for (const std::string& b : blobs) {
      if (!ProcessedBlob::Decode(b, &entries)) {
        return Status::Corruption("processed view of " + stream_id_.ToString() + " is damaged");
      }
    }
    k = 0;
    more_blobs = scan->size() == kBlobsPerScan;
    return Status::Ok();
  };
  EF_RETURN_IF_ERROR(load(from));
  EF_RETURN_IF_ERROR(log.Read(from, [&](const RecordView& r) {
    if (r.offset >= end) return false;
    while (k < entries.size() && entries[k].offset < r.offset) ++k;
    if (k == entries.size() && more_blobs) {
      failed = load(r.offset);
      if (!failed.ok()) return false;
      while (k < entries.size() && entries[k].offset < r.offset) ++k;
    }
    if (k < entries.size() && entries[k].offset == r.offset) {
      if (entries[k].fate != 't') return true;  // filtered or dead-lettered
      return visit(r.offset, entries[k].body);
    }
    return visit(r.offset, r.payload);
  }));
  return failed;
}

Result<ProcessedView::Fate> ProcessedView::FateOf(uint64_t offset, std::string* transformed) const {
  if (offset >= frontier()) return Fate::kNotProcessed;
  auto scan = index_->ScanStateFrom(EntryPrefix(stream_id_), EntryKey(stream_id_, offset), 1);
  if (!scan.ok()) return scan.status();
  std::vector<ProcessedBlob::Entry> entries;
  if (!scan->empty() && !ProcessedBlob::Decode(scan->front().second, &entries)) {
    return Status::Corruption("processed view of " + stream_id_.ToString() + " is damaged");
  }
  for (const auto& e : entries) {
    if (e.offset != offset) continue;
    switch (e.fate) {
      case 'f':
        return Fate::kFiltered;
      case 'x':
        return Fate::kDeadLettered;
      default:
        if (transformed) transformed->assign(e.body);
        return Fate::kTransformed;
    }
  }
  return Fate::kAsWritten;
}

}  // namespace eventflow
