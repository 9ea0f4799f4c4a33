// The validator behind JsonSchema::Validate (internal to
// formats/json_schema_validate*.cc): one Validator per call walks the compiled
// nodes over a simdjson DOM. The valid path allocates nothing; paths and
// messages are built only when an error is recorded. Branches whose errors
// are not reported (anyOf, oneOf, not, if, contains, propertyNames) run as
// probes that stop at the first failure and record nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "formats/json_schema.h"
#include "formats/json_schema_program.h"

namespace eventflow::json_schema {

// One step of the instance path, on the stack; rendered only for errors.
struct PathSeg {
  const PathSeg* parent = nullptr;
  std::string_view key;  // object member name, when !is_index
  size_t index = 0;
  bool is_index = false;
};

// The JSON Pointer for `seg` ("" for the root).
std::string PathString(const PathSeg* seg);

enum class Kind : uint8_t { kNull, kBool, kInteger, kDouble, kString, kArray, kObject };

// The value being checked: a DOM value, or a property name (propertyNames).
struct Instance {
  explicit Instance(simdjson::dom::element v);
  explicit Instance(std::string_view name) : kind(Kind::kString), text(name), is_name(true) {}

  simdjson::dom::element value;
  Kind kind = Kind::kNull;
  std::string_view text;  // strings and names
  bool is_name = false;
};

// Where errors go; `errors` is null for a probe, which only wants the verdict.
struct Out {
  std::vector<SchemaError>* errors = nullptr;
  size_t limit = 0;  // stop recording once errors->size() reaches this
};

// Whether a check that has already failed should return now: a probe knows
// enough, and a full error list takes no more.
inline bool Stop(Out out) { return out.errors == nullptr || out.errors->size() >= out.limit; }

class Validator {
 public:
  // `out` is the caller's error list (errors may be null).
  Validator(const Program& program, Out out, ValidationBudget* budget)
      : program_(program), root_out_(out), budget_(budget) {}
  Validator(const Validator&) = delete;
  Validator& operator=(const Validator&) = delete;

  bool Check(uint32_t index, const Instance& in, const PathSeg* path, Out out);
  // True once a nesting limit was hit or the budget ran out: the instance is
  // then invalid whatever probes (e.g. under "not") concluded.
  bool aborted() const { return aborted_; }
  // True when this walk ran out of steps.
  bool out_of_steps() const { return out_of_steps_; }

 private:
  // Takes `steps` from the budget. False, with the budget marked exhausted
  // and the walk aborted, when it has fewer.
  bool Charge(uint64_t steps) {
    if (steps <= budget_->steps_left) {
      budget_->steps_left -= steps;
      return true;
    }
    budget_->steps_left = 0;
    budget_->exhausted = true;
    out_of_steps_ = aborted_ = true;
    return false;
  }
  // A pattern search over `text`, charged to the budget first.
  bool Search(const Pattern& pattern, std::string_view text) {
    // RE2's fallback search costs ~2/3 of a step per program instruction
    // per byte (docs/benchmarks.md, "Validation budgets").
    const uint64_t cost =
        1 + text.size() * static_cast<uint64_t>(pattern.re->ProgramSize()) * 2 / 3;
    return Charge(cost) && RE2::PartialMatch(text, *pattern.re);
  }
  bool Probe(uint32_t index, const Instance& in, const PathSeg* path) {
    return Check(index, in, path, Out{});
  }
  // Records an error (when `out` collects); always returns false. `message`
  // is a callable so that probes never build the string. Out of line, so
  // that message temporaries stay off the frames of the recursive checks.
  template <typename F>
  [[gnu::noinline, gnu::cold]] bool Fail(Out out, const PathSeg* path, F message) {
    if (!aborted_ && out.errors != nullptr && out.errors->size() < out.limit) {
      out.errors->push_back(SchemaError{PathString(path), message()});
    }
    return false;
  }
  // Stops the validation at a nesting limit: records `what` (null: the
  // subschema depth limit) in the caller's list, even from inside a probe,
  // then fails every check that follows. Always returns false.
  [[gnu::noinline, gnu::cold]] bool Abort(const PathSeg* path, const char* what);
  [[gnu::noinline]] bool Equal(const Instance& in, simdjson::dom::element v, const PathSeg* path);

  // json_schema_validate.cc
  bool CheckKeywords(const Node& n, const Instance& in, const PathSeg* path, Out out);
  // (Leaf checks are kept out of line so as not to grow the recursive frames.)
  [[gnu::noinline]] bool CheckNumber(const Node& n, const Instance& in, const PathSeg* path,
                                     Out out);
  [[gnu::noinline]] bool CheckString(const Node& n, const Instance& in, const PathSeg* path,
                                     Out out);
  bool CheckGeneric(const Node& n, const Instance& in, const PathSeg* path, Out out);
  [[gnu::noinline]] bool CheckValue(const Node& n, const Instance& in, const PathSeg* path,
                                    Out out);
  // json_schema_validate_containers.cc
  bool CheckArray(const Node& n, const Instance& in, const PathSeg* path, Out out);
  [[gnu::noinline]] bool CheckArrayCounts(const Node& n, simdjson::dom::array arr,
                                          const PathSeg* path, Out out);
  [[gnu::noinline]] bool CheckUnique(simdjson::dom::array arr, const PathSeg* path, Out out);
  bool CheckObject(const Node& n, const Instance& in, const PathSeg* path, Out out);
  [[gnu::noinline]] bool CheckObjectCounts(const Node& n, simdjson::dom::object obj,
                                           const PathSeg* path, Out out);
  bool CheckMembers(const Node& n, simdjson::dom::object obj, const PathSeg* path, Out out);

  const Program& program_;
  const Out root_out_;
  ValidationBudget* const budget_;
  int depth_ = 0;
  bool aborted_ = false;
  bool out_of_steps_ = false;
};

}  // namespace eventflow::json_schema
