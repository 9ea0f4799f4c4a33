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

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) parts.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
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

void Api::Call::Reply(HttpResponse res) const {
  res.set("X-Correlation-ID", correlation_id);
  respond(std::move(res));
}

void Api::Handle(HttpRequest req, Respond respond) {
  Call call;
  auto cid = req["X-Correlation-ID"];
  call.correlation_id = ValidCorrelationId(std::string_view(cid.data(), cid.size()))
                            ? std::string(cid)
                            : Uuid::Random().ToString();
  call.respond = std::move(respond);
  const std::string_view target(req.target().data(), req.target().size());
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) call.query = std::string(target.substr(q + 1));
  call.req = std::move(req);

  if (path == "/healthz" && call.req.method() == http::verb::get) {
    return call.Json(200, R"({"status":"ok"})");
  }
  if (path == "/readyz" && call.req.method() == http::verb::get) {
    std::string reasons;
    for (const auto& s : engine_->ListStreams()) {
      if (!s->writer) continue;
      std::string why;
      if (!s->writer->healthy()) why = "writer recovering from a storage error";
      if (const uint64_t n = s->writer->stats().unindexed.load()) {
        why = "event index failing, " + std::to_string(n) + " events wait to be indexed";
      }
      if (why.empty()) continue;
      reasons += reasons.empty() ? "[" : ",";
      reasons += "{\"stream_id\":\"" + s->manifest.stream_id.ToString() +
                 "\",\"reason\":" + json::Quote(why) + "}";
    }
    if (!reasons.empty()) {
      return call.Json(503, R"({"status":"not_ready","streams":)" + reasons + "]}");
    }
    return call.Json(200, R"({"status":"ready"})");
  }
  constexpr std::string_view kPrefix = "/api/v1/";
  if (!path.starts_with(kPrefix)) {
    return call.Fail({404, "not_found", "no such route"});
  }
  auto secret = call.req["X-API-Key"];
  auto key = keys_->Authenticate(std::string_view(secret.data(), secret.size()));
  if (!key) return call.Fail({401, "unauthorized", "missing or unknown X-API-Key"});
  call.key = std::move(*key);
  if (auto wait = keys_->Throttle(call.key)) {
    HttpResponse res = ErrorResponse({429, "rate_limited", "rate limit exceeded for this key"});
    res.set(http::field::retry_after, std::to_string(*wait));
    return call.Reply(std::move(res));
  }
  call.path = SplitPath(path.substr(kPrefix.size()));
  Route(call);
}

void Api::Route(Call& call) {
  const auto& p = call.path;
  const auto m = call.req.method();
  const size_t n = p.size();
  if (n >= 2 && p[0] == "admin" && p[1] == "api-keys") {
    if (!call.key.admin) return call.Fail({403, "forbidden", "an admin key is needed"});
    if (n == 2 && m == http::verb::post) return CreateKey(call);
    if (n == 2 && m == http::verb::get) return ListKeys(call);
    if (n == 3 && m == http::verb::delete_) return RevokeKey(call, p[2]);
  } else if (n == 2 && p[0] == "admin" && p[1] == "compact" && m == http::verb::post) {
    if (!call.key.admin) return call.Fail({403, "forbidden", "an admin key is needed"});
    return AdminCompact(call);
  } else if (n >= 1 && p[0] == "streams") {
    if (n == 1 && m == http::verb::post) return CreateStream(call);
    if (n == 1 && m == http::verb::get) return ListStreams(call);
    if (n == 2 && m == http::verb::get) return GetStream(call, p[1]);
    if (n == 2 && m == http::verb::patch) return PatchStream(call, p[1]);
    if (n == 2 && m == http::verb::delete_) return DeleteStream(call, p[1]);
    if (n == 3 && p[2] == "events" && m == http::verb::post) return Produce(call, p[1], false);
    if (n == 3 && p[2] == "events" && m == http::verb::get) return Replay(call, p[1]);
    if (n == 4 && p[2] == "events" && p[3] == "batch" && m == http::verb::post) {
      return Produce(call, p[1], true);
    }
    if (n == 4 && p[2] == "events" && m == http::verb::get) return GetEvent(call, p[1], p[3]);
    if (n >= 3 && p[2] == "consumer-groups") {
      if (n == 3 && m == http::verb::get) return ListGroups(call, p[1]);
      if (n == 4 && m == http::verb::get) return GetGroup(call, p[1], p[3]);
      if (n == 4 && m == http::verb::delete_) return DeleteGroup(call, p[1], p[3]);
      if (n == 5 && p[4] == "events" && m == http::verb::get) return Poll(call, p[1], p[3]);
      if (n == 5 && p[4] == "offsets" && m == http::verb::post) {
        return CommitOffset(call, p[1], p[3]);
      }
      if (n == 5 && p[4] == "seek" && m == http::verb::post) return Seek(call, p[1], p[3]);
    }
  }
  call.Fail({404, "not_found", "no such route"});
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

std::shared_ptr<Stream> Api::FindStream(const Call& call, const std::string& ref) {
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
  return s;
}

}  // namespace eventflow
