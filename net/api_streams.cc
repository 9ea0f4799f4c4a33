// Api handlers for /api/v1/streams: create, list, get (with stats), delete.
#include "formats/json_writer.h"
#include "formats/timestamp.h"
#include "net/api.h"
#include "net/stream_settings.h"

namespace eventflow {

namespace {

std::string StreamJson(const Stream& s, bool with_stats) {
  const Manifest& m = s.manifest;
  std::string out = "{\"stream_id\":\"" + m.stream_id.ToString() + "\",\"name\":";
  json::AppendString(&out, m.name);
  out += ",\"org_id\":";
  json::AppendString(&out, m.org_id);
  out += ",\"created_at\":\"" + timestamp::Format(m.created_at_ms) + "\"";
  out += StreamSettings::FromManifestJson(m.settings_json).ToJsonMembers();
  if (with_stats) {
    if (s.log) {
      const uint64_t next = s.log->committed_next();
      const uint64_t first = s.log->first_offset();
      const bool empty = first >= next;
      out += ",\"event_count\":" + std::to_string(empty ? 0 : next - first);
      out += ",\"first_offset\":" + (empty ? std::string("null") : std::to_string(first));
      out += ",\"last_offset\":" + (empty ? std::string("null") : std::to_string(next - 1));
      out += ",\"bytes\":" + std::to_string(s.log->bytes());
      out += ",\"segments\":" + std::to_string(s.log->segments()->size());
    } else {
      out += ",\"status\":\"unavailable\",\"reason\":";
      json::AppendString(&out, s.open_status.message());
    }
  }
  out += "}";
  return out;
}

}  // namespace

void Api::CreateStream(Call& call) {
  simdjson::dom::parser parser;
  simdjson::dom::object body;
  if (!ParseBody(call, parser, &body)) return;
  std::string_view name;
  if (body["name"].get(name) || !ValidName(name)) {
    return call.Fail(
        {400, "invalid_stream",
         "name is required: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}, not shaped like a UUID"});
  }
  StreamSettings settings;
  if (auto err = StreamSettings::FromRequest(body, &settings)) return call.Fail(*err);
  const std::string members = settings.ToJsonMembers();
  auto made =
      engine_->CreateStream(call.key.org_id, std::string(name), "{" + members.substr(1) + "}");
  if (!made.ok()) {
    if (made.status().code() == Status::Code::kAlreadyExists) {
      return call.Fail({409, "stream_exists", "a stream named '" + std::string(name) + "' exists"});
    }
    return call.Fail(FromStatus(made.status()));
  }
  call.Json(201, StreamJson(**made, false));
}

void Api::ListStreams(Call& call) {
  auto streams = engine_->ListStreams();
  std::sort(streams.begin(), streams.end(), [](const auto& a, const auto& b) {
    return a->manifest.created_at_ms < b->manifest.created_at_ms;
  });
  std::string out = "{\"streams\":[";
  bool first = true;
  for (const auto& s : streams) {
    if (s->manifest.org_id != call.key.org_id) continue;
    if (!first) out += ",";
    first = false;
    out += StreamJson(*s, false);
  }
  out += "]}";
  call.Json(200, std::move(out));
}

void Api::GetStream(Call& call, const std::string& ref) {
  auto s = FindStream(call, ref);
  if (!s) return;
  call.Json(200, StreamJson(*s, true));
}

void Api::DeleteStream(Call& call, const std::string& ref) {
  auto s = FindStream(call, ref);
  if (!s) return;
  Status st = engine_->DeleteStream(s->manifest.stream_id);
  if (!st.ok() && !st.IsNotFound()) return call.Fail(FromStatus(st));
  HttpResponse res;
  res.result(boost::beast::http::status::no_content);
  call.Reply(std::move(res));
}

}  // namespace eventflow
