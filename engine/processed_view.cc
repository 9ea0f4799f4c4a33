#include "engine/processed_view.h"

#include <charconv>
#include <cstdio>

#include "formats/endian.h"

namespace eventflow {

namespace {

// How many blobs one index scan of Read loads.
constexpr size_t kBlobsPerScan = 1;
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

void ProcessedBlob::AddTransformed(uint64_t offset, std::string_view written,
                                   std::string_view transformed) {
  const size_t most = std::min(written.size(), transformed.size());
  size_t prefix = 0;
  while (prefix < most && written[prefix] == transformed[prefix]) ++prefix;
  size_t suffix = 0;
  while (suffix < most - prefix &&
         written[written.size() - 1 - suffix] == transformed[transformed.size() - 1 - suffix]) {
    ++suffix;
  }
  if (prefix + suffix <= 8) return Add(offset, 't', transformed);
  const std::string_view middle = transformed.substr(prefix, transformed.size() - prefix - suffix);
  char header[kEntryHeader + 8];
  EncodeFixed64(header, offset);
  header[8] = 'd';
  EncodeFixed32(header + 9, static_cast<uint32_t>(8 + middle.size()));
  EncodeFixed32(header + kEntryHeader, static_cast<uint32_t>(prefix));
  EncodeFixed32(header + kEntryHeader + 4, static_cast<uint32_t>(suffix));
  bytes_.append(header, sizeof header);
  bytes_.append(middle);
  last_ = offset;
}

bool ProcessedBlob::Transformed(const Entry& entry, std::string_view written, std::string* out) {
  if (entry.fate == 't') {
    out->assign(entry.body);
    return true;
  }
  if (entry.fate != 'd' || entry.body.size() < 8) return false;
  const uint64_t prefix = DecodeFixed32(entry.body.data());
  const uint64_t suffix = DecodeFixed32(entry.body.data() + 4);
  if (prefix + suffix > written.size()) return false;
  out->clear();
  out->reserve(prefix + entry.body.size() - 8 + suffix);
  out->append(written.substr(0, prefix));
  out->append(entry.body.substr(8));
  out->append(written.substr(written.size() - suffix));
  return true;
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
  std::string transformed;
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
        return Damaged();
      }
    }
    k = 0;
    more_blobs = scan->size() == kBlobsPerScan;
    return Status::Ok();
  };
  EF_RETURN_IF_ERROR(load(from));
  EF_RETURN_IF_ERROR(
      log.ReadEvents(from, stream_id_, [&](const RecordView& r, std::string_view event) {
        if (r.offset >= end) return false;
        while (k < entries.size() && entries[k].offset < r.offset) ++k;
        if (k == entries.size() && more_blobs) {
          failed = load(r.offset);
          if (!failed.ok()) return false;
          while (k < entries.size() && entries[k].offset < r.offset) ++k;
        }
        if (k < entries.size() && entries[k].offset == r.offset) {
          const ProcessedBlob::Entry& e = entries[k];
          if (e.fate == 'f' || e.fate == 'x') return true;  // not delivered
          if (!ProcessedBlob::Transformed(e, event, &transformed)) {
            failed = Damaged();
            return false;
          }
          return visit(r.offset, transformed);
        }
        return visit(r.offset, event);
      }));
  return failed;
}

Status ProcessedView::Damaged() const {
  return Status::Corruption("processed view of " + stream_id_.ToString() + " is damaged");
}

Result<ProcessedView::Fate> ProcessedView::FateOf(const StreamLog& log, uint64_t offset,
                                                  std::string* transformed) const {
  if (offset >= frontier()) return Fate::kNotProcessed;
  auto scan = index_->ScanStateFrom(EntryPrefix(stream_id_), EntryKey(stream_id_, offset), 1);
  if (!scan.ok()) return scan.status();
  std::vector<ProcessedBlob::Entry> entries;
  if (!scan->empty() && !ProcessedBlob::Decode(scan->front().second, &entries)) return Damaged();
  for (const auto& e : entries) {
    if (e.offset != offset) continue;
    if (e.fate == 'f') return Fate::kFiltered;
    if (e.fate == 'x') return Fate::kDeadLettered;
    if (transformed == nullptr) return Fate::kTransformed;
    bool rebuilt = false;
    Status read =
        log.ReadEvents(offset, stream_id_, [&](const RecordView& r, std::string_view event) {
          rebuilt = r.offset == offset && ProcessedBlob::Transformed(e, event, transformed);
          return false;
        });
    if (!read.ok()) return read;
    if (!rebuilt) return Damaged();
    return Fate::kTransformed;
  }
  return Fate::kAsWritten;
}

}  // namespace eventflow
