#include "net/event_envelope.h"

#include <simdjson.h>

#include "formats/json_writer.h"
#include "formats/timestamp.h"
#include "formats/uuid.h"
#include "net/api.h"

namespace eventflow {

namespace {

constexpr size_t kMaxKeyBytes = 1024;

// Checks one envelope (a DOM object) and fills `out` except the payload.
// Returns an error message naming the field.
std::optional<std::string> ReadEnvelope(simdjson::dom::object obj, const EnvelopeDefaults& d,
                                        EventDraft* out) {
  std::string_view event_type, version = "v1", key, source = d.source;
  std::optional<int64_t> occurred;
  bool has_type = false, has_payload = false;
  std::string correlation = d.correlation_id, trace = d.trace_id;
  for (auto [name, value] : obj) {
    if (name == "event_type") {
      if (value.get(event_type) || event_type.empty() || event_type.size() > 256) {
        return "event_type must be a non-empty string of at most 256 bytes";
      }
      has_type = true;
    } else if (name == "payload") {
      if (!value.is_object()) return "payload must be a JSON object";
      has_payload = true;
    } else if (name == "event_version") {
      if (value.get(version) || version.empty() || version.size() > 64) {
        return "event_version must be a non-empty string of at most 64 bytes";
      }
    } else if (name == "key") {
      if (value.is_null()) continue;
      if (value.get(key) || key.size() > kMaxKeyBytes)
        return "key must be a string of at most 1 KiB";
      out->has_key = true;
      out->key = std::string(key);
    } else if (name == "event_id") {
      std::string_view id;
      std::optional<Uuid> uuid;
      if (value.get(id) || !(uuid = Uuid::Parse(id))) return "event_id must be a UUID";
      out->event_id = *uuid;
      out->id_assigned_by_server = false;
    } else if (name == "occurred_at") {
      std::string_view t;
      if (value.get(t) || !(occurred = timestamp::Parse(t))) {
        return "occurred_at must be an RFC 3339 timestamp";
      }
    } else if (name == "source") {
      if (value.get(source) || source.empty() || source.size() > 256) {
        return "source must be a non-empty string of at most 256 bytes";
      }
    } else if (name == "context") {
      simdjson::dom::object ctx;
      if (value.get(ctx)) return "context must be an object";
      for (auto [cname, cvalue] : ctx) {
        std::string_view v;
        if (cname != "trace_id" && cname != "correlation_id") {
          return "unknown field context." + std::string(cname);
        }
        if (cvalue.get(v) || v.empty() || v.size() > 128) {
          return "context." + std::string(cname) + " must be a string of 1..128 bytes";
        }
        (cname == "trace_id" ? trace : correlation) = std::string(v);
      }
    } else {
      return "unknown field " + std::string(name);
    }
  }
  if (!has_type) return "event_type is required";
  if (!has_payload) return "payload is required";
  std::string metadata = ",\"metadata\":{\"event_type\":";
  json::AppendString(&metadata, event_type);
  metadata += ",\"event_version\":";
  json::AppendString(&metadata, version);
  metadata +=
      ",\"occurred_at\":\"" + timestamp::Format(occurred.value_or(d.now_ms)) + "\",\"source\":";
  json::AppendString(&metadata, source);
  metadata += ",\"api_key_id\":";
  json::AppendString(&metadata, d.api_key_id);
  metadata += ",\"context\":{\"trace_id\":";
  json::AppendString(&metadata, trace);
  metadata += ",\"correlation_id\":";
  json::AppendString(&metadata, correlation);
  metadata += "}}";
  out->members = std::move(metadata);  // the payload is put in front of it later
  return std::nullopt;
}

// The payload member of each event, as raw (already minified) text, read
// from the minified body with simdjson's on-demand API.
bool PayloadOf(simdjson::ondemand::object obj, std::string_view* raw) {
  for (auto field : obj) {
    std::string_view name;
    if (field.unescaped_key().get(name)) return false;
    if (name == "payload") {
      simdjson::ondemand::object p;
      if (field.value().get_object().get(p)) return false;
      return !p.raw_json().get(*raw);
    }
  }
  return false;
}

void Finish(EventDraft* d, std::string_view payload) {
  std::string members;
  members.reserve(payload.size() + d->members.size() + d->key.size() + 32);
  if (d->has_key) {
    members = ",\"key\":";
    json::AppendString(&members, d->key);
  }
  members += ",\"payload\":";
  members.append(payload);
  members += d->members;
  d->members = std::move(members);
}

// Minifies `body` as text (strings and numbers untouched) into padded
// storage for the on-demand parser.
bool Minify(const std::string& body, simdjson::padded_string* out) {
  std::string buf(body.size(), '\0');
  size_t len = 0;
  if (simdjson::minify(body.data(), body.size(), buf.data(), len)) return false;
  buf.resize(len);
  *out = simdjson::padded_string(buf);
  return true;
}

ApiError InvalidJson(const std::string& why) { return ApiError{400, "invalid_json", why}; }

// Validates the payload of an envelope ReadEnvelope accepted. On failure
// appends the errors to `details` as JSON objects (after `prefix`, e.g.
// `"index":3,`) and returns false.
bool PayloadMatchesSchema(const JsonSchema& schema, simdjson::dom::object envelope,
                          ValidationBudget* budget, const std::string& prefix,
                          std::string* details) {
  simdjson::dom::element payload;
  if (envelope["payload"].get(payload)) return true;  // ReadEnvelope requires it
  std::vector<SchemaError> errors;
  if (schema.Validate(payload, &errors, 16, budget)) return true;
  for (const SchemaError& e : errors) {
    details->append(details->empty() ? "[" : ",");
    details->append("{" + prefix + "\"path\":" + json::Quote(e.path) +
                    ",\"message\":" + json::Quote(e.message) + "}");
  }
  return false;
}

// The DOM parsers of this thread, reused across requests so a small body
// costs no allocation; bodies past kReusedParserBytes get their own parser
// so one huge batch does not pin its buffers to an io thread.
constexpr size_t kReusedParserBytes = 1u << 20;
simdjson::dom::parser& ThreadParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}
// Same for the on-demand parser that finds the raw payload of one event: a
// fresh one allocates its structural buffers on every request.
simdjson::ondemand::parser& ThreadOnDemandParser() {
  thread_local simdjson::ondemand::parser parser;
  return parser;
}

}  // namespace

