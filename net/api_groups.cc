// Api handlers for consumer groups: commit, seek, get, list, delete (poll
// is in api_poll.cc). A group's position lives in the index's durable state
// (net/group_position.h), written with sync on the blocking pool.
#include <algorithm>
#include <mutex>
#include <unordered_set>

#include "formats/json_writer.h"
#include "formats/timestamp.h"
#include "net/api.h"
#include "net/group_position.h"
#include "net/query.h"
#include "net/stream_settings.h"

namespace eventflow {

namespace {

// The event id stored at `offset`, or empty.
std::string EventIdAt(const Stream& s, uint64_t offset) {
  std::string id;
  (void)s.log->Read(offset, [&](const RecordView& r) {
    if (r.offset == offset) {
      if (auto u = PeekEventId(r.payload)) id = u->ToString();
    }
    return false;
  });
  return id;
}

}  // namespace

Result<std::unordered_set<std::string>*> Api::GroupNamesOf(const Stream& stream) {
  const std::string sid = stream.manifest.stream_id.ToString();
  auto it = group_names_.find(sid);
  if (it == group_names_.end()) {
    const std::string prefix = GroupKey(stream, "");
    auto rows = engine_->index().ScanState(prefix);
    if (!rows.ok()) return rows.status();
    std::unordered_set<std::string> names;
    for (const auto& row : *rows) names.insert(row.first.substr(prefix.size()));
    it = group_names_.emplace(sid, std::move(names)).first;
  }
  return &it->second;
}

Status Api::AdmitNewGroup(const Stream& stream, const std::string& group) {
  std::lock_guard lock(group_names_mu_);
  auto names = GroupNamesOf(stream);
  if (!names.ok()) return names.status();
  if ((*names)->contains(group)) return Status::Ok();
  if ((*names)->size() >= options_.max_groups_per_stream) {
    return Status::QuotaExceeded("stream '" + stream.manifest.name + "' has " +
                                 std::to_string((*names)->size()) +
                                 " consumer groups, the most --max-groups-per-stream allows");
  }
  (*names)->insert(group);  // one too many if the position is then not stored: harmless
  return Status::Ok();
}

Status Api::EnsureGroup(const Stream& stream, const std::string& group) {
  {
    // Known groups (every poll after the first) cost no index read.
    std::lock_guard lock(group_names_mu_);
    auto names = GroupNamesOf(stream);
    if (!names.ok()) return names.status();
    if ((*names)->contains(group)) return Status::Ok();
  }
  const std::string key = GroupKey(stream, group);
  std::lock_guard lock(GroupLock(key));
  auto pos = LoadPosition(engine_->index(), key);
  if (!pos.ok() || pos->has_value()) return pos.status();
  EF_RETURN_IF_ERROR(AdmitNewGroup(stream, group));
  return engine_->index().PutState(key, EncodePosition(GroupPosition{}));
}

void Api::ForgetGroup(const Stream& stream, const std::string& group) {
  std::lock_guard lock(group_names_mu_);
  auto it = group_names_.find(stream.manifest.stream_id.ToString());
  if (it != group_names_.end()) it->second.erase(group);
}

void Api::ForgetGroups(const Stream& stream) {
  std::lock_guard lock(group_names_mu_);
  group_names_.erase(stream.manifest.stream_id.ToString());
}

void Api::CommitOffset(Call& call, const std::string& ref, const std::string& group) {
  auto stream = FindGroupStream(call, ref, group);
  if (!stream) return;
  simdjson::dom::parser parser;
  simdjson::dom::object body;
  if (!ParseBody(call, parser, &body)) return;
  std::string_view id_text;
  if (body.size() != 1 || body["last_event_id"].get(id_text)) {
    return call.Fail({400, "invalid_request", "the body must be {\"last_event_id\": \"<uuid>\"}"});
  }
  auto id = Uuid::Parse(id_text);
  Offload(call, [this, stream, group, id](Call& call) {
    if (!id) return call.Fail({404, "event_not_found", "no such event"});
    auto loc = engine_->Lookup(call.key.org_id, *id);
    if (!loc.ok()) return call.Fail(FromStatus(loc.status()));
    if (!loc->has_value() || (*loc)->stream_id != stream->manifest.stream_id) {
      return call.Fail({404, "event_not_found", "no event " + id->ToString() + " in this stream"});
    }
    const std::string key = GroupKey(*stream, group);
    std::lock_guard lock(GroupLock(key));
    auto pos = LoadPosition(engine_->index(), key);
    if (!pos.ok()) return call.Fail(FromStatus(pos.status()));
    if (!pos->has_value()) {
      if (Status s = AdmitNewGroup(*stream, group); !s.ok()) return call.Fail(FromStatus(s));
    }
    GroupPosition p = pos->value_or(GroupPosition{});
    const uint64_t offset = (*loc)->offset;
    const Uuid& sid = stream->manifest.stream_id;
    auto records = deliveries_.Deliveries(sid, group);
    if (!records.ok()) return call.Fail(FromStatus(records.status()));
    const bool owed = std::any_of(records->begin(), records->end(), [&](const Delivery& d) {
      return d.offset == offset && d.Pending();
    });
    LogFields f = call.Fields();
    f.Add("group", group);
    if (p.committed && offset < *p.committed) {
      if (!owed) {
        return call.Fail({409, "offset_regression",
                          "offset " + std::to_string(offset) + " is below the committed " +
                              std::to_string(*p.committed) + "; use seek to rewind"});
      }
      // A redelivery below the position (nacked, or retried from the DLQ):
      // its commit settles it and leaves the position where it is.
      auto writes = deliveries_.SettleOnCommit(sid, group, *records, offset, *p.committed);
      if (Status s = engine_->index().ApplyState(writes); !s.ok()) return call.Fail(FromStatus(s));
      f.Add("offset", offset).Add("event_id", id->ToString());
      LogWith(spdlog::level::info, f, "redelivery committed");
      return call.Json(200, GroupJson(*stream, group, p));
    }
    p.committed = offset;
    p.last_event_id = id->ToString();
    p.updated_at_ms = timestamp::NowMs();
    // The position and the records it settles change in one write.
    auto writes = deliveries_.SettleOnCommit(sid, group, *records, offset, offset);
    writes.push_back({key, EncodePosition(p)});
    if (Status s = engine_->index().ApplyState(writes); !s.ok()) return call.Fail(FromStatus(s));
    f.Add("committed_offset", *p.committed).Add("last_event_id", p.last_event_id);
    LogWith(spdlog::level::info, f, "offset committed");
    call.Json(200, GroupJson(*stream, group, p));
  });
}

void Api::Seek(Call& call, const std::string& ref, const std::string& group) {
  auto stream = FindGroupStream(call, ref, group);
  if (!stream) return;
  simdjson::dom::parser parser;
  simdjson::dom::object body;
  if (!ParseBody(call, parser, &body)) return;
  if (body.size() != 1) {
    return call.Fail(
        {400, "invalid_request", "give exactly one of position, offset, event_id, timestamp"});
  }
  const uint64_t first = stream->log->first_offset();
  const uint64_t next = stream->log->committed_next();
  uint64_t target = 0;  // the next poll starts here
  auto [name, value] = *body.begin();
  std::string_view text;
  uint64_t n;
  if (name == "position" && !value.get(text) && (text == "earliest" || text == "latest")) {
    target = text == "earliest" ? first : next;
  } else if (name == "offset" && !value.get(n)) {
    target = std::clamp<uint64_t>(n, first, next);
  } else if (name == "event_id" && !value.get(text)) {
    auto id = Uuid::Parse(text);
    auto loc = id ? engine_->Lookup(call.key.org_id, *id)
                  : Result<std::optional<EventLocation>>(std::optional<EventLocation>());
    if (!loc.ok()) return call.Fail(FromStatus(loc.status()));
    if (!loc->has_value() || (*loc)->stream_id != stream->manifest.stream_id) {
      return call.Fail({404, "event_not_found", "no such event in this stream"});
    }
    target = (*loc)->offset;
  } else if (name == "timestamp" && !value.get(text) && timestamp::Parse(text)) {
    target = stream->log->FindTime(*timestamp::Parse(text));
  } else {
    return call.Fail({400, "invalid_request",
                      "seek takes {\"position\": \"earliest\"|\"latest\"}, {\"offset\": N}, "
                      "{\"event_id\": \"...\"} or {\"timestamp\": \"RFC 3339\"}"});
  }
  GroupPosition p;
  if (target > first) {
    p.committed = target - 1;
    p.last_event_id = EventIdAt(*stream, target - 1);
  }
  p.updated_at_ms = timestamp::NowMs();
  Offload(call, [this, stream, group, p](Call& call) {
    const std::string key = GroupKey(*stream, group);
    std::lock_guard lock(GroupLock(key));
    auto pos = LoadPosition(engine_->index(), key);
    if (!pos.ok()) return call.Fail(FromStatus(pos.status()));
    if (!pos->has_value()) {
      if (Status s = AdmitNewGroup(*stream, group); !s.ok()) return call.Fail(FromStatus(s));
    }
    if (Status s = engine_->index().PutState(key, EncodePosition(p)); !s.ok()) {
      return call.Fail(FromStatus(s));
    }
    LogFields f = call.Fields();
    f.Add("group", group).Add("last_event_id", p.last_event_id);
    if (p.committed) f.Add("committed_offset", *p.committed);
    LogWith(spdlog::level::info, f, "group position set by seek");
    call.Json(200, GroupJson(*stream, group, p));
  });
}

void Api::GetGroup(Call& call, const std::string& ref, const std::string& group) {
  auto stream = FindStream(call, ref);
  if (!stream) return;
  auto pos = LoadPosition(engine_->index(), GroupKey(*stream, group));
  if (!pos.ok()) return call.Fail(FromStatus(pos.status()));
  if (!pos->has_value()) return call.Fail({404, "group_not_found", "no group '" + group + "'"});
  call.Json(200, GroupJson(*stream, group, **pos));
}

void Api::ListGroups(Call& call, const std::string& ref) {
  auto stream = FindStream(call, ref);
  if (!stream) return;
  const std::string prefix = GroupKey(*stream, "");
  auto rows = engine_->index().ScanState(prefix);
  if (!rows.ok()) return call.Fail(FromStatus(rows.status()));
  std::string out = "{\"consumer_groups\":[";
  bool first = true;
  for (const auto& [key, value] : *rows) {
    auto pos = LoadPosition(engine_->index(), key);
    if (!pos.ok() || !pos->has_value()) continue;
    if (!first) out += ",";
    first = false;
    out += GroupJson(*stream, key.substr(prefix.size()), **pos);
  }
  out += "]}";
  call.Json(200, std::move(out));
}

void Api::DeleteGroup(Call& call, const std::string& ref, const std::string& group) {
  auto stream = FindStream(call, ref, StreamUse::kAnyState);
  if (!stream) return;
  Offload(call, [this, stream, group](Call& call) {
    const std::string key = GroupKey(*stream, group);
    std::lock_guard lock(GroupLock(key));  // not between a commit's read and write
    auto pos = LoadPosition(engine_->index(), key);
    if (!pos.ok()) return call.Fail(FromStatus(pos.status()));
    if (!pos->has_value()) return call.Fail({404, "group_not_found", "no group '" + group + "'"});
    // Its redeliveries and consumer-stage DLQ entries go first: a crash in
    // between leaves a group without them, never them without a group.
    if (Status s = deliveries_.DropGroup(stream->manifest.stream_id, group); !s.ok()) {
      return call.Fail(FromStatus(s));
    }
    if (Status s = engine_->index().DeleteState(key); !s.ok()) return call.Fail(FromStatus(s));
    ForgetGroup(*stream, group);
    LogFields f = call.Fields();
    f.Add("group", group);
    LogWith(spdlog::level::info, f, "consumer group deleted");
    HttpResponse res;
    res.result(boost::beast::http::status::no_content);
    call.Reply(std::move(res));
  });
}

std::vector<Api::GroupLag> Api::GroupLags() {
  std::vector<GroupLag> out;
  constexpr std::string_view kPrefix = "group/";
  auto rows = engine_->index().ScanState(std::string(kPrefix));
  if (!rows.ok()) return out;
  for (const auto& [key, value] : *rows) {
    // group/<stream_id>/<group_id>
    const std::string_view rest = std::string_view(key).substr(kPrefix.size());
    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos) continue;
    auto id = Uuid::Parse(rest.substr(0, slash));
    auto stream = id ? engine_->FindStream(*id) : nullptr;
    if (!stream || !stream->log) continue;
    auto pos = LoadPosition(engine_->index(), key);
    if (!pos.ok() || !pos->has_value()) continue;
    out.push_back({stream, std::string(rest.substr(slash + 1)), Lag(*stream, **pos)});
  }
  return out;
}

}  // namespace eventflow
