// Api handlers for consumer groups: poll (with long-poll), commit, seek,
// get, list, delete. A group's position lives in the index's durable state
// ("group/<stream_id>/<group_id>"), written with sync on the blocking pool.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <mutex>

#include "formats/json_writer.h"
#include "formats/timestamp.h"
#include "net/api.h"
#include "net/query.h"
#include "net/stream_settings.h"

namespace eventflow {

namespace asio = boost::asio;

namespace {

struct GroupPosition {
  std::optional<uint64_t> committed;  // offset of the last committed event
  std::string last_event_id;          // empty: none
  int64_t updated_at_ms = 0;
};

std::string GroupKey(const Stream& s, std::string_view group) {
  return "group/" + s.manifest.stream_id.ToString() + "/" + std::string(group);
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

// Events the group has not committed yet (the contract's lag).
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

// One parked poll: answered once, by the frontier moving, the timeout, or
// shutdown, whichever comes first.
struct ParkedPoll {
  std::shared_ptr<void> call;  // keeps the request alive
  std::function<void()> answer;
  asio::steady_timer timer;
  CommitWaiters::Token token = 0;
  std::once_flag once;
  explicit ParkedPoll(asio::any_io_executor ex) : timer(std::move(ex)) {}
};

}  // namespace

void Api::Poll(Call& call, const std::string& ref, const std::string& group) {
  auto stream = FindStream(call, ref);
  if (!stream) return;
  if (!ValidName(group)) return call.Fail({400, "invalid_request", "bad group_id"});
  if (!stream->log) return call.Fail(FromStatus(Status::Unavailable("stream is not served")));
  bool bad = false;
  auto limit = IntParam(call.query, "limit", 100, 1, 10000, &bad);
  auto timeout = IntParam(call.query, "timeout", 0, 0, 60000, &bad);
  auto max_bytes = IntParam(call.query, "max_bytes", 16 << 20, 1, 64 << 20, &bad);
  if (bad) {
    return call.Fail({400, "invalid_request",
                      "limit must be 1..10000, timeout 0..60000 ms, max_bytes 1..67108864"});
  }
  auto pos = LoadPosition(engine_->index(), GroupKey(*stream, group));
  if (!pos.ok()) return call.Fail(FromStatus(pos.status()));
  const GroupPosition p = pos->value_or(GroupPosition{});
  // Retention may have removed events after the position: start at the
  // earliest retained one.
  const uint64_t start = std::max(p.committed ? *p.committed + 1 : 0, stream->log->first_offset());

  auto shared = std::make_shared<Call>(std::move(call));
  auto answer = [shared, stream, group, p, start, limit = *limit, max_bytes = *max_bytes] {
    // The events are copied once, straight into the answer; only the last
    // one's id is read (it is the next_offset).
    std::string out;
    out.reserve(static_cast<size_t>(std::min<int64_t>(max_bytes, limit * 512)) + 256);
    out = "{\"events\":[";
    const size_t first_at = out.size();
    size_t last_at = 0, last_size = 0;
    int64_t n = 0;
    Status s = stream->log->Read(start, [&](const RecordView& r) {
      const size_t so_far = out.size() - first_at;
      if (n > 0 && static_cast<int64_t>(so_far + r.payload.size()) > max_bytes) return false;
      if (n > 0) out += ",";
      last_at = out.size();
      last_size = r.payload.size();
      out.append(r.payload);
      return ++n < limit;
    });
    if (!s.ok()) return shared->Fail(FromStatus(s));
    std::string last_id = p.last_event_id;
    if (n > 0) {
      if (auto id = PeekEventId(std::string_view(out).substr(last_at, last_size))) {
        last_id = id->ToString();
      }
    }
    out += "],\"next_offset\":";
    out += last_id.empty() ? std::string("null") : json::Quote(last_id);
    out += ",\"lag\":" + std::to_string(Lag(*stream, p)) + "}";
    shared->Json(200, std::move(out));
  };
  if (*timeout == 0 || start < stream->log->committed_next()) return answer();

  auto parked = std::make_shared<ParkedPoll>(asio::make_strand(timers_));
  parked->answer = std::move(answer);
  Metrics* metrics = shared->metrics;
  if (metrics) metrics->OnPollParked();
  auto finish = [parked, metrics] {
    std::call_once(parked->once, [&] {
      if (metrics) metrics->OnPollUnparked();
      parked->answer();
      asio::post(parked->timer.get_executor(), [parked] { parked->timer.cancel(); });
    });
  };
  // Woken, cancelled by the timer, or shut down: answer with what exists.
  // The token is set before the timer is armed, so the timer reads it safely.
  parked->token = stream->log->waiters().Wait(start, [finish](bool) { finish(); });
  // The timer is only touched on its strand.
  asio::post(parked->timer.get_executor(), [parked, stream, ms = *timeout] {
    parked->timer.expires_after(std::chrono::milliseconds(ms));
    parked->timer.async_wait([parked, stream](boost::system::error_code ec) {
      if (ec) return;  // cancelled: already answered
      // The waiter's callback answers (with what there is: nothing).
      stream->log->waiters().Cancel(parked->token);
    });
  });
}

void Api::CommitOffset(Call& call, const std::string& ref, const std::string& group) {
  auto stream = FindStream(call, ref);
  if (!stream) return;
  if (!ValidName(group)) return call.Fail({400, "invalid_request", "bad group_id"});
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
    GroupPosition p = pos->value_or(GroupPosition{});
    if (p.committed && (*loc)->offset < *p.committed) {
      return call.Fail({409, "offset_regression",
                        "offset " + std::to_string((*loc)->offset) + " is below the committed " +
                            std::to_string(*p.committed) + "; use seek to rewind"});
    }
    p.committed = (*loc)->offset;
    p.last_event_id = id->ToString();
    p.updated_at_ms = timestamp::NowMs();
    if (Status s = engine_->index().PutState(key, EncodePosition(p)); !s.ok()) {
      return call.Fail(FromStatus(s));
    }
    LogFields f = call.Fields();
    f.Add("group", group)
        .Add("committed_offset", *p.committed)
        .Add("last_event_id", p.last_event_id);
    LogWith(spdlog::level::info, f, "offset committed");
    call.Json(200, GroupJson(*stream, group, p));
  });
}

