// Helpers for the libFuzzer targets: splitting one input into parts, and
// the checks a target makes of what the code under test returns.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace eventflow::fuzz {

// Splits the input at each "\n--\n" into at most `parts` pieces (the last
// one takes the rest), so a seed file reads as its parts one after another.
inline std::vector<std::string_view> SplitInput(const uint8_t* data, size_t size, size_t parts) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> out;
  constexpr std::string_view kSeparator = "\n--\n";
  while (out.size() + 1 < parts) {
    const size_t at = rest.find(kSeparator);
    if (at == std::string_view::npos) break;
    out.push_back(rest.substr(0, at));
    rest.remove_prefix(at + kSeparator.size());
  }
  out.push_back(rest);
  out.resize(parts);  // missing parts are empty
  return out;
}

// Whether `text` is one valid JSON document. Parsed from a copy: an empty
// view may have no data pointer, which simdjson would copy from.
inline bool ValidJson(std::string_view text) {
  static thread_local simdjson::dom::parser parser;
  simdjson::dom::element ignored;
  const std::string copy(text);
  return !parser.parse(copy).get(ignored);
}

// A broken invariant: prints it and aborts, which libFuzzer reports as a
// crash with this input.
[[noreturn]] inline void Fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz invariant broken: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

}  // namespace eventflow::fuzz
