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
// The instants a four-digit year can show: 0000-01-01T00:00:00.000Z and
// 9999-12-31T23:59:59.999Z.
inline constexpr int64_t kMinMs = -62167219200000;
inline constexpr int64_t kMaxMs = 253402300799999;
// Writes exactly kFormattedSize characters; `ms` outside kMinMs..kMaxMs is
// written as the nearer end.
void FormatTo(int64_t ms, char* dst);
std::string Format(int64_t ms);
// Accepts RFC 3339 with any fraction (truncated to ms) and a Z or +hh:mm
// offset, naming an instant in kMinMs..kMaxMs (0000-01-01T00:30:00+01:00 is
// a year -1 instant: refused); nullopt otherwise.
std::optional<int64_t> Parse(std::string_view text);

}  // namespace eventflow::timestamp
