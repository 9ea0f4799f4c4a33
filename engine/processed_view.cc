#include "engine/processed_view.h"

#include <charconv>
#include <cstdio>

namespace eventflow {

namespace {

// How many entries one index scan of Read loads.
constexpr size_t kEntriesPerScan = 512;

uint64_t OffsetOfKey(std::string_view key) {
  uint64_t offset = 0;
  const std::string_view digits = key.substr(key.size() - 20);
  std::from_chars(digits.data(), digits.data() + digits.size(), offset);
  return offset;
}

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

Status ProcessedView::Read(const StreamLog& log, uint64_t from, const Visit& visit) const {
  const uint64_t end = frontier();
  if (from >= end) return Status::Ok();
  const std::string prefix = EntryPrefix(stream_id_);
  // The entries at or after the record being read, loaded a scan at a time.
  std::vector<std::pair<uint64_t, std::string>> entries;
  size_t k = 0;
  bool more_entries = true;
  Status failed;
  auto load = [&](uint64_t at) {
    auto scan = index_->ScanStateFrom(prefix, EntryKey(stream_id_, at), kEntriesPerScan);
    if (!scan.ok()) return scan.status();
    entries.clear();
    for (auto& [key, value] : *scan) entries.emplace_back(OffsetOfKey(key), std::move(value));
    k = 0;
    more_entries = scan->size() == kEntriesPerScan;
    return Status::Ok();
  };
  EF_RETURN_IF_ERROR(load(from));
  EF_RETURN_IF_ERROR(log.Read(from, [&](const RecordView& r) {
    if (r.offset >= end) return false;
    while (k < entries.size() && entries[k].first < r.offset) ++k;
    if (k == entries.size() && more_entries) {
      failed = load(r.offset);
      if (!failed.ok()) return false;
    }
    if (k < entries.size() && entries[k].first == r.offset) {
      const std::string& e = entries[k].second;
      if (e.empty() || e[0] != 't') return true;  // filtered or dead-lettered
      return visit(r.offset, std::string_view(e).substr(1));
    }
    return visit(r.offset, r.payload);
  }));
  return failed;
}

Result<ProcessedView::Fate> ProcessedView::FateOf(uint64_t offset, std::string* transformed) const {
  if (offset >= frontier()) return Fate::kNotProcessed;
  auto value = index_->GetState(EntryKey(stream_id_, offset));
  if (!value.ok()) return value.status();
  if (!value->has_value() || (*value)->empty()) return Fate::kAsWritten;
  switch ((**value)[0]) {
    case 'f':
      return Fate::kFiltered;
    case 'x':
      return Fate::kDeadLettered;
    default:
      if (transformed) transformed->assign(**value, 1);
      return Fate::kTransformed;
  }
}

}  // namespace eventflow
