#include "formats/segment_name.h"

#include <cstdio>

namespace eventflow::segment_name {

std::string Make(uint64_t base_offset) { return MakeWithSuffix(base_offset, kSuffix); }

std::string MakeWithSuffix(uint64_t base_offset, std::string_view suffix) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(base_offset));
  return std::string(buf) + std::string(suffix);
}

std::optional<uint64_t> Parse(std::string_view name) { return ParseWithSuffix(name, kSuffix); }

std::optional<uint64_t> ParseWithSuffix(std::string_view name, std::string_view suffix) {
  if (name.size() != 20 + suffix.size() || name.substr(20) != suffix) return std::nullopt;
  uint64_t value = 0;
  for (char c : name.substr(0, 20)) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

}  // namespace eventflow::segment_name
