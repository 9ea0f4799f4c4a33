// libFuzzer target: JsonEdit (formats/json_edit.h). The input is a JSON
// document, "\n--\n", then edits, one per line: a letter (g get, s set, r
// remove, m move), a JSON Pointer, and for s a value or for m a second
// pointer after a tab. Whatever the edits, the document serializes to valid
// JSON.
#include <cstdint>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "formats/json_edit.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using eventflow::JsonEdit;

// The path of a pointer, or nullopt when it is not one. Pointers come from
// JSON strings (rules, requests), so they are valid UTF-8: others are not
// given to JsonEdit (a member it makes is named by the token's bytes).
std::optional<JsonEdit::Path> PathOf(std::string_view pointer) {
  if (!simdjson::validate_utf8(pointer.data(), pointer.size())) return std::nullopt;
  auto path = eventflow::ParseJsonPointer(pointer);
  // Writers bound their paths (processing rules: kMaxWritePathTokens).
  if (!path.ok() || path->size() > eventflow::kMaxWritePathTokens) return std::nullopt;
  return *path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace eventflow;
  const auto parts = fuzz::SplitInput(data, size, 2);
  const std::string doc(parts[0]);
  if (!fuzz::ValidJson(doc)) return 0;  // Parse takes valid JSON only
  auto edit = JsonEdit::Parse(doc);
  if (!edit.ok()) return 0;
  std::string_view edits = parts[1];
  for (int n = 0; n < 32 && !edits.empty(); ++n) {
    size_t end = edits.find('\n');
    if (end == std::string_view::npos) end = edits.size();
    std::string_view line = edits.substr(0, end);
    edits.remove_prefix(std::min(end + 1, edits.size()));
    if (line.empty()) continue;
    const char op = line[0];
    line.remove_prefix(1);
    const size_t tab = line.find('\t');
    const std::string_view first = line.substr(0, tab);
    const std::string_view second =
        tab == std::string_view::npos ? std::string_view() : line.substr(tab + 1);
    auto path = PathOf(first);
    if (!path) continue;
    switch (op) {
      case 'g':
        (void)edit->Get(*path);
        break;
      case 's':
        // Set takes valid, minified JSON.
        if (fuzz::ValidJson(second)) {
          simdjson::dom::parser parser;
          simdjson::dom::element value;
          const std::string text(second);
          if (!parser.parse(text).get(value)) (void)edit->Set(*path, simdjson::minify(value));
        }
        break;
      case 'r':
        (void)edit->Remove(*path);
        break;
      case 'm':
        if (auto to = PathOf(second)) (void)edit->Move(*path, *to);
        break;
      default:
        break;
    }
  }
  const std::string out = edit->Serialize();
  if (!fuzz::ValidJson(out)) fuzz::Fail("edits made invalid JSON", out);
  return 0;
}
