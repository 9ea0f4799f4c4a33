// Query string parameters of request targets ("a=1&b=x%3Ay").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eventflow {

// Decodes %XX escapes and '+' in one query component.
std::string Unescape(std::string_view s);
// The decoded value of parameter `name`, or nullopt if absent.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name);
// An integer parameter in [lo, hi], `def` when absent; nullopt and *bad set
// when present but malformed or out of range.
std::optional<int64_t> IntParam(std::string_view query, std::string_view name, int64_t def,
                                int64_t lo, int64_t hi, bool* bad);

}  // namespace eventflow
