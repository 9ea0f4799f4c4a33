#include "net/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace eventflow {

namespace {

// Request latency: sub-millisecond answers up to 60 s long-polls.
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
// fdatasync: ~0.3 ms on a good disk, seconds on a sick one.
const prometheus::Histogram::BucketBoundaries kFsyncBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
// Events per group-commit round: powers of 4 up to a full batch and more.
const prometheus::Histogram::BucketBoundaries kBatchBuckets = {1,    4,    16,    64,   256,
                                                               1024, 4096, 16384, 65536};

}  // namespace

void StreamMetrics::OnRound(uint64_t /*requests*/, uint64_t events, uint64_t bytes) {
  events_->Increment(static_cast<double>(events));
  bytes_->Increment(static_cast<double>(bytes));
  batch_events_->Observe(static_cast<double>(events));
}

void StreamMetrics::OnFlush(double seconds) { fsync_->Observe(seconds); }

Metrics::Metrics()
    : requests_family_(prometheus::BuildCounter()
                           .Name("eventflow_http_requests_total")
                           .Help("HTTP requests answered, by route and status code")
                           .Register(registry_)),
      latency_family_(prometheus::BuildHistogram()
                          .Name("eventflow_http_request_duration_seconds")
                          .Help("Time from a request's arrival to its answer, by route "
                                "(long-polls include their wait)")
                          .Register(registry_)),
      events_family_(prometheus::BuildCounter()
                         .Name("eventflow_ingested_events_total")
                         .Help("Events stored, duplicates excluded")
                         .Register(registry_)),
      bytes_family_(prometheus::BuildCounter()
                        .Name("eventflow_ingested_bytes_total")
                        .Help("Bytes appended to stream logs (records with their headers)")
                        .Register(registry_)),
      dead_lettered_family_(prometheus::BuildCounter()
                                .Name("eventflow_dead_lettered_events_total")
                                .Help("Events sent to a stream's dead-letter queue, by stage")
                                .Register(registry_)),
      processing_family_(prometheus::BuildHistogram()
                             .Name("eventflow_processing_duration_seconds")
                             .Help("Time from an event's created_at until its processing "
                                   "outcome (delivered, transformed, filtered, dead-lettered) "
                                   "is durable, for streams with rules")
                             .Register(registry_)),
      processing_failures_family_(prometheus::BuildCounter()
                                      .Name("eventflow_processing_failures_total")
                                      .Help("Rule failures on events that were then retried")
                                      .Register(registry_)) {
  batch_events_ = &prometheus::BuildHistogram()
                       .Name("eventflow_group_commit_batch_events")
                       .Help("Events stored per group-commit round (one write, one flush)")
                       .Register(registry_)
                       .Add({}, kBatchBuckets);
  fsync_seconds_ = &prometheus::BuildHistogram()
                        .Name("eventflow_fsync_duration_seconds")
                        .Help("Time of each fdatasync of a stream's segment")
                        .Register(registry_)
                        .Add({}, kFsyncBuckets);
  rate_limited_ = &prometheus::BuildCounter()
                       .Name("eventflow_rate_limited_requests_total")
                       .Help("Requests refused with 429 by an API key's rate limit")
                       .Register(registry_)
                       .Add({});
  parked_polls_ = &prometheus::BuildGauge()
                       .Name("eventflow_long_polls_parked")
                       .Help("Consumer polls waiting for events now")
                       .Register(registry_)
                       .Add({});
  for (size_t r = 0; r < kRouteCount; ++r) {
    latency_[r] = &latency_family_.Add({{"route", std::string(RouteName(static_cast<Route>(r)))}},
                                       kLatencyBuckets);
  }
}

void Metrics::OnDeadLettered(const Stream& stream, std::string_view stage) {
  // Family::Add returns the existing series for known labels; dead-lettering
  // is rare enough that the lookup costs nothing that matters.
  dead_lettered_family_
      .Add({{"org", stream.manifest.org_id},
            {"stream", stream.manifest.name},
            {"stage", std::string(stage)}})
      .Increment();
}

