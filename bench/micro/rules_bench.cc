// Cost of processing rules per event (ProcessingRules::Apply) on a ~330-byte
// stored event like the load benchmark's: BM_Filter (one comparison),
// BM_Transform (set + remove + rename), BM_FilterAndTransform (both, the
// rules of bench/load.sh's `rules` workload), BM_Passthrough (no rules, the
// floor). Counter: events per second on one thread.
#include <benchmark/benchmark.h>

#include "formats/processing_rules.h"

namespace {

const std::string kEvent =
    R"({"event_id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","stream_id":"5f0c2a9e-1b7d-4c3e-9f8a-)"
    R"(6d5e4c3b2a10","offset":123456,"key":"org-42","payload":{"n":123456,"amount":7,)"
    R"("card":"4111111111111111","note":"an order of the benchmark"},"metadata":{"event_type":)"
    R"("OrderPlaced","event_version":"v1","occurred_at":"2026-11-26T00:00:00.000Z","source":)"
    R"("bench","api_key_id":"k","context":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",)"
    R"("correlation_id":"c-1"}},"created_at":"2026-11-26T00:00:00.000Z"})";

const char* kFilter =
    R"({"type":"filter","where":{"field":"/payload/amount","op":"gte","value":1}})";
const char* kTransform =
    R"({"type":"transform","set":{"/payload/currency":"EUR"},"remove":["/payload/card"],)"
    R"("rename":{"/payload/amount":"/payload/total"}})";

void Run(benchmark::State& state, const std::string& rules_json) {
  simdjson::dom::parser parser;
  auto rules = eventflow::ProcessingRules::Compile(parser.parse(rules_json).value());
  if (!rules.ok()) {
    state.SkipWithError(rules.status().message().c_str());
    return;
  }
  for (auto _ : state) {
    auto out = (*rules)->Apply(kEvent);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Passthrough(benchmark::State& state) { Run(state, "[]"); }
void BM_Filter(benchmark::State& state) { Run(state, std::string("[") + kFilter + "]"); }
void BM_Transform(benchmark::State& state) { Run(state, std::string("[") + kTransform + "]"); }
void BM_FilterAndTransform(benchmark::State& state) {
  Run(state, std::string("[") + kFilter + "," + kTransform + "]");
}

BENCHMARK(BM_Passthrough);
BENCHMARK(BM_Filter);
BENCHMARK(BM_Transform);
BENCHMARK(BM_FilterAndTransform);

}  // namespace

BENCHMARK_MAIN();
