// ProcessingRules: a stream's `processing.rules` (docs/api.md), compiled once
// when the stream is created or patched and applied by the processor to
// every stored event in order. A filter drops the events its `where` does
// not match; a transform sets, removes and renames members of the event
// (in that order) through JSON Pointers. Immutable and thread-safe once
// compiled.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "formats/status.h"

namespace eventflow {

class ProcessingRules {
 public:
  // `rules` is the processing.rules array. InvalidArgument names the bad
  // part, e.g. `rules[1].where.op: unknown op "between"`.
  static Result<std::shared_ptr<const ProcessingRules>> Compile(simdjson::dom::element rules);
  ~ProcessingRules();

  // What the rules made of one event: filtered out, or delivered as
  // written, or delivered as `transformed`.
  struct Outcome {
    bool filtered = false;
    std::optional<std::string> transformed;
  };
  // Runs the rules on a stored event. An error is the event's failure
  // (a comparison of mismatched types, a rename of a missing member): its
  // message names the rule.
  Result<Outcome> Apply(std::string_view event_json) const;

  // The rules as minified JSON (an array).
  const std::string& json() const { return json_; }
  bool empty() const { return rules_.empty(); }

  struct Rule;

 private:
  ProcessingRules();
  std::string json_;
  // The rule values (filter operands, set values) point into this parse.
  std::unique_ptr<simdjson::dom::parser> parser_;
  std::vector<Rule> rules_;
};

}  // namespace eventflow
