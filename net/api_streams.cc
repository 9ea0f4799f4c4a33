// Api handlers for /api/v1/streams: create, list, get (with stats), patch,
// delete, and the per-stream settings cache.
#include <spdlog/spdlog.h>

#include "formats/json_writer.h"
#include "formats/timestamp.h"
#include "net/api.h"
#include "net/cleanup_runner.h"
#include "net/group_position.h"
#include "net/stream_settings.h"

namespace eventflow {

namespace {

std::string StreamJson(const Stream& s, const StreamSettings& settings, bool with_stats) {
  const Manifest& m = s.manifest;
  std::string out = "{\"stream_id\":\"" + m.stream_id.ToString() + "\",\"name\":";
  json::AppendString(&out, m.name);
  out += ",\"org_id\":";
  json::AppendString(&out, m.org_id);
  out += ",\"created_at\":\"" + timestamp::Format(m.created_at_ms) + "\"";
  out += settings.ToJsonMembers();
  if (!settings.warnings.empty()) {
    out += ",\"warnings\":[";
    for (size_t i = 0; i < settings.warnings.size(); ++i) {
      if (i > 0) out += ',';
      json::AppendString(&out, settings.warnings[i]);
    }
    out += "]";
  }
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

Api::StreamCache Api::CacheOf(Stream& stream) {
  const Uuid& id = stream.manifest.stream_id;
  {
    std::shared_lock lock(settings_mu_);
    if (auto it = settings_.find(id); it != settings_.end() && (it->second.metrics || !metrics_)) {
      return it->second;
    }
  }
  // Compiled outside the lock; if another thread got there first, its copy
  // (possibly a PATCH's newer one) wins.
  std::vector<std::string> clamped;
  auto built = std::make_shared<const StreamSettings>(
      StreamSettings::FromManifestJson(stream.settings_json(), &clamped));
  for (const std::string& what : clamped) {
    spdlog::warn("stream {}: stored setting {} (out of its range)", id.ToString(), what);
  }
  for (const std::string& what : built->warnings) {
    spdlog::warn("stream {}: {}", id.ToString(), what);
  }
  std::unique_lock lock(settings_mu_);
  StreamCache& entry = settings_[id];
  if (!entry.settings) entry.settings = std::move(built);
  if (!entry.metrics && metrics_) entry.metrics = metrics_->Attach(stream);
  return entry;
}

void Api::CreateStream(Call& call) {
  simdjson::dom::parser parser;
  simdjson::dom::object body;
  if (!ParseBody(call, parser, &body)) return;
  std::string_view name_view;
  if (body["name"].get(name_view) || !ValidName(name_view)) {
    return call.Fail(
        {400, "invalid_stream",
         "name is required: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}, not shaped like a UUID"});
  }
  auto settings = std::make_shared<StreamSettings>();
  if (auto err = StreamSettings::FromRequest(body, settings.get())) return call.Fail(*err);
  Offload(call, [this, name = std::string(name_view), settings](Call& call) {
    const std::string members = settings->ToJsonMembers();
    auto made = engine_->CreateStream(call.key.org_id, name, "{" + members.substr(1) + "}");
    if (!made.ok()) {
      if (made.status().code() == Status::Code::kAlreadyExists) {
        return call.Fail({409, "stream_exists", "a stream named '" + name + "' exists"});
      }
      return call.Fail(FromStatus(made.status()));
    }
    {
      std::unique_lock lock(settings_mu_);
      StreamCache& entry = settings_[(*made)->manifest.stream_id];
      entry.settings = settings;
      if (metrics_) entry.metrics = metrics_->Attach(**made);
    }
    if (Status st = ConfigureProcessing(*made, *settings, true); !st.ok()) {
      return call.Fail(FromStatus(st));
    }
    call.stream_ref = name;
    LogFields f = call.Fields();
    f.Add("stream_id", (*made)->manifest.stream_id.ToString());
    LogWith(spdlog::level::info, f, "stream created");
    call.Json(201, StreamJson(**made, *settings, false));
  });
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
    out += StreamJson(*s, *SettingsOf(*s), false);
  }
  out += "]}";
  call.Json(200, std::move(out));
}

void Api::GetStream(Call& call, const std::string& ref) {
  auto s = FindStream(call, ref, StreamUse::kAnyState);
  if (!s) return;
  call.Json(200, StreamJson(*s, *SettingsOf(*s), true));
}

void Api::PatchStream(Call& call, const std::string& ref) {
  auto s = FindStream(call, ref);
  if (!s) return;
  // Parsed, compiled and applied once, over the settings current under
  // patch_mu_, so two concurrent patches both count.
  Offload(call, [this, s](Call& call) {
    simdjson::dom::parser parser;
    simdjson::dom::object patch;
    if (!ParseBody(call, parser, &patch)) return;
    simdjson::dom::element ignored;
    if (!patch["name"].get(ignored)) {
      return call.Fail({400, "invalid_stream", "a stream's name cannot be changed"});
    }
    std::lock_guard patch_lock(patch_mu_);
    auto next = std::make_shared<StreamSettings>(*SettingsOf(*s));
    if (auto err = StreamSettings::FromRequest(patch, next.get())) return call.Fail(*err);
    // The processor first: its frontier is durable before the manifest
    // names the rules, so a crash between the two never lets events pass
    // unprocessed. New rules apply from the next unprocessed offset.
    const std::shared_ptr<const StreamSettings> before = SettingsOf(*s);
    if (Status st = ConfigureProcessing(s, *next, false); !st.ok()) {
      return call.Fail(FromStatus(st));
    }
    const std::string members = next->ToJsonMembers();
    if (Status st =
            engine_->UpdateStreamSettings(s->manifest.stream_id, "{" + members.substr(1) + "}");
        !st.ok()) {
      (void)ConfigureProcessing(s, *before, false);  // back to the rules still in force
      if (st.IsNotFound()) return call.Fail({404, "stream_not_found", st.message()});
      return call.Fail(FromStatus(st));
    }
    {
      std::unique_lock lock(settings_mu_);
      settings_[s->manifest.stream_id].settings = next;
    }
    LogWith(spdlog::level::info, call.Fields(), "stream settings changed");
    call.Json(200, StreamJson(*s, *next, true));
  });
}

void Api::DeleteStream(Call& call, const std::string& ref) {
  auto s = FindStream(call, ref, StreamUse::kAnyState);
  if (!s) return;
  Offload(call, [this, s](Call& call) {
    Status st = engine_->DeleteStream(s->manifest.stream_id);
    if (!st.ok() && !st.IsNotFound()) return call.Fail(FromStatus(st));
    // Its processed view, group positions, redeliveries and DLQ entries go
    // with it.
    if (st = processor_->Drop(s->manifest.stream_id); !st.ok()) return call.Fail(FromStatus(st));
    if (st = deliveries_.DropStream(s->manifest.stream_id); !st.ok()) {
      return call.Fail(FromStatus(st));
    }
    if (st = DropGroupPositions(engine_->index(), *s); !st.ok()) return call.Fail(FromStatus(st));
    scan_hints_.ForgetPrefix(GroupKey(*s, ""));
    ForgetGroups(*s);
    {
      std::unique_lock lock(settings_mu_);
      settings_.erase(s->manifest.stream_id);
    }
    if (metrics_) metrics_->Detach(*s);  // its writer and processing have stopped
    LogFields f = call.Fields();
    f.Add("stream_id", s->manifest.stream_id.ToString());
    LogWith(spdlog::level::info, f, "stream deleted");
    HttpResponse res;
    res.result(boost::beast::http::status::no_content);
    call.Reply(std::move(res));
  });
}

void Api::AdminCompact(Call& call) {
  std::vector<std::shared_ptr<Stream>> streams;
  if (!call.req.body().empty()) {
    simdjson::dom::parser parser;
    simdjson::dom::object body;
    if (!ParseBody(call, parser, &body)) return;
    for (auto [k, v] : body) {
      std::string_view ref;
      if (k != "stream_id") {
        return call.Fail({400, "invalid_request", "unknown field " + std::string(k)});
      }
      if (v.is_null()) continue;
      if (v.get(ref)) return call.Fail({400, "invalid_request", "stream_id must be a string"});
      auto stream = FindStream(call, std::string(ref));
      if (!stream) return;
      streams.push_back(std::move(stream));
    }
  }
  if (streams.empty()) {
    for (auto& s : engine_->ListStreams()) {
      if (s->manifest.org_id == call.key.org_id) streams.push_back(std::move(s));
    }
  }
  // Rewriting segments reads and fsyncs whole files: off the io threads.
  Offload(call, [this, streams = std::move(streams)](Call& call) {
    std::string out = "{\"results\":[";
    for (const StreamCleanup& r : CleanUpStreams(*engine_, streams, timestamp::NowMs())) {
      if (out.back() != '[') out += ",";
      out += StreamCleanupJson(r);
    }
    out += "]}";
    call.Json(200, std::move(out));
  });
}

}  // namespace eventflow
