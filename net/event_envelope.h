// Reading producer requests: one event envelope (or a batch of them) from a
// request body into EventDrafts for the engine. The payload is kept as the
// producer wrote it, minified (numbers, strings and key order unchanged);
// the metadata object is built here. Validation order follows the contract:
// JSON well-formed (invalid_json), then envelope fields (invalid_event), then
// the stream's schema on the payload (422 schema_validation_failed).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "formats/json_schema.h"
#include "formats/stored_event.h"
#include "net/api_error.h"

namespace eventflow {

struct EnvelopeDefaults {
  std::string correlation_id;  // from X-Correlation-ID
  std::string trace_id;        // from traceparent, or a new one
  std::string api_key_id;
  std::string source;  // the key's name
  int64_t now_ms = 0;
  uint64_t max_event_bytes = 1u << 20;
  uint32_t max_batch_events = 10000;
  const JsonSchema* schema = nullptr;  // the stream's, or none
  // Shared by every payload the call checks; null: each may take
  // JsonSchema::kMaxValidationSteps. A payload that runs out of steps is a
  // 422 naming it "too costly to validate".
  ValidationBudget* budget = nullptr;
};

// Parses a single-event body. On error returns the ApiError to send.
std::optional<ApiError> ParseEvent(const std::string& body, const EnvelopeDefaults& d,
                                   EventDraft* out);
// Parses {"events": [...]}: all or nothing; errors name each bad index.
std::optional<ApiError> ParseBatch(const std::string& body, const EnvelopeDefaults& d,
                                   std::vector<EventDraft>* out);

}  // namespace eventflow
