// Runs retention and compaction (engine/cleanup.h) over a server's streams
// with each stream's own settings: on a schedule in the server
// (CleanupScheduler), on demand (POST /api/v1/admin/compact) and offline
// (`eventflow compact`). Retention limits apply whenever they are set;
// cleanup_policy "compact" adds key compaction.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "net/stream_settings.h"

namespace eventflow {

CleanupPolicy CleanupPolicyOf(const StreamSettings& settings);

struct StreamCleanup {
  std::shared_ptr<Stream> stream;
  Status status;
  CleanupReport report;
  int64_t elapsed_ms = 0;
};

// Cleans each of `streams` (serving ones; others are reported Unavailable)
// by its manifest's settings, one after another.
std::vector<StreamCleanup> CleanUpStreams(Engine& engine,
                                          const std::vector<std::shared_ptr<Stream>>& streams,
                                          int64_t now_ms);

// `{"stream_id":..,"name":..,"segments_deleted":..,...}` for one result.
std::string StreamCleanupJson(const StreamCleanup& result);

// Cleans every stream every `interval_ms` on its own thread until destroyed.
class CleanupScheduler {
 public:
  CleanupScheduler(Engine* engine, int64_t interval_ms);
  ~CleanupScheduler();  // stops, waiting for a run in progress
  CleanupScheduler(const CleanupScheduler&) = delete;
  CleanupScheduler& operator=(const CleanupScheduler&) = delete;

 private:
  void Loop();

  Engine* const engine_;
  const int64_t interval_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace eventflow
