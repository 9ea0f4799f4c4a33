// Cost of the Prometheus client's metric updates on the request path.
// Axes: BM_HistogramShared/threads:N — N threads observe one
// prometheus::Histogram (it takes a mutex per Observe), as io threads would
// share one per route; BM_HistogramPerThread/threads:N — each thread its own
// histogram (the per-thread alternative, merged at scrape time);
// BM_CounterShared/threads:N — one prometheus::Counter (an atomic double).
// Counter: observations per second (items_per_second), per thread.
#include <benchmark/benchmark.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <memory>

namespace {

const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

prometheus::Histogram& Shared() {
  static prometheus::Histogram h(kLatencyBuckets);
  return h;
}

void BM_HistogramShared(benchmark::State& state) {
  prometheus::Histogram& h = Shared();
  double v = 0.0001 * state.thread_index();
  for (auto _ : state) {
    h.Observe(v);
    v = v < 1 ? v * 1.5 + 0.0001 : 0.0001;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramShared)->ThreadRange(1, 4)->UseRealTime();

void BM_HistogramPerThread(benchmark::State& state) {
  auto h = std::make_unique<prometheus::Histogram>(kLatencyBuckets);
  double v = 0.0001;
  for (auto _ : state) {
    h->Observe(v);
    v = v < 1 ? v * 1.5 + 0.0001 : 0.0001;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramPerThread)->ThreadRange(1, 4)->UseRealTime();

void BM_CounterShared(benchmark::State& state) {
  static prometheus::Counter c;
  for (auto _ : state) c.Increment();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterShared)->ThreadRange(1, 4)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
