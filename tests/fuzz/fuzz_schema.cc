// libFuzzer target: JSON Schema compile and validate (formats/json_schema.h).
// The input is a schema, "\n--\n", then an instance. A schema that compiles
// must validate any instance within its step budget, and say why when the
// instance is invalid.
#include <simdjson.h>

#include <cstdint>

#include "formats/json_schema.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace eventflow;
  const auto parts = fuzz::SplitInput(data, size, 2);
  auto schema = JsonSchema::Compile(parts[0]);
  if (!schema.ok()) return 0;
  simdjson::dom::parser parser;
  simdjson::dom::element instance;
  const std::string text(parts[1]);
  if (parser.parse(text).get(instance)) return 0;
  ValidationBudget budget;
  budget.steps_left = 200'000;
  std::vector<SchemaError> errors;
  const bool valid = (*schema)->Validate(instance, &errors, 16, &budget);
  if (valid && !errors.empty()) fuzz::Fail("a valid instance with errors", errors[0].message);
  if (!valid && errors.empty()) fuzz::Fail("an invalid instance without an error", text);
  if (errors.size() > 16) fuzz::Fail("more errors than asked for", text);
  return 0;
}
