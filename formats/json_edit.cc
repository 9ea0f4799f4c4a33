#include "formats/json_edit.h"

#include <bit>
#include <charconv>
#include <cstring>

#include <simdjson.h>

#include "formats/json_writer.h"

namespace eventflow {

Result<std::vector<std::string>> ParseJsonPointer(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer[0] != '/') {
    return Status::InvalidArgument("a JSON Pointer must be empty or start with \"/\"");
  }
  size_t at = 1;
  while (true) {
    const size_t end = std::min(pointer.find('/', at), pointer.size());
    std::string token;
    for (size_t i = at; i < end; ++i) {
      if (pointer[i] != '~') {
        token += pointer[i];
      } else if (i + 1 < end && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
        token += pointer[++i] == '0' ? '~' : '/';
      } else {
        return Status::InvalidArgument("\"~\" must be followed by 0 or 1 in a JSON Pointer");
      }
    }
    tokens.push_back(std::move(token));
    if (end == pointer.size()) break;
    at = end + 1;
  }
  return tokens;
}

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

size_t SkipSpace(std::string_view s, size_t i) {
  while (i < s.size() && IsSpace(s[i])) ++i;
  return i;
}

// Scanning eight bytes at a time (SWAR): a word with a bit set in the top
// of every byte of `w` that is zero. Bits above the lowest may be false
// positives (a borrow runs on), the lowest is always right, and only the
// lowest is used.
constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;
inline uint64_t ZeroBytes(uint64_t w) { return (w - kOnes) & ~w & kHighs; }
inline uint64_t Load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
// The byte index of the lowest flagged byte of a nonzero mask (the first
// in memory on a little-endian machine).
inline size_t FirstFlagged(uint64_t mask) {
  static_assert(std::endian::native == std::endian::little);
  return static_cast<size_t>(std::countr_zero(mask)) / 8;
}

// The index just past the string whose opening quote is at `i`, or npos.
size_t SkipString(std::string_view s, size_t i) {
  const uint64_t quotes = kOnes * '"', backslashes = kOnes * '\\';
  size_t j = i + 1;
  while (true) {
    for (; j + 8 <= s.size(); j += 8) {
      const uint64_t w = Load8(s.data() + j);
      const uint64_t hit = ZeroBytes(w ^ quotes) | ZeroBytes(w ^ backslashes);
      if (hit != 0) {
        j += FirstFlagged(hit);
        break;
      }
    }
    while (j < s.size() && s[j] != '"' && s[j] != '\\') ++j;
    if (j >= s.size()) return std::string_view::npos;
    if (s[j] == '"') return j + 1;
    j += 2;  // a backslash: the next byte is escaped
  }
}

// The index of the next '"', '{', '}', '[' or ']' at or after `i`, or
// s.size().
size_t NextStructural(std::string_view s, size_t i) {
  // '[' | 0x20 is '{' and ']' | 0x20 is '}', and no other byte maps to them.
  const uint64_t quotes = kOnes * '"', opens = kOnes * '{', closes = kOnes * '}';
  const uint64_t case_bit = kOnes * 0x20;
  for (; i + 8 <= s.size(); i += 8) {
    const uint64_t w = Load8(s.data() + i);
    const uint64_t folded = w | case_bit;
    const uint64_t hit =
        ZeroBytes(w ^ quotes) | ZeroBytes(folded ^ opens) | ZeroBytes(folded ^ closes);
    if (hit != 0) return i + FirstFlagged(hit);
  }
  while (i < s.size() && s[i] != '"' && (s[i] | 0x20) != '{' && (s[i] | 0x20) != '}') ++i;
  return i;
}

// The index just past the value starting at `i`, or npos. The text is
// already valid JSON (stored events, minified rule values); this only finds
// where each value ends, so untouched values can be copied as they are.
size_t SkipValue(std::string_view s, size_t i) {
  if (i >= s.size()) return std::string_view::npos;
  if (s[i] == '"') return SkipString(s, i);
  if (s[i] != '{' && s[i] != '[') {
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !IsSpace(s[i])) ++i;
    return i;
  }
  int depth = 0;
  while ((i = NextStructural(s, i)) < s.size()) {
    const char c = s[i];
    if (c == '"') {
      i = SkipString(s, i);
      if (i == std::string_view::npos) return i;
      continue;
    }
    if (c == '{' || c == '[') {
      ++depth;
    } else if (--depth == 0) {
      return i + 1;
    }
    ++i;
  }
  return std::string_view::npos;
}

