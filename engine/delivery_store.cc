#include "engine/delivery_store.h"

#include <simdjson.h>

#include <cstdio>

#include "formats/json_writer.h"
#include "formats/timestamp.h"

namespace eventflow {

namespace {

constexpr std::string_view kDeliveryPrefix = "delivery/";
constexpr std::string_view kDlqPrefix = "dlq/";

std::string Padded(uint64_t offset) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(offset));
  return buf;
}

std::string GroupPrefix(const Uuid& stream, std::string_view group) {
  return std::string(kDeliveryPrefix) + stream.ToString() + "/" + std::string(group) + "/";
}

std::string DeliveryKey(const Uuid& stream, std::string_view group, uint64_t offset) {
  return GroupPrefix(stream, group) + Padded(offset);
}

std::string DlqStreamPrefix(const Uuid& stream) {
  return std::string(kDlqPrefix) + stream.ToString() + "/";
}

std::string DlqKey(const Uuid& stream, const DlqEntry& e) {
  return DlqStreamPrefix(stream) + Padded(e.offset) + "/" + e.stage + "/" + e.group;
}

std::string_view StateName(Delivery::State s) {
  switch (s) {
    case Delivery::State::kParked:
      return "parked";
    case Delivery::State::kRetried:
      return "retried";
    case Delivery::State::kDead:
      return "dead";
  }
  return "parked";
}

std::string EncodeDelivery(const Delivery& d) {
  std::string out = "{\"offset\":" + std::to_string(d.offset) +
                    ",\"event_id\":" + json::Quote(d.event_id) +
                    ",\"state\":" + json::Quote(StateName(d.state)) +
                    ",\"attempts\":" + std::to_string(d.attempts) +
                    ",\"due_ms\":" + std::to_string(d.due_ms) + ",\"reason\":";
  json::AppendString(&out, d.reason);
  return out + "}";
}

Result<Delivery> DecodeDelivery(std::string_view key, const std::string& value) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  std::string_view id, state, reason;
  Delivery d;
  uint64_t attempts = 0;
  if (parser.parse(value).get(e) || e["offset"].get(d.offset) || e["event_id"].get(id) ||
      e["state"].get(state) || e["attempts"].get(attempts) || e["due_ms"].get(d.due_ms) ||
      e["reason"].get(reason)) {
    return Status::Corruption("bad delivery record " + std::string(key));
  }
  if (state == "parked") {
    d.state = Delivery::State::kParked;
  } else if (state == "retried") {
    d.state = Delivery::State::kRetried;
  } else if (state == "dead") {
    d.state = Delivery::State::kDead;
  } else {
    return Status::Corruption("bad delivery state in " + std::string(key));
  }
  d.event_id = id;
  d.attempts = static_cast<uint32_t>(attempts);
  d.reason = reason;
  return d;
}

// The stored form: the API's members plus failed_at_ms; `event` is the raw
// stored event, embedded as JSON.
std::string EncodeEntry(const DlqEntry& e) {
  std::string out = "{\"event_id\":" + json::Quote(e.event_id) +
                    ",\"offset\":" + std::to_string(e.offset) +
                    ",\"stage\":" + json::Quote(e.stage) + ",\"group_id\":" + json::Quote(e.group) +
                    ",\"reason\":";
  json::AppendString(&out, e.reason);
  out += ",\"attempts\":" + std::to_string(e.attempts) +
         ",\"failed_at_ms\":" + std::to_string(e.failed_at_ms) + ",\"event\":";
  out += e.event_json.empty() ? std::string("null") : e.event_json;
  return out + "}";
}

Result<DlqEntry> DecodeEntry(std::string_view key, const std::string& value) {
  simdjson::dom::parser parser;
  simdjson::dom::element e, event;
  std::string_view id, stage, group, reason;
  DlqEntry out;
  uint64_t attempts = 0;
  if (parser.parse(value).get(e) || e["event_id"].get(id) || e["offset"].get(out.offset) ||
      e["stage"].get(stage) || e["group_id"].get(group) || e["reason"].get(reason) ||
      e["attempts"].get(attempts) || e["failed_at_ms"].get(out.failed_at_ms) ||
      e["event"].get(event)) {
    return Status::Corruption("bad dlq entry " + std::string(key));
  }
  out.event_id = id;
  out.stage = stage;
  out.group = group;
  out.reason = reason;
  out.attempts = static_cast<uint32_t>(attempts);
  if (!event.is_null()) out.event_json = simdjson::minify(event);
  return out;
}

bool Matches(const DlqEntry& e, const DlqFilter& f) {
  return (!f.group || e.group == *f.group) && (!f.stage || e.stage == *f.stage) &&
         (!f.event_id || e.event_id == *f.event_id);
}

}  // namespace

std::string DlqEntry::ToJson() const {
  std::string out = "{\"event_id\":" + json::Quote(event_id) +
                    ",\"offset\":" + std::to_string(offset) + ",\"stage\":" + json::Quote(stage) +
                    ",\"group_id\":" + (group.empty() ? std::string("null") : json::Quote(group)) +
                    ",\"reason\":";
  json::AppendString(&out, reason);
  out += ",\"attempts\":" + std::to_string(attempts) + ",\"failed_at\":\"" +
         timestamp::Format(failed_at_ms) + "\",\"event\":";
  out += event_json.empty() ? std::string("null") : event_json;
  return out + "}";
}

