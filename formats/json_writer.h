// Helpers to emit JSON text: string escaping per RFC 8259. Used for the
// stored event, manifests and API responses; parsing is simdjson's job.
#pragma once

#include <string>
#include <string_view>

namespace eventflow::json {

// Appends `s` as a quoted JSON string. `s` must be valid UTF-8.
void AppendString(std::string* out, std::string_view s);
std::string Quote(std::string_view s);
// Appends bytes from outside (a request's path or header, a client's nack
// reason) as a quoted JSON string that is always valid UTF-8 and safe on a
// terminal: each byte that does not begin a well-formed UTF-8 sequence
// becomes U+FFFD, and every control character (C0, DEL and C1, e.g. ESC
// and CSI) is escaped as \u00XX.
void AppendUntrustedString(std::string* out, std::string_view s);
// True when `s` is printable ASCII without space, '"', '=' or '\\': safe
// to write unquoted in a text log line.
bool IsPlainToken(std::string_view s);
// Appends `token` as one JSON Pointer reference token (RFC 6901): "~" as
// "~0", "/" as "~1". The caller writes the "/" before it.
void AppendPointerToken(std::string* out, std::string_view token);
// The value of one hex digit in either case, or -1.
int HexDigitValue(char c);

}  // namespace eventflow::json
