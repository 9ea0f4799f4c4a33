// What a validation step costs, to turn the step budgets of JsonSchema
// (kMaxValidationSteps) and of the produce path (Api::kInlineValidationSteps)
// into time. BM_DoublingSteps runs a schema whose work doubles per instance
// level until a budget of `range(0)` steps runs out (all steps are node
// checks); BM_CostlyPattern searches `(a|b)*a(a|b){1000}c` (RE2 falls back
// to its NFA) over `range(0)` bytes, the pattern-cost model's worst case;
// BM_TypicalEvent validates the load benchmark's payload against a schema
// of five properties. Counters: steps or bytes per second on one thread.
#include <benchmark/benchmark.h>

#include <string>

#include "formats/json_schema.h"

namespace {

using eventflow::JsonSchema;
using eventflow::ValidationBudget;

std::string DoublingSchema(int levels) {
  std::string defs = R"("d0": {"type": "object"})";
  for (int k = 1; k <= levels; ++k) {
    const std::string prev = "{\"$ref\": \"#/definitions/d" + std::to_string(k - 1) + "\"}";
    defs += ", \"d" + std::to_string(k) + "\": {\"properties\": {\"a\": {\"allOf\": [" + prev +
            ", " + prev + "]}}}";
  }
  return "{\"definitions\": {" + defs + "}, \"$ref\": \"#/definitions/d" + std::to_string(levels) +
         "\"}";
}

std::string NestedA(int depth) {
  std::string out;
  for (int i = 0; i < depth; ++i) out += "{\"a\": ";
  out += "{}";
  for (int i = 0; i < depth; ++i) out += "}";
  return out;
}

void BM_DoublingSteps(benchmark::State& state) {
  auto schema = JsonSchema::Compile(DoublingSchema(60));
  simdjson::dom::parser parser;
  const simdjson::dom::element instance = parser.parse(NestedA(60)).value();
  const auto steps = static_cast<uint64_t>(state.range(0));
  for (auto _ : state) {
    ValidationBudget budget{steps};
    benchmark::DoNotOptimize((*schema)->Validate(instance, nullptr, 16, &budget));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_DoublingSteps)->Arg(30'000)->Arg(10'000'000)->Unit(benchmark::kMillisecond);

void BM_CostlyPattern(benchmark::State& state) {
  auto schema = JsonSchema::Compile(R"({"pattern": "(a|b)*a(a|b){1000}c"})");
  const std::string text = "\"" + std::string(static_cast<size_t>(state.range(0)), 'a') + "\"";
  simdjson::dom::parser parser;
  const simdjson::dom::element instance = parser.parse(text).value();
  for (auto _ : state) {
    ValidationBudget unlimited{UINT64_MAX};
    benchmark::DoNotOptimize((*schema)->Validate(instance, nullptr, 16, &unlimited));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_CostlyPattern)->Arg(4096)->Unit(benchmark::kMillisecond);

void BM_TypicalEvent(benchmark::State& state) {
  auto schema = JsonSchema::Compile(
      R"({"type": "object", "required": ["n", "amount"], "properties": {"n": {"type": "integer"},)"
      R"( "amount": {"type": "number", "minimum": 0}, "card": {"type": "string", "pattern":)"
      R"( "^[0-9]{12,19}$"}, "note": {"type": "string", "maxLength": 200}, "tags": {"type":)"
      R"( "array", "items": {"type": "string"}}}})");
  simdjson::dom::parser parser;
  const simdjson::dom::element instance =
      parser
          .parse(std::string(
              R"({"n":123456,"amount":7,"card":"4111111111111111","note":"an order of the benchmark"})"))
          .value();
  for (auto _ : state) {
    ValidationBudget budget;
    benchmark::DoNotOptimize((*schema)->Validate(instance, nullptr, 16, &budget));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TypicalEvent);

}  // namespace

BENCHMARK_MAIN();
