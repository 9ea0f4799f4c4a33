#include "net/api.h"

#include <algorithm>
#include <array>

#include <unordered_set>

#include "formats/json_writer.h"
#include "formats/uuid.h"

namespace eventflow {

namespace http = boost::beast::http;

namespace {

bool ValidCorrelationId(std::string_view v) {
  if (v.empty() || v.size() > 128) return false;
  for (char c : v) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

std::optional<std::string> CheckShape(simdjson::dom::element e, int depth, int max_depth) {
  using simdjson::dom::element_type;
  if (depth > max_depth) {
    return "JSON nesting is deeper than " + std::to_string(max_depth) + " levels";
  }
  if (e.type() == element_type::ARRAY) {
    for (simdjson::dom::element child : simdjson::dom::array(e)) {
      if (auto err = CheckShape(child, depth + 1, max_depth)) return err;
    }
  } else if (e.type() == element_type::OBJECT) {
    simdjson::dom::object obj(e);
    // Most objects are small: compare keys pairwise below kHashFrom members
    // (no allocation), hash them above.
    constexpr size_t kHashFrom = 16;
    std::unordered_set<std::string_view> seen;
    std::array<std::string_view, kHashFrom> few;
    size_t n = 0;
    const bool hash = obj.size() >= kHashFrom;
    for (auto field : obj) {
      bool repeated;
      if (hash) {
        repeated = !seen.insert(field.key).second;
      } else {
        repeated = std::find(few.begin(), few.begin() + n, field.key) != few.begin() + n;
        few[n++] = field.key;
      }
      if (repeated) return "duplicate key \"" + std::string(field.key) + "\" in a JSON object";
      if (auto err = CheckShape(field.value, depth + 1, max_depth)) return err;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> CheckJsonShape(simdjson::dom::element e, int max_depth) {
  return CheckShape(e, 1, max_depth);
}

LogFields Api::Call::Fields() const {
  LogFields f;
  f.Add("correlation_id", correlation_id)
      .Add("trace_id", trace.trace_id)
      .Add("span_id", trace.span_id)
      .Add("api_key_id", key.id)
      .Add("stream", stream_ref)
      .Add("route", RouteName(route));
  return f;
}

void Api::Call::Reply(HttpResponse res) const {
  res.set("X-Correlation-ID", correlation_id);
  res.set("traceparent", trace.Traceparent());
  const int status = static_cast<int>(res.result_int());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (metrics != nullptr) metrics->OnRequest(route, status, seconds);
  // One line per request: at debug, so the hot path stays quiet at info;
  // server errors at warn.
  const auto level = status >= 500 ? spdlog::level::warn : spdlog::level::debug;
  if (spdlog::should_log(level)) {
    LogFields f = Fields();
    f.Add("status", status).Add("latency_ms", seconds * 1000);
    LogWith(level, f, "request completed");
  }
  respond(std::move(res));
}

uint64_t Api::BodyLimitOf(Route route) const {
  switch (FactsOf(route).body) {
    case BodyLimit::kSmall:
      return 64 * 1024;
    case BodyLimit::kSettings:
      return 1u << 20;
    case BodyLimit::kEvent:
      return options_.max_event_bytes + 64 * 1024;
    case BodyLimit::kBatch:
      return options_.max_batch_bytes;
  }
  return 64 * 1024;
}

Admission Api::Admit(const HttpRequestHeader& req, Listener listener) {
  Call call;
  call.start = std::chrono::steady_clock::now();
  auto cid = req["X-Correlation-ID"];
  call.correlation_id = ValidCorrelationId(std::string_view(cid.data(), cid.size()))
                            ? std::string(cid)
                            : Uuid::Random().ToString();
  auto tp = req["traceparent"];
  call.trace = TraceContext::ForRequest(std::string_view(tp.data(), tp.size()));
  call.metrics = metrics_.get();
  const std::string_view target(req.target().data(), req.target().size());
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) call.query = std::string(target.substr(q + 1));
  RouteMatch match = MatchRoute(req.method(), path);
  // The metrics listener serves /metrics alone; the API listener serves it
  // unless it has a listener of its own. Anything else is 404 there.
  const bool metrics_here = listener == Listener::kMetrics || !options_.metrics_listener_apart;
  if (match.route == Route::kMetrics ? !metrics_here : listener == Listener::kMetrics) {
    match = RouteMatch{};
  }
  call.route = match.route;
  call.stream_ref = match.stream;
  if (spdlog::should_log(spdlog::level::debug)) {
    LogFields f = call.Fields();
    f.Add("method", std::string_view(req.method_string().data(), req.method_string().size()));
    LogWith(spdlog::level::debug, f, "request received");
  }
  Admission admission;
  admission.body_limit = BodyLimitOf(match.route);
  // A request without a valid key is answered before its body is read: a
  // client without one cannot make the server buffer anything.
  if (match.route == Route::kUnmatched ? match.api : FactsOf(match.route).needs_key) {
    auto secret = req["X-API-Key"];
    auto key = keys_->Authenticate(std::string_view(secret.data(), secret.size()));
    if (!key) {
      call.respond = [&admission](HttpResponse res) { admission.refusal = std::move(res); };
      call.Fail({401, "unauthorized", "missing or unknown X-API-Key"});
      return admission;
    }
    call.key = std::move(*key);
    if (auto refusal = CheckScope(call.key, FactsOf(match.route))) {
      call.respond = [&admission](HttpResponse res) { admission.refusal = std::move(res); };
      call.Fail(*refusal);
      return admission;
    }
  }
  admission.handle = [this, call = std::move(call), match = std::move(match)](
                         HttpRequest req, Respond respond) mutable {
    call.req = std::move(req);
    call.respond = std::move(respond);
    Handle(call, match);
  };
  return admission;
}

std::optional<ApiError> Api::CheckScope(const ApiKey& key, const RouteFacts& facts) {
  static_assert(static_cast<uint8_t>(NeedsScope::kProduce) == kScopeProduce &&
                static_cast<uint8_t>(NeedsScope::kConsume) == kScopeConsume &&
                static_cast<uint8_t>(NeedsScope::kManage) == kScopeManage &&
                static_cast<uint8_t>(NeedsScope::kAnyOne) == kAllScopes);
  if (facts.admin && !key.admin) return ApiError{403, "forbidden", "an admin key is needed"};
  const auto taken = static_cast<uint8_t>(facts.scope);
  if ((key.scopes & taken) != 0) return std::nullopt;  // kAnyOne: every stored key
  return ApiError{403, "forbidden",
                  "this key lacks the \"" + std::string(ScopeName(static_cast<KeyScope>(taken))) +
                      "\" scope; its scopes are " + ScopesJson(key.scopes)};
}

void Api::Handle(Call& call, const RouteMatch& match) {
  switch (match.route) {
    case Route::kHealthz:
      return call.Json(200, R"({"status":"ok"})");
    case Route::kReadyz:
      return Ready(call);
    case Route::kMetrics:
      return ServeMetrics(call);
    default:
      break;
  }
  if (!match.api) return call.Fail({404, "not_found", "no such route"});
  if (auto wait = keys_->Throttle(call.key)) {
    if (metrics_) metrics_->OnRateLimited();
    HttpResponse res = ErrorResponse({429, "rate_limited", "rate limit exceeded for this key"});
    res.set(http::field::retry_after, std::to_string(*wait));
    return call.Reply(std::move(res));
  }
  Dispatch(call, match);
}

void Api::Dispatch(Call& call, const RouteMatch& m) {
  switch (m.route) {
    case Route::kCreateKey:
      return CreateKey(call);
    case Route::kListKeys:
      return ListKeys(call);
    case Route::kRevokeKey:
      return RevokeKey(call, m.id);
    case Route::kAdminCompact:
      return AdminCompact(call);
    case Route::kWhoami:
      return Whoami(call);
    case Route::kCreateStream:
      return CreateStream(call);
    case Route::kListStreams:
      return ListStreams(call);
    case Route::kGetStream:
      return GetStream(call, m.stream);
    case Route::kPatchStream:
      return PatchStream(call, m.stream);
    case Route::kDeleteStream:
      return DeleteStream(call, m.stream);
    case Route::kProduce:
      return Produce(call, m.stream, false);
    case Route::kProduceBatch:
      return Produce(call, m.stream, true);
    case Route::kReplay:
      return Replay(call, m.stream);
    case Route::kGetEvent:
      return GetEvent(call, m.stream, m.id);
    case Route::kListGroups:
      return ListGroups(call, m.stream);
    case Route::kGetGroup:
      return GetGroup(call, m.stream, m.group);
    case Route::kDeleteGroup:
      return DeleteGroup(call, m.stream, m.group);
    case Route::kPoll:
      return Poll(call, m.stream, m.group);
    case Route::kCommitOffset:
      return CommitOffset(call, m.stream, m.group);
    case Route::kSeek:
      return Seek(call, m.stream, m.group);
    case Route::kNack:
      return Nack(call, m.stream, m.group);
    case Route::kListDlq:
      return ListDlq(call, m.stream);
    case Route::kRetryDlq:
      return RetryDlq(call, m.stream, m.id);
    case Route::kDiscardDlq:
      return DiscardDlq(call, m.stream, m.id);
    default:
      return call.Fail({404, "not_found", "no such route"});
  }
}

bool Api::ParseBody(const Call& call, simdjson::dom::parser& parser, simdjson::dom::object* out) {
  if (!CheckJsonContentType(call)) return false;
  simdjson::dom::element root;
  if (auto err = parser.parse(call.req.body()).get(root); err) {
    call.Fail({400, "invalid_json",
               std::string("the body is not valid JSON: ") + simdjson::error_message(err)});
    return false;
  }
  if (auto shape = CheckJsonShape(root)) {
    call.Fail({400, "invalid_json", *shape});
    return false;
  }
  if (root.get(*out)) {
    call.Fail({400, "invalid_request", "the body must be a JSON object"});
    return false;
  }
  return true;
}

std::shared_ptr<Stream> Api::FindStream(const Call& call, const std::string& ref, StreamUse use) {
  std::shared_ptr<Stream> s;
  if (auto id = Uuid::Parse(ref)) {
    s = engine_->FindStream(*id);
  } else {
    s = engine_->FindStreamByName(call.key.org_id, ref);
  }
  // Another org's stream is "not found": never reveal that it exists.
  if (!s || s->manifest.org_id != call.key.org_id) {
    call.Fail({404, "stream_not_found", "no stream '" + ref + "'"});
    return nullptr;
  }
  if (use == StreamUse::kServed && !s->log) {
    call.Fail(FromStatus(Status::Unavailable("stream is not served: " + s->open_status.message())));
    return nullptr;
  }
  return s;
}

std::shared_ptr<Stream> Api::FindGroupStream(const Call& call, const std::string& ref,
                                             const std::string& group) {
  auto stream = FindStream(call, ref);
  if (!stream) return nullptr;
  if (!ValidName(group)) {
    call.Fail({400, "invalid_request", "bad group_id"});
    return nullptr;
  }
  return stream;
}

}  // namespace eventflow
