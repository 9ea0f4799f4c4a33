// Compiler: "pattern" and "patternProperties" regular expressions. JSON Schema
// specifies ECMA-262 syntax; RE2 reads nearly all of the common subset the
// same way. Where the meanings differ and RE2 can say the ECMA one, the
// pattern is rewritten first: \s and \S (ECMA's whitespace includes \v, NBSP,
// U+FEFF and the Unicode space separators) and \cX control escapes. Anything
// RE2 cannot express (look-around, back-references) fails to compile.
#include <string>

#include "formats/json_schema_compiler.h"

namespace eventflow::json_schema {

namespace {

// ECMA-262 WhiteSpace and LineTerminator, as RE2 class members.
constexpr std::string_view kEcmaSpace =
    "\\t\\n\\x{0b}\\f\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}"
    "\\x{205f}\\x{3000}\\x{feff}";

constexpr int64_t kPatternMaxMem = 1 << 20;
// RE2 instructions over all patterns of a schema (each takes 16 bytes or so).
constexpr size_t kMaxPatternProgramSize = 1 << 20;

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

}  // namespace

std::string EcmaToRe2(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size());
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's') {
        out.append(in_class ? "" : "[").append(kEcmaSpace).append(in_class ? "" : "]");
      } else if (e == 'S' && !in_class) {
        // (Inside a class RE2's own \S, which lacks only the non-ASCII spaces, stays.)
        out.append("[^").append(kEcmaSpace).append("]");
      } else if (e == 'c' && i + 1 < pattern.size() && IsAsciiLetter(pattern[i + 1])) {
        static constexpr char kHex[] = "0123456789abcdef";
        const int code = pattern[++i] % 32;
        out.append("\\x{").append(1, kHex[code >> 4]).append(1, kHex[code & 15]).append("}");
      } else {
        out.append(1, c).append(1, e);
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
    } else if (c == ']' && in_class) {
      in_class = false;
    }
    out += c;
  }
  return out;
}

Status Compiler::CompilePattern(uint32_t loc, std::string_view keyword, std::string_view source,
                                Pattern* out) {
  RE2::Options options;
  options.set_log_errors(false);  // the error goes into the Status instead
  // Bounds one pattern's program and its lazily built DFA (RE2 falls back to
  // its NFA, still linear, when the DFA budget runs out).
  options.set_max_mem(kPatternMaxMem);
  out->source = std::string(source);
  out->re = std::make_unique<const RE2>(EcmaToRe2(source), options);
  if (!out->re->ok()) {
    return Bad(loc, "\"" + std::string(keyword) + "\" has pattern \"" + out->source +
                        "\", which RE2 cannot compile: " + out->re->error());
  }
  pattern_program_size_ += static_cast<size_t>(out->re->ProgramSize());
  if (pattern_program_size_ > kMaxPatternProgramSize) {
    return Bad(loc, "the schema's patterns are too large in total (more than " +
                        std::to_string(kMaxPatternProgramSize) + " RE2 instructions)");
  }
  return Status::Ok();
}

}  // namespace eventflow::json_schema
