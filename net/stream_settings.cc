#include "net/stream_settings.h"

#include <algorithm>

#include "formats/uuid.h"

namespace eventflow {

namespace {
ApiError Invalid(std::string msg) { return ApiError{400, "invalid_stream", std::move(msg)}; }

// Reads one numeric setting. A request's value outside `range` is an
// error; a stored one (`clamped` not null) is clamped, and noted there.
std::optional<ApiError> ReadSetting(simdjson::dom::element v, const SettingRange& range,
                                    int64_t* out, std::vector<std::string>* clamped) {
  auto invalid = [&] {
    return Invalid(std::string(range.name) + " must be an integer in " + std::to_string(range.min) +
                   ".." + std::to_string(range.max));
  };
  int64_t n;
  if (v.get(n)) {
    uint64_t big;  // above INT64_MAX: only clamping can use it
    if (clamped == nullptr || v.get(big)) return invalid();
    n = INT64_MAX;
  }
  if (n >= range.min && n <= range.max) {
    *out = n;
    return std::nullopt;
  }
  if (clamped == nullptr) return invalid();
  *out = std::clamp(n, range.min, range.max);
  clamped->push_back(std::string(range.name) + " " + simdjson::minify(v) + " clamped to " +
                     std::to_string(*out));
  return std::nullopt;
}

// FromRequest's body; `clamped` set: reading a manifest (see ReadSetting).
std::optional<ApiError> ApplySettings(simdjson::dom::object body, StreamSettings* out,
                                      std::vector<std::string>* clamped);
}  // namespace

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 128 || Uuid::Parse(name)) return false;
  auto ok = [](char c, bool first) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           (!first && (c == '.' || c == '-'));
  };
  for (size_t i = 0; i < name.size(); ++i) {
    if (!ok(name[i], i == 0)) return false;
  }
  return true;
}

std::optional<ApiError> StreamSettings::FromRequest(simdjson::dom::object body,
                                                    StreamSettings* out) {
  return ApplySettings(body, out, nullptr);
}

