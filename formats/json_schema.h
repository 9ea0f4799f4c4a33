// JsonSchema: a JSON Schema draft-07 document compiled once into an immutable
// tree (node indices, resolved $refs, precompiled RE2 patterns), then used to
// validate many instances. Thread safety: a compiled schema is immutable, so
// Validate and ValidateJson may be called from any number of threads at once.
//
// Contracts: every draft-07 validation keyword is applied; `format` and the
// other annotations are not checked; unknown keywords are ignored. Patterns
// are ECMA-262 as far as RE2 can follow (linear time, unanchored search; \s
// and \cX are translated; look-around and back-references do not compile).
// Inputs are untrusted: schema nesting, identifier and pattern sizes, $ref
// chains that do not consume the instance, and validation depth are bounded,
// so neither call can loop or overflow the stack (Validate needs at most
// ~256 KB of stack in an optimised build, a few times that under ASan).
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "formats/status.h"

namespace eventflow {

namespace json_schema {
struct Program;
}  // namespace json_schema

struct ValidationBudget;

// One failed check: where in the instance (a JSON Pointer, "" for the root) and why.
struct SchemaError {
  std::string path;
  std::string message;
};

class JsonSchema {
 public:
  // Compile rejects a schema nested deeper than this many subschemas.
  static constexpr int kMaxSchemaDepth = 128;
  // Validation fails (with an error, never a crash) past this many nested
  // subschema applications; each instance level takes at least one.
  static constexpr int kMaxValidationDepth = 512;
  // ValidateJson rejects instances nested deeper than this (arrays + objects).
  static constexpr int kMaxInstanceDepth = 256;
  // Compile rejects a schema that applies more than this many subschemas to
  // one value through in-place keywords (allOf, anyOf, oneOf, not, if/then/
  // else, dependencies, $ref): their number can double with each level of
  // definitions, and with it the work for every value validated.
  static constexpr uint64_t kMaxInPlacePaths = 1024;
  // The steps a validation may take when the caller gives no budget (see
  // ValidationBudget): about a tenth of a second of one core
  // (docs/benchmarks.md, "Validation budgets").
  static constexpr uint64_t kMaxValidationSteps = 10'000'000;
  // The one error of a validation that ran out of steps.
  static constexpr std::string_view kTooCostly = "too costly to validate";

  // Compiles a schema document (JSON text). InvalidArgument, with a message
  // naming the schema location, for: malformed JSON, a schema that is not an
  // object or boolean, a known keyword whose value has the wrong type or range,
  // a pattern RE2 cannot compile, a $ref that does not resolve within the
  // document (the only remote document known is the draft-07 meta-schema,
  // "http://json-schema.org/draft-07/schema"), a $ref cycle that never reaches
  // a keyword consuming the instance, and a "$schema" other than draft-07.
  static Result<std::shared_ptr<const JsonSchema>> Compile(std::string_view schema_json);
  // The same, for a schema stored before kMaxInPlacePaths existed: one over
  // it compiles, with cost_warning() saying why it would be refused now, and
  // serves under the per-event step budget.
  static Result<std::shared_ptr<const JsonSchema>> CompileStored(std::string_view schema_json);
  // Empty unless CompileStored let a schema past kMaxInPlacePaths.
  const std::string& cost_warning() const;

  // True when `instance` is valid. On failure appends between 1 and
  // `max_errors` errors to `errors` (when it is not null; null is fastest);
  // a valid instance appends nothing and, arrays of over 16 items under
  // uniqueItems aside, allocates nothing of its own.
  // With `budget`, the walk draws on it (calls may share one); without, it
  // may take kMaxValidationSteps. A walk that runs out of steps fails with
  // the one error {"", kTooCostly} (whatever else it had found) and sets
  // budget->exhausted.
  bool Validate(simdjson::dom::element instance, std::vector<SchemaError>* errors,
                size_t max_errors = 16, ValidationBudget* budget = nullptr) const;

  // Parses `instance_json` then validates it; malformed JSON (or nesting past
  // kMaxInstanceDepth) is one error at path "". Allocates a parser per call:
  // hot paths should parse once and call Validate.
  bool ValidateJson(std::string_view instance_json, std::vector<SchemaError>* errors,
                    size_t max_errors = 16) const;

  ~JsonSchema();
  JsonSchema(const JsonSchema&) = delete;
  JsonSchema& operator=(const JsonSchema&) = delete;

 private:
  explicit JsonSchema(std::unique_ptr<const json_schema::Program> program);
  static Result<std::shared_ptr<const JsonSchema>> Build(std::string_view schema_json,
                                                         bool enforce_cost_bound);

  std::unique_ptr<const json_schema::Program> program_;
};

// The work validations may do, in steps: one subschema applied to one value
// is one step; a pattern search costs one plus its input's length times 2/3
// of the pattern's RE2 program size (RE2 may fall back to a search in time
// proportional to both); an enum or const check one step per value compared.
struct ValidationBudget {
  uint64_t steps_left = JsonSchema::kMaxValidationSteps;
  bool exhausted = false;  // a walk ran out of steps
};

}  // namespace eventflow
