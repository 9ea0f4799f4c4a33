// Metrics: the server's Prometheus series (docs/operations.md lists them)
// on prometheus-cpp's registry, and the text exposition for GET /metrics.
// Hot-path updates go through references cached on first use: a fixed
// route x status table for requests, a StreamMetrics per stream for ingest,
// one histogram per route (Observe takes an uncontended-in-practice mutex:
// ~20-30 ns measured in bench/micro/metrics_bench.cc, so no per-thread
// copies). Series read from state (lag, segments, disk) are built at scrape
// time by the caller and passed to Expose. Thread-safe.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/engine.h"
#include "engine/writer_observer.h"
#include "net/route.h"

namespace eventflow {

// One stream's ingest series, fed by its writer (a WriterObserver) on the
// flusher thread; also records the group-commit histograms they share.
class StreamMetrics : public WriterObserver {
 public:
  StreamMetrics(prometheus::Counter* events, prometheus::Counter* bytes,
                prometheus::Histogram* batch_events, prometheus::Histogram* fsync_seconds)
      : events_(events), bytes_(bytes), batch_events_(batch_events), fsync_(fsync_seconds) {}
  void OnRound(uint64_t requests, uint64_t events, uint64_t bytes) override;
  void OnFlush(double seconds) override;

 private:
  prometheus::Counter* const events_;
  prometheus::Counter* const bytes_;
  prometheus::Histogram* const batch_events_;
  prometheus::Histogram* const fsync_;
};

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One answered request (status as sent, seconds since it was read).
  void OnRequest(Route route, int status, double seconds);
  void OnRateLimited() { rate_limited_->Increment(); }
  // A long-poll parked / answered after parking.
  void OnPollParked() { parked_polls_->Increment(); }
  void OnPollUnparked() { parked_polls_->Decrement(); }
  // One event sent to the stream's DLQ at `stage` ("consumer" or
  // "processing"): eventflow_dead_lettered_events_total{org,stream,stage}.
  // The DLQ size, eventflow_dlq_entries{org,stream,stage}, is read at scrape
  // time beside the consumer lag (api_metrics.cc).
  void OnDeadLettered(const Stream& stream, std::string_view stage);
  // Events whose processing outcome became durable, with how long each
  // waited since its created_at: eventflow_processing_duration_seconds.
  void OnProcessed(const Stream& stream, const std::vector<int64_t>& latency_ms);
  // A rule failed on an event that will be retried:
  // eventflow_processing_failures_total{org,stream}.
  void OnProcessingFailure(const Stream& stream);
  // The stream's series, created on first call and installed as its
  // writer's observer.
  StreamMetrics* Attach(Stream& stream);
  // Removes every series labelled with a deleted stream, so /metrics stops
  // naming it. Call once its writer and processing have stopped: the
  // writer's observer is cleared first, then the series are freed.
  void Detach(Stream& stream);

  // The exposition text: every registered series plus `scraped` (gauges
  // read from state at scrape time).
  std::string Expose(const std::vector<prometheus::MetricFamily>& scraped) const;

 private:
  prometheus::Counter& RequestCounter(Route route, int status);

  prometheus::Registry registry_;
  prometheus::Family<prometheus::Counter>& requests_family_;
  prometheus::Family<prometheus::Histogram>& latency_family_;
  prometheus::Family<prometheus::Counter>& events_family_;
  prometheus::Family<prometheus::Counter>& bytes_family_;
  prometheus::Family<prometheus::Counter>& dead_lettered_family_;
  prometheus::Family<prometheus::Histogram>& processing_family_;
  prometheus::Family<prometheus::Counter>& processing_failures_family_;
  prometheus::Histogram* batch_events_;
  prometheus::Histogram* fsync_seconds_;
  prometheus::Counter* rate_limited_;
  prometheus::Gauge* parked_polls_;
  std::array<prometheus::Histogram*, kRouteCount> latency_{};

  // Status codes 100..599 per route; filled on first use under add_mu_.
  static constexpr int kFirstStatus = 100, kStatusCount = 500;
  std::array<std::array<std::atomic<prometheus::Counter*>, kStatusCount>, kRouteCount> requests_{};
  std::mutex add_mu_;
  std::unordered_map<Uuid, std::unique_ptr<StreamMetrics>, UuidHash> streams_;  // add_mu_
};

// Helpers for the scrape-time families: a gauge or counter family, and one
// sample of it (AddGauge sets the value of the family's type).
prometheus::MetricFamily GaugeFamily(std::string name, std::string help);
prometheus::MetricFamily CounterFamily(std::string name, std::string help);
void AddGauge(prometheus::MetricFamily* family, double value,
              std::vector<prometheus::ClientMetric::Label> labels = {});

}  // namespace eventflow
