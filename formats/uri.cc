#include "formats/uri.h"

#include "formats/json_writer.h"

namespace eventflow::uri {

namespace {

struct Parts {
  std::string_view scheme, authority, path, query, fragment;
  bool has_scheme = false, has_authority = false, has_query = false, has_fragment = false;
};

bool IsSchemeChar(char c, bool first) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (first) return alpha;
  return alpha || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

// RFC 3986 appendix B, without a regex.
Parts Parse(std::string_view s) {
  Parts p;
  const size_t colon = s.find_first_of(":/?#");
  if (colon != std::string_view::npos && colon > 0 && s[colon] == ':') {
    bool ok = true;
    for (size_t i = 0; i < colon && ok; ++i) ok = IsSchemeChar(s[i], i == 0);
    if (ok) {
      p.has_scheme = true;
      p.scheme = s.substr(0, colon);
      s.remove_prefix(colon + 1);
    }
  }
  if (s.size() >= 2 && s[0] == '/' && s[1] == '/') {
    s.remove_prefix(2);
    const size_t end = s.find_first_of("/?#");
    p.has_authority = true;
    p.authority = s.substr(0, end);
    s = end == std::string_view::npos ? std::string_view() : s.substr(end);
  }
  const size_t hash = s.find('#');
  if (hash != std::string_view::npos) {
    p.has_fragment = true;
    p.fragment = s.substr(hash + 1);
    s = s.substr(0, hash);
  }
  const size_t q = s.find('?');
  if (q != std::string_view::npos) {
    p.has_query = true;
    p.query = s.substr(q + 1);
    s = s.substr(0, q);
  }
  p.path = s;
  return p;
}

// Drops the last segment of `out` and its leading "/", if any.
void PopSegment(std::string* out) {
  const size_t slash = out->rfind('/');
  out->resize(slash == std::string::npos ? 0 : slash);
}

// RFC 3986 section 5.2.4; each input byte is copied at most once and erased at
// most once, so this is linear.
std::string RemoveDotSegments(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.remove_prefix(3);
    } else if (in.starts_with("./")) {
      in.remove_prefix(2);
    } else if (in.starts_with("/./")) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = in.substr(0, 1);
    } else if (in.starts_with("/../")) {
      in.remove_prefix(3);
      PopSegment(&out);
    } else if (in == "/..") {
      in = in.substr(0, 1);
      PopSegment(&out);
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      const size_t next = in.find('/', 1);
      const size_t n = next == std::string_view::npos ? in.size() : next;
      out.append(in.substr(0, n));
      in.remove_prefix(n);
    }
  }
  return out;
}

std::string Merge(const Parts& base, std::string_view ref_path) {
  std::string merged;
  if (base.has_authority && base.path.empty()) {
    merged.reserve(ref_path.size() + 1);
    merged += '/';
  } else {
    const size_t slash = base.path.rfind('/');
    if (slash != std::string_view::npos) {
      merged.reserve(slash + 1 + ref_path.size());
      merged.append(base.path.substr(0, slash + 1));
    }
  }
  merged.append(ref_path);
  return merged;
}

std::string Compose(const Parts& t, const std::string& path) {
  std::string out;
  out.reserve(t.scheme.size() + t.authority.size() + path.size() + t.query.size() +
              t.fragment.size() + 6);
  if (t.has_scheme) out.append(t.scheme).append(":");
  if (t.has_authority) out.append("//").append(t.authority);
  out.append(path);
  if (t.has_query) out.append("?").append(t.query);
  if (t.has_fragment) out.append("#").append(t.fragment);
  return out;
}

}  // namespace

std::string Resolve(std::string_view base_text, std::string_view ref_text) {
  const Parts r = Parse(ref_text);
  if (r.has_scheme) return Compose(r, RemoveDotSegments(r.path));
  const Parts base = Parse(base_text);
  Parts t;
  t.has_scheme = base.has_scheme;
  t.scheme = base.scheme;
  t.has_fragment = r.has_fragment;
  t.fragment = r.fragment;
  std::string path;
  if (r.has_authority) {
    t.has_authority = true;
    t.authority = r.authority;
    path = RemoveDotSegments(r.path);
    t.has_query = r.has_query;
    t.query = r.query;
    return Compose(t, path);
  }
  t.has_authority = base.has_authority;
  t.authority = base.authority;
  if (r.path.empty()) {
    path = std::string(base.path);
    t.has_query = r.has_query || base.has_query;
    t.query = r.has_query ? r.query : base.query;
  } else if (r.path.front() == '/') {
    path = RemoveDotSegments(r.path);
    t.has_query = r.has_query;
    t.query = r.query;
  } else {
    path = RemoveDotSegments(Merge(base, r.path));
    t.has_query = r.has_query;
    t.query = r.query;
  }
  return Compose(t, path);
}

Split SplitFragment(std::string_view s) {
  const size_t hash = s.find('#');
  if (hash == std::string_view::npos) return {s, {}};
  return {s.substr(0, hash), s.substr(hash + 1)};
}

std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = json::HexDigitValue(s[i + 1]), lo = json::HexDigitValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

}  // namespace eventflow::uri
