#include "net/cleanup_runner.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "formats/json_writer.h"
#include "formats/saturating.h"
#include "formats/timestamp.h"

namespace eventflow {

CleanupPolicy CleanupPolicyOf(const StreamSettings& settings) {
  CleanupPolicy p;
  if (settings.retention_max_age_s)
    p.max_age_ms = SaturatingMul(*settings.retention_max_age_s, 1000);
  if (settings.retention_max_bytes) {
    p.max_bytes = static_cast<uint64_t>(*settings.retention_max_bytes);
  }
  p.compact = settings.cleanup_policy == "compact";
  return p;
}

std::vector<StreamCleanup> CleanUpStreams(Engine& engine,
                                          const std::vector<std::shared_ptr<Stream>>& streams,
                                          int64_t now_ms) {
  std::vector<StreamCleanup> out;
  for (const auto& stream : streams) {
    StreamCleanup r;
    r.stream = stream;
    const auto started = std::chrono::steady_clock::now();
    const CleanupPolicy policy =
        CleanupPolicyOf(StreamSettings::FromManifestJson(stream->settings_json()));
    if (policy.max_age_ms || policy.max_bytes || policy.compact) {
      r.status = engine.CleanUp(stream, policy, now_ms, &r.report);
    }
    r.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - started)
                       .count();
    out.push_back(std::move(r));
  }
  return out;
}

std::string StreamCleanupJson(const StreamCleanup& r) {
  const CleanupReport& c = r.report;
  std::string out = "{\"stream_id\":\"" + r.stream->manifest.stream_id.ToString() +
                    "\",\"name\":" + json::Quote(r.stream->manifest.name) +
                    ",\"segments_deleted\":" + std::to_string(c.segments_deleted) +
                    ",\"segments_rewritten\":" + std::to_string(c.segments_rewritten) +
                    ",\"events_removed\":" + std::to_string(c.events_removed) +
                    ",\"bytes_before\":" + std::to_string(c.bytes_before) +
                    ",\"bytes_after\":" + std::to_string(c.bytes_after) +
                    ",\"elapsed_ms\":" + std::to_string(r.elapsed_ms);
  if (!r.status.ok()) out += ",\"error\":" + json::Quote(r.status.ToString());
  out += "}";
  return out;
}

CleanupScheduler::CleanupScheduler(Engine* engine, int64_t interval_ms)
    : engine_(engine), interval_ms_(interval_ms), thread_([this] { Loop(); }) {}

CleanupScheduler::~CleanupScheduler() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void CleanupScheduler::Loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stop_; })) {
    lock.unlock();
    for (const StreamCleanup& r :
         CleanUpStreams(*engine_, engine_->ListStreams(), timestamp::NowMs())) {
      const std::string id = r.stream->manifest.stream_id.ToString();
      if (!r.status.ok()) {
        spdlog::error("stream {}: retention/compaction failed: {}", id, r.status.ToString());
      } else if (r.report.events_removed > 0) {
        spdlog::info(
            "stream {}: retention/compaction removed {} event(s), {} segment(s) deleted, {} "
            "rewritten, {} -> {} bytes in {} ms",
            id, r.report.events_removed, r.report.segments_deleted, r.report.segments_rewritten,
            r.report.bytes_before, r.report.bytes_after, r.elapsed_ms);
      }
    }
    lock.lock();
  }
}

}  // namespace eventflow