Status Corrupt() { return Status::InvalidArgument("the document is not valid JSON"); }

// Walks the members of an object or the elements of an array, one at a
// time, as text. Used both to open a node and to look a value up.
class ChildScanner {
 public:
  // False from Start when `s` is a scalar.
  bool Start(std::string_view s) {
    s_ = s;
    i_ = SkipSpace(s, 0);
    if (i_ >= s.size() || (s[i_] != '{' && s[i_] != '[')) return false;
    object_ = s[i_] == '{';
    close_ = object_ ? '}' : ']';
    i_ = SkipSpace(s, i_ + 1);
    done_ = i_ < s.size() && s[i_] == close_;
    return true;
  }
  bool object() const { return object_; }

  // The next member name as written (escaped, without quotes; empty for an
  // array element) and value text. False at the end.
  Result<bool> Next(std::string_view* key, std::string_view* value) {
    auto more = NextKey(key);
    if (!more.ok() || !*more) return more;
    return TakeValue(value);
  }

  // Steps to the next member's value: its name (as for Next) or false at
  // the end. Then either TakeValue, or Rest to look inside the value
  // without finding where it ends.
  Result<bool> NextKey(std::string_view* key) {
    if (done_) return false;
    if (object_) {
      const std::string_view s = s_;
      size_t i = i_;
      if (i >= s.size() || s[i] != '"') return Corrupt();
      const size_t end = SkipString(s, i);
      if (end == std::string_view::npos) return Corrupt();
      *key = s.substr(i + 1, end - i - 2);
      i = SkipSpace(s, end);
      if (i >= s.size() || s[i] != ':') return Corrupt();
      i_ = SkipSpace(s, i + 1);
    } else {
      *key = {};
    }
    return true;
  }
  std::string_view Rest() const { return s_.substr(i_); }
  // The value NextKey stepped to, and the scanner moved past it.
  Result<bool> TakeValue(std::string_view* value) {
    const std::string_view s = s_;
    const size_t end = SkipValue(s, i_);
    if (end == std::string_view::npos || end == i_) return Corrupt();
    *value = s.substr(i_, end - i_);
    const size_t i = SkipSpace(s, end);
    if (i < s.size() && s[i] == ',') {
      i_ = SkipSpace(s, i + 1);
    } else if (i < s.size() && s[i] == close_) {
      done_ = true;
    } else {
      return Corrupt();
    }
    return true;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
  bool object_ = false;
  bool done_ = true;
  char close_ = '}';
};

// Whether a member name as written (escaped, without its quotes) is `token`.
// An escape is always longer than the character it stands for, so a name
// shorter than the token never matches, and one of the same length only
// when it is the same bytes with no escape in it.
bool KeyIs(std::string_view raw, const std::string& token) {
  if (raw.size() < token.size()) return false;
  if (raw.size() == token.size()) {
    return raw == token && raw.find('\\') == std::string_view::npos;
  }
  if (raw.find('\\') == std::string_view::npos) return false;
  // Escaped names are rare: let simdjson unescape this one.
  simdjson::dom::parser parser;
  std::string_view unescaped;
  const std::string quoted = "\"" + std::string(raw) + "\"";
  return !parser.parse(quoted).get(unescaped) && unescaped == token;
}

std::string EscapedKey(const std::string& token) {
  std::string quoted = json::Quote(token);
  return quoted.substr(1, quoted.size() - 2);
}

// An array index token: digits without a leading zero.
std::optional<size_t> ArrayIndex(const std::string& token) {
  if (token.empty() || (token.size() > 1 && token[0] == '0')) return std::nullopt;
  size_t i = 0;
  auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), i);
  if (ec != std::errc() || end != token.data() + token.size()) return std::nullopt;
  return i;
}

}  // namespace

