// Helpers to emit JSON text: string escaping per RFC 8259. Used for the
// stored event, manifests and API responses; parsing is simdjson's job.
#pragma once

#include <string>
#include <string_view>

namespace eventflow::json {

// Appends `s` as a quoted JSON string. `s` must be valid UTF-8.
void AppendString(std::string* out, std::string_view s);
std::string Quote(std::string_view s);
// Appends `token` as one JSON Pointer reference token (RFC 6901): "~" as
// "~0", "/" as "~1". The caller writes the "/" before it.
void AppendPointerToken(std::string* out, std::string_view token);
// The value of one hex digit in either case, or -1.
int HexDigitValue(char c);

}  // namespace eventflow::json