namespace {
std::optional<ApiError> ApplySettings(simdjson::dom::object body, StreamSettings* out,
                                      std::vector<std::string>* clamped) {
  for (auto [key, value] : body) {
    if (key == "name") continue;
    if (key == "schema") {
      out->warnings.clear();  // they are all about the schema
      if (value.is_null()) {
        out->schema_json.clear();
        out->schema.reset();
        continue;
      }
      if (!value.is_object() && !value.is_bool()) {
        return Invalid("schema must be a JSON Schema (an object or a boolean) or null");
      }
      std::string text = simdjson::minify(value);
      // A stored schema (clamped set: read from a manifest) may predate the
      // cost bound: it keeps serving under the per-event step budget, flagged.
      auto compiled = clamped ? JsonSchema::CompileStored(text) : JsonSchema::Compile(text);
      if (!compiled.ok()) return Invalid("schema: " + compiled.status().message());
      if (const std::string& why = (*compiled)->cost_warning(); !why.empty()) {
        out->warnings.push_back("schema: " + why +
                                "; kept as stored, each event is validated under the step "
                                "budget (a PATCH must replace it with a cheaper one)");
      }
      out->schema_json = std::move(text);
      out->schema = std::move(*compiled);
    } else if (key == "retention") {
      // RFC 7396 (CONTRACT, PATCH): null resets a member, or the whole
      // object, to its default; absent members keep their value.
      const StreamSettings defaults;
      if (value.is_null()) {
        out->retention_max_age_s = defaults.retention_max_age_s;
        out->retention_max_bytes = defaults.retention_max_bytes;
        continue;
      }
      simdjson::dom::object r;
      if (value.get(r)) return Invalid("retention must be an object");
      for (auto [rk, rv] : r) {
        int64_t n = 0;
        if (rk == "max_age_s" || rk == "max_bytes") {
          const bool age = rk == "max_age_s";
          if (rv.is_null()) {
            (age ? out->retention_max_age_s : out->retention_max_bytes) =
                age ? defaults.retention_max_age_s : defaults.retention_max_bytes;
            continue;
          }
          if (auto e = ReadSetting(rv, age ? kRetentionMaxAgeS : kRetentionMaxBytes, &n, clamped)) {
            return e;
          }
          (age ? out->retention_max_age_s : out->retention_max_bytes) = n;
        } else {
          return Invalid("unknown field retention." + std::string(rk));
        }
      }
    } else if (key == "cleanup_policy") {
      if (value.is_null()) {
        out->cleanup_policy = StreamSettings{}.cleanup_policy;
        continue;
      }
      std::string_view p;
      if (value.get(p) || (p != "delete" && p != "compact")) {
        return Invalid("cleanup_policy must be \"delete\" or \"compact\"");
      }
      out->cleanup_policy = p;
    } else if (key == "max_deliveries") {
      if (value.is_null()) {
        out->max_deliveries = StreamSettings{}.max_deliveries;
        continue;
      }
      if (auto e = ReadSetting(value, kMaxDeliveries, &out->max_deliveries, clamped)) return e;
    } else if (key == "processing") {
      const StreamSettings defaults;
      if (value.is_null()) {
        out->rules = defaults.rules;
        out->processing_max_attempts = defaults.processing_max_attempts;
        out->processing_backoff_ms = defaults.processing_backoff_ms;
        continue;
      }
      simdjson::dom::object p;
      if (value.get(p)) return Invalid("processing must be an object");
      for (auto [pk, pv] : p) {
        if (pv.is_null()) {  // a member back to its default
          if (pk == "rules") {
            out->rules = defaults.rules;
          } else if (pk == "max_attempts") {
            out->processing_max_attempts = defaults.processing_max_attempts;
          } else if (pk == "backoff_ms") {
            out->processing_backoff_ms = defaults.processing_backoff_ms;
          } else {
            return Invalid("unknown field processing." + std::string(pk));
          }
          continue;
        }
        if (pk == "rules") {
          if (!pv.is_array()) return Invalid("processing.rules must be an array");
          auto rules = ProcessingRules::Compile(pv);
          if (!rules.ok()) return Invalid("processing." + rules.status().message());
          out->rules = (*rules)->empty() ? nullptr : std::move(*rules);
        } else if (pk == "max_attempts") {
          if (auto e =
                  ReadSetting(pv, kProcessingMaxAttempts, &out->processing_max_attempts, clamped)) {
            return e;
          }
        } else if (pk == "backoff_ms") {
          if (auto e =
                  ReadSetting(pv, kProcessingBackoffMs, &out->processing_backoff_ms, clamped)) {
            return e;
          }
        } else {
          return Invalid("unknown field processing." + std::string(pk));
        }
      }
    } else {
      return Invalid("unknown field " + std::string(key));
    }
  }
  return std::nullopt;
}
}  // namespace

StreamSettings StreamSettings::FromManifestJson(std::string_view json,
                                                std::vector<std::string>* clamped) {
  StreamSettings s;
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  std::vector<std::string> ignored;
  if (!parser.parse(json.data(), json.size()).get(obj)) {
    // Written by ToJsonMembers; anything unreadable keeps the defaults.
    (void)ApplySettings(obj, &s, clamped ? clamped : &ignored);
  }
  return s;
}

std::string StreamSettings::ToJsonMembers() const {
  auto opt = [](std::optional<int64_t> v) { return v ? std::to_string(*v) : std::string("null"); };
  return ",\"schema\":" + (schema_json.empty() ? std::string("null") : schema_json) +
         ",\"retention\":{\"max_age_s\":" + opt(retention_max_age_s) +
         ",\"max_bytes\":" + opt(retention_max_bytes) + "},\"cleanup_policy\":\"" + cleanup_policy +
         "\",\"max_deliveries\":" + std::to_string(max_deliveries) +
         ",\"processing\":{\"rules\":" + (rules ? rules->json() : std::string("[]")) +
         ",\"max_attempts\":" + std::to_string(processing_max_attempts) +
         ",\"backoff_ms\":" + std::to_string(processing_backoff_ms) + "}";
}

}  // namespace eventflow