Result<std::optional<std::string_view>> FindJsonValue(std::string_view json,
                                                      const std::vector<std::string>& path) {
  // Every level but the last is entered without finding where it ends.
  std::string_view at = json;
  for (size_t level = 0; level < path.size(); ++level) {
    const std::string& token = path[level];
    const bool last = level + 1 == path.size();
    ChildScanner scan;
    if (!scan.Start(at)) return std::optional<std::string_view>();
    const std::optional<size_t> index = scan.object() ? std::nullopt : ArrayIndex(token);
    if (!scan.object() && !index) return std::optional<std::string_view>();
    std::string_view key, value;
    bool found = false;
    for (size_t n = 0;; ++n) {
      auto more = scan.NextKey(&key);
      if (!more.ok()) return more.status();
      if (!*more) break;
      found = scan.object() ? KeyIs(key, token) : n == *index;
      if (found && !last) {
        at = scan.Rest();
        break;
      }
      auto taken = scan.TakeValue(&value);
      if (!taken.ok()) return taken.status();
      if (found) {
        at = value;
        break;
      }
    }
    if (!found) return std::optional<std::string_view>();
  }
  if (path.empty()) {
    const size_t begin = SkipSpace(at, 0);
    size_t end = at.size();
    while (end > begin && IsSpace(at[end - 1])) --end;
    at = at.substr(begin, end - begin);
  }
  return std::optional<std::string_view>(at);
}

// A value of the document: its text as written (a view into the source or
// into the edit's owned texts) until an edit walks into it, then an object
// or array whose children are again text until walked into.
struct JsonEdit::Node {
  enum class Kind : uint8_t { kText, kObject, kArray };
  Kind kind = Kind::kText;
  std::string_view text;
  // Members of an object, or elements of an array (with empty keys), held
  // by value: opening a node costs one allocation, not one per child.
  std::vector<Member> children;

  // Defined below Member: a vector of an incomplete type cannot be built yet.
  static Node Text(std::string_view t);

  // Turns a text object or array into a node with text children. False for
  // a scalar (it has no children to edit).
  Result<bool> Open();
  // The member named `token` (or element at index `token`), or
  // children.end().
  std::vector<Member>::iterator Find(const std::string& token);
  // The child named `token`, or null when there is none. With `create`, a
  // missing member of an object is added as an empty object, its name kept
  // in `owned`.
  Result<Node*> Child(const std::string& token, bool create, std::deque<std::string>* owned);
  void Write(std::string* out) const;
};

struct JsonEdit::Member {
  std::string_view key;  // as written: escaped, without quotes
  Node value;
};

JsonEdit::Node JsonEdit::Node::Text(std::string_view t) {
  Node n;
  n.text = t;
  return n;
}

Result<bool> JsonEdit::Node::Open() {
  if (kind != Kind::kText) return true;
  ChildScanner scan;
  if (!scan.Start(text)) return false;
  std::vector<Member> out;
  out.reserve(8);
  std::string_view key, value;
  while (true) {
    auto more = scan.Next(&key, &value);
    if (!more.ok()) return more.status();
    if (!*more) break;
    out.push_back(Member{key, Text(value)});
  }
  children = std::move(out);
  kind = scan.object() ? Kind::kObject : Kind::kArray;
  return true;
}

std::vector<JsonEdit::Member>::iterator JsonEdit::Node::Find(const std::string& token) {
  if (kind == Kind::kArray) {
    auto i = ArrayIndex(token);
    return i && *i < children.size() ? children.begin() + static_cast<std::ptrdiff_t>(*i)
                                     : children.end();
  }
  for (auto it = children.begin(); it != children.end(); ++it) {
    if (KeyIs(it->key, token)) return it;
  }
  return children.end();
}

Result<JsonEdit::Node*> JsonEdit::Node::Child(const std::string& token, bool create,
                                              std::deque<std::string>* owned) {
  auto open = Open();
  if (!open.ok()) return open.status();
  if (!*open) return Status::InvalidArgument("cannot look up \"" + token + "\" in a scalar value");
  if (auto it = Find(token); it != children.end()) return &it->value;
  if (!create) return nullptr;
  if (kind == Kind::kArray) {
    return Status::InvalidArgument("array index \"" + token + "\" is out of range");
  }
  Node n;
  n.kind = Kind::kObject;
  owned->push_back(EscapedKey(token));
  children.push_back(Member{owned->back(), std::move(n)});
  return &children.back().value;
}

