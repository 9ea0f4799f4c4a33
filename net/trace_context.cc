#include "net/trace_context.h"

#include "formats/random.h"

namespace eventflow {

namespace {

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

// `words` random 64-bit values as 16 hex digits each, never all zero.
std::string RandomHex(int words) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  do {
    out.clear();
    for (int w = 0; w < words; ++w) {
      uint64_t v = RandomBits();
      for (int i = 0; i < 16; ++i, v >>= 4) out.push_back(kHex[v & 0xf]);
    }
  } while (AllZero(out));
  return out;
}

}  // namespace

std::optional<std::string> TraceIdFromTraceparent(std::string_view h) {
  // version "-" trace-id "-" parent-id "-" flags: 2-32-16-2 lowercase hex.
  // Version 00 is exactly 55 characters; a later version may append fields
  // after a "-", which are ignored (the spec's forward compatibility rule).
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return std::nullopt;
  const std::string_view version = h.substr(0, 2), trace = h.substr(3, 32),
                         parent = h.substr(36, 16), flags = h.substr(53, 2);
  if (!IsLowerHex(version) || version == "ff" || !IsLowerHex(trace) || !IsLowerHex(parent) ||
      !IsLowerHex(flags) || AllZero(trace) || AllZero(parent)) {
    return std::nullopt;
  }
  if (version == "00" ? h.size() != 55 : (h.size() > 55 && h[55] != '-')) return std::nullopt;
  return std::string(trace);
}

std::string NewTraceId() { return RandomHex(2); }
std::string NewSpanId() { return RandomHex(1); }

TraceContext TraceContext::ForRequest(std::string_view traceparent_header) {
  TraceContext t;
  auto trace = TraceIdFromTraceparent(traceparent_header);
  t.trace_id = trace ? std::move(*trace) : NewTraceId();
  t.span_id = NewSpanId();
  return t;
}

std::string TraceContext::Traceparent() const { return "00-" + trace_id + "-" + span_id + "-01"; }

}  // namespace eventflow