void Metrics::OnProcessed(const Stream& stream, const std::vector<int64_t>& latency_ms) {
  // One lookup per processed batch (up to thousands of events).
  auto& h = processing_family_.Add(
      {{"org", stream.manifest.org_id}, {"stream", stream.manifest.name}}, kLatencyBuckets);
  for (int64_t ms : latency_ms) h.Observe(static_cast<double>(ms) / 1000.0);
}

void Metrics::OnProcessingFailure(const Stream& stream) {
  processing_failures_family_
      .Add({{"org", stream.manifest.org_id}, {"stream", stream.manifest.name}})
      .Increment();
}

prometheus::Counter& Metrics::RequestCounter(Route route, int status) {
  if (status < kFirstStatus || status >= kFirstStatus + kStatusCount) status = 500;
  auto& slot = requests_[static_cast<size_t>(route)][static_cast<size_t>(status - kFirstStatus)];
  if (prometheus::Counter* c = slot.load(std::memory_order_acquire)) return *c;
  std::lock_guard lock(add_mu_);
  if (prometheus::Counter* c = slot.load(std::memory_order_relaxed)) return *c;
  prometheus::Counter* c = &requests_family_.Add(
      {{"route", std::string(RouteName(route))}, {"status", std::to_string(status)}});
  slot.store(c, std::memory_order_release);
  return *c;
}

void Metrics::OnRequest(Route route, int status, double seconds) {
  RequestCounter(route, status).Increment();
  latency_[static_cast<size_t>(route)]->Observe(seconds);
}

StreamMetrics* Metrics::Attach(Stream& stream) {
  std::lock_guard lock(add_mu_);
  auto& slot = streams_[stream.manifest.stream_id];
  if (!slot) {
    const prometheus::Labels labels = {{"org", stream.manifest.org_id},
                                       {"stream", stream.manifest.name}};
    slot = std::make_unique<StreamMetrics>(&events_family_.Add(labels), &bytes_family_.Add(labels),
                                           batch_events_, fsync_seconds_);
  }
  if (stream.writer) stream.writer->SetObserver(slot.get());
  return slot.get();
}

void Metrics::Detach(Stream& stream) {
  if (stream.writer) stream.writer->SetObserver(nullptr);
  const prometheus::Labels labels = {{"org", stream.manifest.org_id},
                                     {"stream", stream.manifest.name}};
  std::lock_guard lock(add_mu_);
  streams_.erase(stream.manifest.stream_id);
  // Family::Add hands back the series these labels name (making one if
  // there was none), which Remove then drops.
  events_family_.Remove(&events_family_.Add(labels));
  bytes_family_.Remove(&bytes_family_.Add(labels));
  processing_failures_family_.Remove(&processing_failures_family_.Add(labels));
  processing_family_.Remove(&processing_family_.Add(labels, kLatencyBuckets));
  for (const char* stage : {"consumer", "processing"}) {
    prometheus::Labels staged = labels;
    staged.emplace("stage", stage);
    dead_lettered_family_.Remove(&dead_lettered_family_.Add(staged));
  }
}

std::string Metrics::Expose(const std::vector<prometheus::MetricFamily>& scraped) const {
  std::vector<prometheus::MetricFamily> families = registry_.Collect();
  families.insert(families.end(), scraped.begin(), scraped.end());
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

prometheus::MetricFamily GaugeFamily(std::string name, std::string help) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = prometheus::MetricType::Gauge;
  return f;
}

prometheus::MetricFamily CounterFamily(std::string name, std::string help) {
  prometheus::MetricFamily f = GaugeFamily(std::move(name), std::move(help));
  f.type = prometheus::MetricType::Counter;
  return f;
}

void AddGauge(prometheus::MetricFamily* family, double value,
              std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (family->type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  family->metric.push_back(std::move(m));
}

}  // namespace eventflow
