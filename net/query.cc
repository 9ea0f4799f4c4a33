#include "net/query.h"

#include <charconv>

namespace eventflow {

// Decodes %XX and '+' in a query component.
std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec != std::errc() || p != s.data() + i + 3) {
        out.push_back(s[i]);
        continue;
      }
      out.push_back(static_cast<char>(v));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    const size_t eq = part.find('=');
    if (Unescape(part.substr(0, eq)) == name) {
      return eq == std::string_view::npos ? std::string() : Unescape(part.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<int64_t> IntParam(std::string_view query, std::string_view name, int64_t def,
                                int64_t lo, int64_t hi, bool* bad) {
  auto v = QueryParam(query, name);
  if (!v) return def;
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size() || n < lo || n > hi) {
    *bad = true;
    return std::nullopt;
  }
  return n;
}

}  // namespace eventflow
