// libFuzzer target: processing rules compile and apply
// (formats/processing_rules.h). The input is the rules array, "\n--\n", then
// an event. An event the rules transform must come out as valid JSON.
#include <simdjson.h>

#include <cstdint>
#include <string>

#include "formats/processing_rules.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace eventflow;
  const auto parts = fuzz::SplitInput(data, size, 2);
  simdjson::dom::parser parser;
  simdjson::dom::element rules_json;
  const std::string rules_text(parts[0]);
  if (parser.parse(rules_text).get(rules_json)) return 0;
  auto rules = ProcessingRules::Compile(rules_json);
  if (!rules.ok()) return 0;
  // Apply takes stored events: valid JSON objects.
  if (!fuzz::ValidJson(parts[1])) return 0;
  auto outcome = (*rules)->Apply(parts[1]);
  if (!outcome.ok() || outcome->filtered || !outcome->transformed) return 0;
  if (!fuzz::ValidJson(*outcome->transformed)) {
    fuzz::Fail("a transform made invalid JSON", *outcome->transformed);
  }
  return 0;
}
