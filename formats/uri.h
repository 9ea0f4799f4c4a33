// URI references (RFC 3986) as JSON Schema $id and $ref need them: resolving a
// reference against a base, and splitting off / percent-decoding a fragment.
// Pure functions over strings; no normalisation beyond dot-segment removal.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace eventflow::uri {

// Resolves `ref` against `base` (RFC 3986 section 5.2.2, non-strict). `base`
// should be absolute; when it is not (a document without an $id), the result
// is the relative merge, which still compares equal for equal inputs. Runs in
// time linear in the input sizes.
std::string Resolve(std::string_view base, std::string_view ref);

// "a#b" -> {"a", "b"}; "a" -> {"a", ""}. An empty fragment means the same
// resource as no fragment.
struct Split {
  std::string_view resource;
  std::string_view fragment;
};
Split SplitFragment(std::string_view uri);

// Decodes %XX escapes; nullopt for a malformed escape.
std::optional<std::string> PercentDecode(std::string_view s);

}  // namespace eventflow::uri