std::optional<ApiError> ParseEvent(const std::string& body, const EnvelopeDefaults& d,
                                   EventDraft* out) {
  if (body.size() > d.max_event_bytes) {
    return ApiError{413, "event_too_large",
                    "the event is larger than " + std::to_string(d.max_event_bytes) + " bytes"};
  }
  simdjson::dom::parser own_parser;
  simdjson::dom::parser& parser = body.size() <= kReusedParserBytes ? ThreadParser() : own_parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(body).get(root); err) {
    return InvalidJson(std::string("the body is not valid JSON: ") + simdjson::error_message(err));
  }
  if (auto shape = CheckJsonShape(root)) return InvalidJson(*shape);
  simdjson::dom::object obj;
  if (root.get(obj)) return ApiError{400, "invalid_event", "the event must be a JSON object"};
  out->id_assigned_by_server = true;  // the writer gives it its id
  if (auto why = ReadEnvelope(obj, d, out)) return ApiError{400, "invalid_event", *why};
  if (std::string details;
      d.schema && !PayloadMatchesSchema(*d.schema, obj, d.budget, "", &details)) {
    return ApiError{422, "schema_validation_failed",
                    "the payload does not match the stream's schema", details + "]"};
  }
  simdjson::padded_string min;
  simdjson::ondemand::parser own_od;
  simdjson::ondemand::parser& od =
      body.size() <= kReusedParserBytes ? ThreadOnDemandParser() : own_od;
  simdjson::ondemand::document doc;
  simdjson::ondemand::object top;
  std::string_view payload;
  if (!Minify(body, &min) || od.iterate(min).get(doc) || doc.get_object().get(top) ||
      !PayloadOf(top, &payload)) {
    return InvalidJson("the body could not be read");
  }
  Finish(out, payload);
  return std::nullopt;
}

