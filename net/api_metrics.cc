// Api handlers for operations: GET /readyz and GET /metrics. Both read the
// disk (a probe file, statvfs, the groups' positions in the index), so they
// run on the blocking pool, never on an io thread.
#include "net/api.h"
#include "net/readiness.h"

namespace eventflow {

namespace {

using Labels = std::vector<prometheus::ClientMetric::Label>;

Labels StreamLabels(const Stream& s) {
  return {{"org", s.manifest.org_id}, {"stream", s.manifest.name}};
}

}  // namespace

void Api::Ready(Call& call) {
  Offload(call, [this](Call& call) {
    const Readiness r = CheckReadiness(*engine_, options_.min_free_bytes);
    call.Json(r.ready() ? 200 : 503, r.ToJson());
  });
}

void Api::ServeMetrics(Call& call) {
  if (!metrics_) return call.Fail({404, "not_found", "metrics are off (serve --no-metrics)"});
  Offload(call, [this](Call& call) {
    std::vector<prometheus::MetricFamily> scraped;
    const Readiness r = CheckReadiness(*engine_, options_.min_free_bytes);
    auto ready = GaugeFamily("eventflow_ready", "1 while GET /readyz answers 200, else 0");
    AddGauge(&ready, r.ready() ? 1 : 0);
    scraped.push_back(std::move(ready));
    if (r.have_disk) {
      auto free = GaugeFamily("eventflow_data_dir_free_bytes",
                              "Bytes available on the data dir's filesystem");
      AddGauge(&free, static_cast<double>(r.free_bytes));
      scraped.push_back(std::move(free));
      auto size = GaugeFamily("eventflow_data_dir_size_bytes", "Size of the data dir's filesystem");
      AddGauge(&size, static_cast<double>(r.size_bytes));
      scraped.push_back(std::move(size));
    }
    if (options_.open_connections) {
      auto conns = GaugeFamily("eventflow_http_open_connections", "Open client connections");
      AddGauge(&conns, static_cast<double>(options_.open_connections()));
      scraped.push_back(std::move(conns));
    }
    auto segments = GaugeFamily("eventflow_stream_segments", "Segment files of a stream's log");
    auto bytes = GaugeFamily("eventflow_stream_size_bytes", "Bytes of a stream's log");
    auto events = GaugeFamily("eventflow_stream_events",
                              "Events in a stream's log (last offset + 1 - first offset)");
    // Counted once, when the stream was opened; a counter so that alerts
    // can fire on any increase.
    auto torn = CounterFamily("eventflow_torn_tail_events_total",
                              "Records a torn tail dropped when the stream was opened (rule 8.9 "
                              "of docs/segment-format.md)");
    auto lost = CounterFamily("eventflow_acknowledged_events_lost_total",
                              "Acknowledged events lost to a failed flush under fsync interval or "
                              "never (their bytes failed their CRC when the log was relocated)");
    for (const auto& s : engine_->ListStreams()) {
      AddGauge(&torn, static_cast<double>(s->recovery.dropped.count), StreamLabels(*s));
      AddGauge(&lost,
               static_cast<double>(s->writer ? s->writer->stats().acknowledged_lost.load() : 0),
               StreamLabels(*s));
      if (!s->log) continue;
      const uint64_t next = s->log->committed_next(), first = s->log->first_offset();
      AddGauge(&segments, static_cast<double>(s->log->segments()->size()), StreamLabels(*s));
      AddGauge(&bytes, static_cast<double>(s->log->bytes()), StreamLabels(*s));
      AddGauge(&events, static_cast<double>(next > first ? next - first : 0), StreamLabels(*s));
    }
    auto lag = GaugeFamily("eventflow_consumer_lag_events",
                           "Events of a stream after its consumer group's committed offset");
    for (const GroupLag& g : GroupLags()) {
      Labels labels = StreamLabels(*g.stream);
      labels.push_back({"group", g.group});
      AddGauge(&lag, static_cast<double>(g.lag), std::move(labels));
    }
    // Both stages of every served stream, zeros included, so a rate over
    // the series starts from a known value.
    auto dlq = GaugeFamily("eventflow_dlq_entries", "Entries in a stream's dead-letter queue");
    if (auto counts = deliveries_.CountDlq(); counts.ok()) {
      for (const auto& s : engine_->ListStreams()) {
        for (const char* stage : {"consumer", "processing"}) {
          auto it = counts->find({s->manifest.stream_id.ToString(), stage});
          Labels labels = {
              {"org", s->manifest.org_id}, {"stage", stage}, {"stream", s->manifest.name}};
          AddGauge(&dlq, it == counts->end() ? 0.0 : static_cast<double>(it->second),
                   std::move(labels));
        }
      }
    }
    for (auto* f : {&segments, &bytes, &events, &torn, &lost, &lag, &dlq})
      scraped.push_back(std::move(*f));
    HttpResponse res = JsonResponse(200, metrics_->Expose(scraped));
    res.set(boost::beast::http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    call.Reply(std::move(res));
  });
}

}  // namespace eventflow
