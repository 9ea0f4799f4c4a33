// StreamSettings: a stream's settings as the API accepts them (POST and
// PATCH /streams), validated, with every default filled in and the schema
// and processing rules compiled, and their JSON form (kept in the manifest).
// Immutable once built; shared between threads through
// shared_ptr<const StreamSettings>.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <simdjson.h>

#include "formats/json_schema.h"
#include "formats/processing_rules.h"
#include "net/api_error.h"

namespace eventflow {

// The range of each numeric setting (docs/api.md, "Limits"): a request
// outside it is 400; a stored value outside it (written before the ranges
// existed) is clamped when read.
struct SettingRange {
  const char* name;  // as the API spells it
  int64_t min, max;
};
inline constexpr SettingRange kRetentionMaxAgeS{"retention.max_age_s", 1, 3'153'600'000};  // 100 y
inline constexpr SettingRange kRetentionMaxBytes{"retention.max_bytes", 1, int64_t{1} << 60};
inline constexpr SettingRange kMaxDeliveries{"max_deliveries", 1, 1'000};
inline constexpr SettingRange kProcessingMaxAttempts{"processing.max_attempts", 1, 100};
inline constexpr SettingRange kProcessingBackoffMs{"processing.backoff_ms", 0, 3'600'000};

struct StreamSettings {
  std::string schema_json;                   // minified; empty when there is none
  std::shared_ptr<const JsonSchema> schema;  // schema_json, compiled
  // What GET /streams/{id} flags about these settings (a stored schema past
  // today's cost bound); empty for settings a request made.
  std::vector<std::string> warnings;
  std::optional<int64_t> retention_max_age_s;
  std::optional<int64_t> retention_max_bytes;
  std::string cleanup_policy = "delete";
  int64_t max_deliveries = 5;
  int64_t processing_max_attempts = 5;
  int64_t processing_backoff_ms = 100;
  // processing.rules, compiled; null when there are none.
  std::shared_ptr<const ProcessingRules> rules;
  bool has_rules() const { return rules && !rules->empty(); }

  // Applies the settings members of a create or patch request over `out`
  // (members absent from `body` keep their value; `name` is skipped).
  static std::optional<ApiError> FromRequest(simdjson::dom::object body, StreamSettings* out);
  // The settings a manifest holds. A number outside its range is clamped
  // into it, and `clamped` (when not null) gets a line naming it.
  static StreamSettings FromManifestJson(std::string_view json,
                                         std::vector<std::string>* clamped = nullptr);
  // The settings members, starting with a comma: `,"schema":null,...`.
  std::string ToJsonMembers() const;
};

// Stream and group names: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}, not UUID-shaped.
bool ValidName(std::string_view name);

}  // namespace eventflow