void JsonEdit::Node::Write(std::string* out) const {
  if (kind == Kind::kText) {
    out->append(text);
    return;
  }
  const bool object = kind == Kind::kObject;
  out->push_back(object ? '{' : '[');
  for (size_t i = 0; i < children.size(); ++i) {
    if (i > 0) out->push_back(',');
    if (object) {
      out->push_back('"');
      out->append(children[i].key);
      out->append("\":");
    }
    children[i].value.Write(out);
  }
  out->push_back(object ? '}' : ']');
}

JsonEdit::JsonEdit(std::unique_ptr<Node> root) : root_(std::move(root)) {}
JsonEdit::JsonEdit(JsonEdit&&) noexcept = default;
JsonEdit& JsonEdit::operator=(JsonEdit&&) noexcept = default;
JsonEdit::~JsonEdit() = default;

Result<JsonEdit> JsonEdit::Parse(std::string_view json) {
  JsonEdit edit(std::make_unique<Node>(Node::Text(json)));
  edit.size_hint_ = json.size();
  return edit;
}

std::string_view JsonEdit::Keep(std::string text) {
  owned_.push_back(std::move(text));
  return owned_.back();
}

Result<std::optional<std::string>> JsonEdit::Get(const Path& path) {
  Node* n = root_.get();
  for (const std::string& token : path) {
    auto child = n->Child(token, false, &owned_);
    if (!child.ok()) return child.status();
    if (*child == nullptr) return std::optional<std::string>();
    n = *child;
  }
  std::string out;
  n->Write(&out);
  return std::optional<std::string>(std::move(out));
}

Status JsonEdit::Set(const Path& path, std::string value_json) {
  return Put(path, Node::Text(Keep(std::move(value_json))));
}

Status JsonEdit::SetView(const Path& path, std::string_view value_json) {
  return Put(path, Node::Text(value_json));
}

Status JsonEdit::Put(const Path& path, Node value) {
  if (path.empty()) {
    *root_ = std::move(value);
    return Status::Ok();
  }
  Node* parent = root_.get();
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    auto child = parent->Child(path[i], true, &owned_);
    if (!child.ok()) return child.status();
    parent = *child;
  }
  const std::string& last = path.back();
  auto open = parent->Open();
  if (!open.ok()) return open.status();
  if (!*open) return Status::InvalidArgument("cannot set \"" + last + "\" in a scalar value");
  if (auto it = parent->Find(last); it != parent->children.end()) {
    it->value = std::move(value);
    return Status::Ok();
  }
  if (parent->kind == Node::Kind::kObject) {
    parent->children.push_back(Member{Keep(EscapedKey(last)), std::move(value)});
    return Status::Ok();
  }
  auto i = ArrayIndex(last);
  if (last != "-" && !(i && *i == parent->children.size())) {
    return Status::InvalidArgument("array index \"" + last + "\" is out of range");
  }
  parent->children.push_back(Member{{}, std::move(value)});
  return Status::Ok();
}

Result<std::optional<JsonEdit::Node>> JsonEdit::Detach(const Path& path) {
  if (path.empty()) return Status::InvalidArgument("cannot take out the whole document");
  Node* parent = root_.get();
  for (size_t i = 0; i < path.size(); ++i) {
    auto open = parent->Open();
    if (!open.ok()) return open.status();
    if (!*open) return std::optional<Node>();  // a scalar has no members
    if (i + 1 == path.size()) break;
    auto child = parent->Child(path[i], false, &owned_);
    if (!child.ok()) return child.status();
    if (*child == nullptr) return std::optional<Node>();
    parent = *child;
  }
  auto it = parent->Find(path.back());
  if (it == parent->children.end()) return std::optional<Node>();
  std::optional<Node> value(std::move(it->value));
  parent->children.erase(it);
  return value;
}

Result<bool> JsonEdit::Remove(const Path& path) {
  auto removed = Detach(path);
  if (!removed.ok()) return removed.status();
  return removed->has_value();
}

Result<bool> JsonEdit::Move(const Path& from, const Path& to) {
  auto value = Detach(from);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return false;
  EF_RETURN_IF_ERROR(Put(to, std::move(**value)));
  return true;
}

std::string JsonEdit::Serialize() const {
  std::string out;
  SerializeTo(&out);
  return out;
}

void JsonEdit::SerializeTo(std::string* out) const {
  out->reserve(out->size() + size_hint_ + 64);
  root_->Write(out);
}

}  // namespace eventflow
