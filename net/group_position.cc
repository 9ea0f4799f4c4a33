#include "net/group_position.h"

#include <simdjson.h>

#include "formats/json_writer.h"
#include "formats/timestamp.h"

namespace eventflow {

std::string GroupKey(const Stream& s, std::string_view group) {
  return "group/" + s.manifest.stream_id.ToString() + "/" + std::string(group);
}

Status DropGroupPositions(Index& index, const Stream& s) {
  auto groups = index.ScanState(GroupKey(s, ""));
  if (!groups.ok()) return groups.status();
  std::vector<Index::StateWrite> deletes;
  for (auto& [key, value] : *groups) deletes.push_back({key, {}});
  return deletes.empty() ? Status::Ok() : index.ApplyState(deletes);
}

std::string EncodePosition(const GroupPosition& p) {
  return std::string("{\"committed\":") + (p.committed ? std::to_string(*p.committed) : "null") +
         ",\"last_event_id\":" + json::Quote(p.last_event_id) +
         ",\"updated_at_ms\":" + std::to_string(p.updated_at_ms) + "}";
}

Result<std::optional<GroupPosition>> LoadPosition(Index& index, const std::string& key) {
  auto raw = index.GetState(key);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::optional<GroupPosition>();
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  GroupPosition p;
  std::string_view id;
  if (parser.parse(**raw).get(e) || e["last_event_id"].get(id) ||
      e["updated_at_ms"].get(p.updated_at_ms)) {
    return Status::Corruption("bad group record " + key);
  }
  uint64_t c;
  if (!e["committed"].get(c)) p.committed = c;
  p.last_event_id = id;
  return std::optional<GroupPosition>(p);
}

uint64_t Lag(const Stream& s, const GroupPosition& p) {
  const uint64_t next = s.log->committed_next();
  const uint64_t first = s.log->first_offset();
  if (!p.committed) return next > first ? next - first : 0;
  return next > *p.committed + 1 ? next - 1 - *p.committed : 0;
}

std::string GroupJson(const Stream& s, std::string_view group, const GroupPosition& p) {
  std::string out = "{\"group_id\":";
  json::AppendString(&out, group);
  out += ",\"last_event_id\":" + (p.last_event_id.empty() ? "null" : json::Quote(p.last_event_id));
  out += ",\"committed_offset\":" + (p.committed ? std::to_string(*p.committed) : "null");
  out += ",\"lag\":" + std::to_string(Lag(s, p));
  out += ",\"updated_at\":" +
         (p.updated_at_ms ? "\"" + timestamp::Format(p.updated_at_ms) + "\"" : std::string("null"));
  out += "}";
  return out;
}

Result<std::string> ReadEventAt(const Stream& s, uint64_t offset) {
  std::string body;
  Status st = s.log->ReadEvents(offset, s.manifest.stream_id,
                                [&](const RecordView& r, std::string_view event) {
                                  if (r.offset == offset) body = std::string(event);
                                  return false;
                                });
  if (!st.ok()) return st;
  return body;
}

}  // namespace eventflow
