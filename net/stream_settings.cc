#include "net/stream_settings.h"

#include "formats/uuid.h"

namespace eventflow {

namespace {
ApiError Invalid(std::string msg) { return ApiError{400, "invalid_stream", std::move(msg)}; }

// A non-negative integer member, or an error naming it.
std::optional<ApiError> ReadCount(simdjson::dom::element v, const std::string& name, int64_t min,
                                  int64_t* out) {
  int64_t n;
  if (v.get(n) || n < min) {
    return Invalid(name + " must be an integer >= " + std::to_string(min));
  }
  *out = n;
  return std::nullopt;
}
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
  for (auto [key, value] : body) {
    if (key == "name") continue;
    if (key == "schema") {
      if (value.is_null()) {
        out->schema_json.clear();
        out->schema.reset();
        continue;
      }
      if (!value.is_object() && !value.is_bool()) {
        return Invalid("schema must be a JSON Schema (an object or a boolean) or null");
      }
      std::string text = simdjson::minify(value);
      auto compiled = JsonSchema::Compile(text);
      if (!compiled.ok()) return Invalid("schema: " + compiled.status().message());
      out->schema_json = std::move(text);
      out->schema = std::move(*compiled);
    } else if (key == "retention") {
      if (value.is_null()) continue;
      simdjson::dom::object r;
      if (value.get(r)) return Invalid("retention must be an object");
      for (auto [rk, rv] : r) {
        int64_t n = 0;
        if (rk == "max_age_s" || rk == "max_bytes") {
          if (rv.is_null()) continue;
          if (auto e = ReadCount(rv, "retention." + std::string(rk), 1, &n)) return e;
          (rk == "max_age_s" ? out->retention_max_age_s : out->retention_max_bytes) = n;
        } else {
          return Invalid("unknown field retention." + std::string(rk));
        }
      }
    } else if (key == "cleanup_policy") {
      std::string_view p;
      if (value.get(p) || (p != "delete" && p != "compact")) {
        return Invalid("cleanup_policy must be \"delete\" or \"compact\"");
      }
      out->cleanup_policy = p;
    } else if (key == "max_deliveries") {
      if (auto e = ReadCount(value, "max_deliveries", 1, &out->max_deliveries)) return e;
    } else if (key == "processing") {
      simdjson::dom::object p;
      if (value.get(p)) return Invalid("processing must be an object");
      for (auto [pk, pv] : p) {
        if (pk == "rules") {
          if (!pv.is_array()) return Invalid("processing.rules must be an array");
          auto rules = ProcessingRules::Compile(pv);
          if (!rules.ok()) return Invalid("processing." + rules.status().message());
          out->rules = (*rules)->empty() ? nullptr : std::move(*rules);
        } else if (pk == "max_attempts") {
          if (auto e = ReadCount(pv, "processing.max_attempts", 1, &out->processing_max_attempts))
            return e;
        } else if (pk == "backoff_ms") {
          if (auto e = ReadCount(pv, "processing.backoff_ms", 0, &out->processing_backoff_ms))
            return e;
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

StreamSettings StreamSettings::FromManifestJson(std::string_view json) {
  StreamSettings s;
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (!parser.parse(json.data(), json.size()).get(obj)) {
    // Written by ToJsonMembers; anything unreadable keeps the defaults.
    (void)FromRequest(obj, &s);
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