Result<std::vector<Delivery>> DeliveryStore::Deliveries(const Uuid& stream,
                                                        std::string_view group) const {
  auto rows = index_->ScanState(GroupPrefix(stream, group));
  if (!rows.ok()) return rows.status();
  std::vector<Delivery> out;
  out.reserve(rows->size());
  for (const auto& [key, value] : *rows) {
    auto d = DecodeDelivery(key, value);
    if (!d.ok()) return d.status();
    out.push_back(std::move(*d));
  }
  return out;
}

Result<std::optional<Delivery>> DeliveryStore::Get(const Uuid& stream, std::string_view group,
                                                   uint64_t offset) const {
  const std::string key = DeliveryKey(stream, group, offset);
  auto raw = index_->GetState(key);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::optional<Delivery>();
  auto d = DecodeDelivery(key, **raw);
  if (!d.ok()) return d.status();
  return std::optional<Delivery>(std::move(*d));
}

Status DeliveryStore::Put(const Uuid& stream, std::string_view group, const Delivery& d) {
  return index_->PutState(DeliveryKey(stream, group, d.offset), EncodeDelivery(d));
}

Index::StateWrite DeliveryStore::DlqPut(const Uuid& stream, const DlqEntry& entry) {
  return {DlqKey(stream, entry), EncodeEntry(entry)};
}

Status DeliveryStore::DeadLetter(const Uuid& stream, std::string_view group, Delivery d,
                                 const DlqEntry& entry) {
  d.state = Delivery::State::kDead;
  d.due_ms = 0;
  return index_->ApplyState({{DeliveryKey(stream, group, d.offset), EncodeDelivery(d)},
                             {DlqKey(stream, entry), EncodeEntry(entry)}});
}

std::vector<Index::StateWrite> DeliveryStore::SettleOnCommit(const Uuid& stream,
                                                             std::string_view group,
                                                             const std::vector<Delivery>& records,
                                                             uint64_t acked,
                                                             uint64_t committed) const {
  std::vector<Index::StateWrite> out;
  for (const Delivery& d : records) {
    const bool passed_dead = d.state == Delivery::State::kDead && d.offset <= committed;
    const bool acked_pending = d.Pending() && d.offset == acked;
    if (passed_dead || acked_pending) out.push_back({DeliveryKey(stream, group, d.offset), {}});
  }
  return out;
}

Result<std::vector<DlqEntry>> DeliveryStore::ListDlq(const Uuid& stream,
                                                     const DlqFilter& filter) const {
  std::string prefix = DlqStreamPrefix(stream);
  if (filter.offset) prefix += Padded(*filter.offset) + "/";
  auto rows = index_->ScanState(prefix);
  if (!rows.ok()) return rows.status();
  std::vector<DlqEntry> out;
  for (const auto& [key, value] : *rows) {
    if (out.size() >= filter.limit) break;
    auto e = DecodeEntry(key, value);
    if (!e.ok()) return e.status();
    if (Matches(*e, filter)) out.push_back(std::move(*e));
  }
  return out;
}

Status DeliveryStore::RetryConsumer(const Uuid& stream, const DlqEntry& entry) {
  Delivery d;
  d.offset = entry.offset;
  d.event_id = entry.event_id;
  d.state = Delivery::State::kRetried;
  d.reason = entry.reason;
  return index_->ApplyState({{DlqKey(stream, entry), {}},
                             {DeliveryKey(stream, entry.group, d.offset), EncodeDelivery(d)}});
}

Status DeliveryStore::Discard(const Uuid& stream, const std::vector<DlqEntry>& entries) {
  std::vector<Index::StateWrite> writes;
  for (const DlqEntry& e : entries) writes.push_back({DlqKey(stream, e), {}});
  return index_->ApplyState(writes);
}

Status DeliveryStore::DropGroup(const Uuid& stream, std::string_view group) {
  std::vector<Index::StateWrite> writes;
  auto records = index_->ScanState(GroupPrefix(stream, group));
  if (!records.ok()) return records.status();
  for (const auto& row : *records) writes.push_back({row.first, {}});
  DlqFilter f;
  f.group = std::string(group);
  f.stage = "consumer";
  auto entries = ListDlq(stream, f);
  if (!entries.ok()) return entries.status();
  for (const DlqEntry& e : *entries) writes.push_back({DlqKey(stream, e), {}});
  return index_->ApplyState(writes);
}

Status DeliveryStore::DropStream(const Uuid& stream) {
  std::vector<Index::StateWrite> writes;
  for (const std::string& prefix :
       {std::string(kDeliveryPrefix) + stream.ToString() + "/", DlqStreamPrefix(stream)}) {
    auto rows = index_->ScanState(prefix);
    if (!rows.ok()) return rows.status();
    for (const auto& row : *rows) writes.push_back({row.first, {}});
  }
  return index_->ApplyState(writes);
}

Result<std::map<std::pair<std::string, std::string>, uint64_t>> DeliveryStore::CountDlq() const {
  auto rows = index_->ScanState(kDlqPrefix);
  if (!rows.ok()) return rows.status();
  std::map<std::pair<std::string, std::string>, uint64_t> out;
  for (const auto& row : *rows) {
    // dlq/<stream_id>/<offset>/<stage>/<group>: the key says it all.
    std::string_view rest = std::string_view(row.first).substr(kDlqPrefix.size());
    const size_t a = rest.find('/');
    const size_t b = a == std::string_view::npos ? a : rest.find('/', a + 1);
    const size_t c = b == std::string_view::npos ? b : rest.find('/', b + 1);
    if (c == std::string_view::npos) continue;
    ++out[{std::string(rest.substr(0, a)), std::string(rest.substr(b + 1, c - b - 1))}];
  }
  return out;
}

}  // namespace eventflow
