// RFC 3339 UTC timestamps with milliseconds ("2026-11-24T10:00:00.123Z"), the
// only time format of the API, and the clock the engine stamps records with.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eventflow::timestamp {

inline constexpr size_t kFormattedSize = 24;

// Milliseconds since the Unix epoch, from the system clock.
int64_t NowMs();
// Writes exactly kFormattedSize characters.
void FormatTo(int64_t ms, char* dst);
std::string Format(int64_t ms);
// Accepts RFC 3339 with any fraction (truncated to ms) and a Z or +hh:mm
// offset; nullopt otherwise.
std::optional<int64_t> Parse(std::string_view text);

}  // namespace eventflow::timestamp