std::optional<ApiError> ParseBatch(const std::string& body, const EnvelopeDefaults& d,
                                   std::vector<EventDraft>* out) {
  simdjson::dom::parser own_parser;
  simdjson::dom::parser& parser = body.size() <= kReusedParserBytes ? ThreadParser() : own_parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(body).get(root); err) {
    return InvalidJson(std::string("the body is not valid JSON: ") + simdjson::error_message(err));
  }
  simdjson::dom::object top;
  simdjson::dom::array events;
  if (root.get(top) || top.size() != 1 || top["events"].get(events)) {
    return ApiError{400, "invalid_event", "the body must be {\"events\": [...]}"};
  }
  if (events.size() == 0) return ApiError{400, "invalid_event", "events is empty"};
  if (events.size() > d.max_batch_events) {
    return ApiError{413, "batch_too_large",
                    "a batch holds at most " + std::to_string(d.max_batch_events) + " events"};
  }
  // Every bad event is named; nothing is stored unless all are good. The
  // answer's status is the gravest: 413 over 400 over 422 (only schemas failed).
  std::string details;
  int status = 0;
  std::string code;
  auto rank = [](int st) { return st == 413 ? 3 : st == 400 ? 2 : 1; };
  auto note = [&](int st, const char* c) {
    if (status == 0 || rank(st) > rank(status)) {
      status = st;
      code = c;
    }
  };
  auto bad = [&](size_t i, const std::string& why, int st, const char* c) {
    if (details.size() < 64 * 1024) {
      details += details.empty() ? "[" : ",";
      details += "{\"index\":" + std::to_string(i) + ",\"message\":" + json::Quote(why) + "}";
    }
    note(st, c);
  };
  out->assign(events.size(), EventDraft{});
  // An event is never larger than the body: only a body over the limit needs
  // each event measured (minified, as it is stored).
  const bool measure = body.size() > d.max_event_bytes;
  size_t i = 0;
  for (simdjson::dom::element e : events) {
    if (auto shape = CheckJsonShape(e)) {
      bad(i, *shape, 400, "invalid_json");
    } else if (measure && simdjson::minify(e).size() > d.max_event_bytes) {
      bad(i, "the event is larger than " + std::to_string(d.max_event_bytes) + " bytes", 413,
          "event_too_large");
    } else {
      simdjson::dom::object obj;
      (*out)[i].id_assigned_by_server = true;  // the writer gives it its id
      if (e.get(obj)) {
        bad(i, "the event must be a JSON object", 400, "invalid_event");
      } else if (auto why = ReadEnvelope(obj, d, &(*out)[i])) {
        bad(i, *why, 400, "invalid_event");
      } else if (d.schema) {
        std::string schema_details;
        if (!PayloadMatchesSchema(*d.schema, obj, d.budget, "\"index\":" + std::to_string(i) + ",",
                                  &schema_details)) {
          if (details.size() < 64 * 1024) {
            details += details.empty() ? "[" : ",";
            details.append(schema_details, 1);  // without its "["
          }
          note(422, "schema_validation_failed");
        }
      }
    }
    ++i;
  }
  if (status != 0) {
    return ApiError{status, code, "the batch was refused; nothing was stored", details + "]"};
  }
  simdjson::padded_string min;
  simdjson::ondemand::parser own_od;
  simdjson::ondemand::parser& od =
      body.size() <= kReusedParserBytes ? ThreadOnDemandParser() : own_od;
  simdjson::ondemand::document doc;
  simdjson::ondemand::array arr;
  if (!Minify(body, &min) || od.iterate(min).get(doc) || doc["events"].get_array().get(arr)) {
    return InvalidJson("the body could not be read");
  }
  i = 0;
  for (auto element : arr) {
    simdjson::ondemand::object obj;
    std::string_view payload;
    if (i >= out->size() || element.get_object().get(obj) || !PayloadOf(obj, &payload)) {
      return InvalidJson("the body could not be read");
    }
    Finish(&(*out)[i++], payload);
  }
  return std::nullopt;
}

}  // namespace eventflow