void Api::Seek(Call& call, const std::string& ref, const std::string& group) {
  auto stream = FindStream(call, ref);
  if (!stream) return;
  if (!ValidName(group)) return call.Fail({400, "invalid_request", "bad group_id"});
  if (!stream->log) return call.Fail(FromStatus(Status::Unavailable("stream is not served")));
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
  if (!stream->log) return call.Fail(FromStatus(Status::Unavailable("stream is not served")));
  auto pos = LoadPosition(engine_->index(), GroupKey(*stream, group));
  if (!pos.ok()) return call.Fail(FromStatus(pos.status()));
  if (!pos->has_value()) return call.Fail({404, "group_not_found", "no group '" + group + "'"});
  call.Json(200, GroupJson(*stream, group, **pos));
}

void Api::ListGroups(Call& call, const std::string& ref) {
  auto stream = FindStream(call, ref);
  if (!stream) return;
  if (!stream->log) return call.Fail(FromStatus(Status::Unavailable("stream is not served")));
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
  auto stream = FindStream(call, ref);
  if (!stream) return;
  Offload(call, [this, stream, group](Call& call) {
    const std::string key = GroupKey(*stream, group);
    std::lock_guard lock(GroupLock(key));  // not between a commit's read and write
    auto pos = LoadPosition(engine_->index(), key);
    if (!pos.ok()) return call.Fail(FromStatus(pos.status()));
    if (!pos->has_value()) return call.Fail({404, "group_not_found", "no group '" + group + "'"});
    if (Status s = engine_->index().DeleteState(key); !s.ok()) return call.Fail(FromStatus(s));
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
