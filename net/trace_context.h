// W3C Trace Context (https://www.w3.org/TR/trace-context/): reading a
// request's `traceparent` header and making the server span's one. No
// OpenTelemetry SDK is in Debian 12, and this is all the server needs of it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace eventflow {

// The trace a request belongs to and the server's span in it.
struct TraceContext {
  std::string trace_id;  // 32 lowercase hex, not all zero
  std::string span_id;   // 16 lowercase hex, not all zero: this server's span

  // The request's trace (from a valid `traceparent`) or a new one, with a new span.
  static TraceContext ForRequest(std::string_view traceparent_header);
  // "00-<trace_id>-<span_id>-01", for the response's `traceparent`.
  std::string Traceparent() const;
};

// The trace id of a W3C traceparent header, or nullopt if it is malformed
// (then the header is treated as absent).
std::optional<std::string> TraceIdFromTraceparent(std::string_view header);
// A new random 32-hex trace id / 16-hex span id (never all zero).
std::string NewTraceId();
std::string NewSpanId();

}  // namespace eventflow
