// The compiled form of a JsonSchema (internal to formats/json_schema*.cc): a
// flat vector of nodes that point at each other by index, so recursive
// schemas are plain cycles in the index graph. Built once by the compiler,
// then only read.
#pragma once

#include <re2/re2.h>
#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eventflow::json_schema {

constexpr uint32_t kNone = UINT32_MAX;

// Bits of the "type" keyword; kIntegerBit alone accepts integral numbers.
enum TypeBit : uint8_t {
  kNullBit = 1,
  kBooleanBit = 2,
  kObjectBit = 4,
  kArrayBit = 8,
  kNumberBit = 16,
  kStringBit = 32,
  kIntegerBit = 64,
};

// A JSON number exactly as simdjson parsed it.
struct Number {
  enum class Kind : uint8_t { kInt, kUint, kDouble };
  Kind kind = Kind::kInt;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;

  // `e` must be a number (INT64, UINT64 or DOUBLE).
  static Number From(simdjson::dom::element e);
  bool IsIntegral() const;
  bool IsPositive() const;
  std::string ToString() const;
};

// The array / object behind an element known to be one. (By value: a range-for
// over `e.get_array().value_unsafe()` would iterate a dead temporary.)
inline simdjson::dom::array ArrayOf(simdjson::dom::element e) {
  return e.get_array().value_unsafe();
}
inline simdjson::dom::object ObjectOf(simdjson::dom::element e) {
  return e.get_object().value_unsafe();
}

// Exact comparison across kinds: -1, 0 or 1.
int Compare(const Number& a, const Number& b);
// Whether x / m is an integer, taking doubles as the shortest decimals that
// round-trip to them (so 0.0075 is a multiple of 0.0001). `m` must be > 0.
bool IsMultipleOf(const Number& x, const Number& m);
// UTF-8 code points in `s` (simdjson has validated the encoding).
size_t CountCodePoints(std::string_view s);
// `s` cut to at most `max` bytes plus "..." when longer, never inside a UTF-8
// sequence (messages end up in JSON responses, which must be valid UTF-8).
std::string Shorten(std::string_view s, size_t max);

// JSON equality: numbers by value (1 == 1.0), objects regardless of key
// order. Sets *too_deep and returns false past `depth_left` levels.
bool JsonEqual(simdjson::dom::element a, simdjson::dom::element b, int depth_left, bool* too_deep);
// A hash consistent with JsonEqual.
uint64_t JsonHash(simdjson::dom::element e, int depth_left, bool* too_deep);

struct Pattern {
  std::string source;
  std::unique_ptr<const RE2> re;
};

struct Dependency {
  std::string property;
  std::vector<std::string> required;  // array form
  uint32_t schema = kNone;            // schema form
};

struct Node {
  enum class Kind : uint8_t { kTrue, kFalse, kRef, kSchema };
  Kind kind = Kind::kSchema;
  uint32_t ref = kNone;  // kRef: the target node; siblings are ignored (draft-07)

  uint8_t types = 0;  // TypeBit mask; 0 when there is no "type"

  // Which keyword groups are present, to skip whole sections per instance.
  bool numeric = false, textual = false, sequence = false, structure = false, generic = false;

  std::optional<Number> minimum, maximum, exclusive_minimum, exclusive_maximum, multiple_of;

  std::optional<uint64_t> min_length, max_length;
  std::optional<Pattern> pattern;

  bool items_is_list = false;
  uint32_t items = kNone;           // single-schema form
  std::vector<uint32_t> item_list;  // array form
  uint32_t additional_items = kNone;
  uint32_t contains = kNone;
  std::optional<uint64_t> min_items, max_items;
  bool unique_items = false;

  std::vector<std::pair<std::string, uint32_t>> properties;  // sorted by name
  std::vector<std::pair<Pattern, uint32_t>> pattern_properties;
  uint32_t additional_properties = kNone;
  std::vector<std::string> required;
  std::optional<uint64_t> min_properties, max_properties;
  uint32_t property_names = kNone;
  std::vector<Dependency> dependencies;

  std::optional<std::vector<simdjson::dom::element>> enum_values;
  std::optional<simdjson::dom::element> const_value;
  std::vector<uint32_t> all_of, any_of, one_of;
  uint32_t not_schema = kNone, if_schema = kNone, then_schema = kNone, else_schema = kNone;
};

struct Program {
  std::vector<Node> nodes;
  uint32_t root = 0;
  // Owns the schema text's DOM: enum and const values point into it. (The
  // meta-schema's DOM is a process-wide constant.)
  simdjson::dom::document document;
  // Why the cost bound would refuse this schema, when compiled without
  // enforcing it (JsonSchema::CompileStored); else empty.
  std::string cost_warning;
};

// The draft-07 meta-schema text (formats/json_schema_metaschema.cc).
extern const std::string_view kDraft07MetaSchema;
// Its parsed root, parsed once per process; read-only afterwards.
simdjson::dom::element Draft07MetaSchemaRoot();

}  // namespace eventflow::json_schema
