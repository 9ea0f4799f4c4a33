#include "formats/json_edit.h"

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

// The index just past the string whose opening quote is at `i`, or npos.
size_t SkipString(std::string_view s, size_t i) {
  while (true) {
    const void* q = std::memchr(s.data() + i + 1, '"', s.size() - i - 1);
    if (q == nullptr) return std::string_view::npos;
    i = static_cast<size_t>(static_cast<const char*>(q) - s.data());
    // Escaped if an odd number of backslashes precede it.
    size_t backslashes = 0;
    while (s[i - 1 - backslashes] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return i + 1;
  }
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
  while (i < s.size()) {
    const char c = s[i];
    if (c == '"') {
      i = SkipString(s, i);
      if (i == std::string_view::npos) return i;
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if ((c == '}' || c == ']') && --depth == 0) return i + 1;
    ++i;
  }
  return std::string_view::npos;
}

// Whether a member name as written (escaped, without its quotes) is `token`.
bool KeyIs(std::string_view raw, const std::string& token) {
  if (raw.find('\\') == std::string_view::npos) return raw == token;
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

}  // namespace

// A value of the document: text as written (a view into the source, or an
// owned value a Set put there) until an edit walks into it, then an object
// or array whose children are again text until walked into.
struct JsonEdit::Node {
  enum class Kind { kText, kObject, kArray };
  Kind kind = Kind::kText;
  std::string_view text;  // into the source, or into `owned`
  std::string owned;
  // Member names as written (escaped, without quotes).
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> members;
  std::vector<std::unique_ptr<Node>> items;

  static std::unique_ptr<Node> View(std::string_view t) {
    auto n = std::make_unique<Node>();
    n->text = t;
    return n;
  }
  static std::unique_ptr<Node> Owned(std::string t) {
    auto n = std::make_unique<Node>();
    n->owned = std::move(t);
    n->text = n->owned;
    return n;
  }

  static Status Corrupt() { return Status::InvalidArgument("the document is not valid JSON"); }

  // Turns a text object or array into a node with text children. False for
  // a scalar (it has no children to edit).
  Result<bool> Open() {
    if (kind != Kind::kText) return true;
    const std::string_view s = text;
    size_t i = SkipSpace(s, 0);
    if (i >= s.size() || (s[i] != '{' && s[i] != '[')) return false;
    const bool object = s[i] == '{';
    const char close = object ? '}' : ']';
    std::vector<std::pair<std::string, std::unique_ptr<Node>>> out_members;
    std::vector<std::unique_ptr<Node>> out_items;
    i = SkipSpace(s, i + 1);
    if (i < s.size() && s[i] == close) {
      ++i;
    } else {
      while (true) {
        std::string key;
        if (object) {
          if (i >= s.size() || s[i] != '"') return Corrupt();
          const size_t end = SkipString(s, i);
          if (end == std::string_view::npos) return Corrupt();
          key = s.substr(i + 1, end - i - 2);
          i = SkipSpace(s, end);
          if (i >= s.size() || s[i] != ':') return Corrupt();
          i = SkipSpace(s, i + 1);
        }
        const size_t end = SkipValue(s, i);
        if (end == std::string_view::npos || end == i) return Corrupt();
        if (object) {
          out_members.emplace_back(std::move(key), View(s.substr(i, end - i)));
        } else {
          out_items.push_back(View(s.substr(i, end - i)));
        }
        i = SkipSpace(s, end);
        if (i < s.size() && s[i] == ',') {
          i = SkipSpace(s, i + 1);
          continue;
        }
        if (i < s.size() && s[i] == close) break;
        return Corrupt();
      }
    }
    members = std::move(out_members);
    items = std::move(out_items);
    kind = object ? Kind::kObject : Kind::kArray;
    return true;
  }

  // An array index token: digits without a leading zero.
  static std::optional<size_t> Index(const std::string& token) {
    if (token.empty() || (token.size() > 1 && token[0] == '0')) return std::nullopt;
    size_t i = 0;
    auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), i);
    if (ec != std::errc() || end != token.data() + token.size()) return std::nullopt;
    return i;
  }

  // The member named `token`, or members.end().
  auto FindMember(const std::string& token) {
    for (auto it = members.begin(); it != members.end(); ++it) {
      if (KeyIs(it->first, token)) return it;
    }
    return members.end();
  }

  // The child named `token`, or null when there is none. With `create`, a
  // missing member of an object is added as an empty object.
  Result<Node*> Child(const std::string& token, bool create) {
    auto open = Open();
    if (!open.ok()) return open.status();
    if (!*open) {
      return Status::InvalidArgument("cannot look up \"" + token + "\" in a scalar value");
    }
    if (kind == Kind::kObject) {
      if (auto it = FindMember(token); it != members.end()) return it->second.get();
      if (!create) return nullptr;
      auto n = std::make_unique<Node>();
      n->kind = Kind::kObject;
      members.emplace_back(EscapedKey(token), std::move(n));
      return members.back().second.get();
    }
    auto i = Index(token);
    if (i && *i < items.size()) return items[*i].get();
    if (!create) return nullptr;
    return Status::InvalidArgument("array index \"" + token + "\" is out of range");
  }

  void Write(std::string* out) const {
    if (kind == Kind::kText) {
      out->append(text);
    } else if (kind == Kind::kObject) {
      out->push_back('{');
      for (size_t i = 0; i < members.size(); ++i) {
        if (i > 0) out->push_back(',');
        out->push_back('"');
        out->append(members[i].first);
        out->append("\":");
        members[i].second->Write(out);
      }
      out->push_back('}');
    } else {
      out->push_back('[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out->push_back(',');
        items[i]->Write(out);
      }
      out->push_back(']');
    }
  }
};

JsonEdit::JsonEdit(std::unique_ptr<Node> root) : root_(std::move(root)) {}
JsonEdit::JsonEdit(JsonEdit&&) noexcept = default;
JsonEdit& JsonEdit::operator=(JsonEdit&&) noexcept = default;
JsonEdit::~JsonEdit() = default;

Result<JsonEdit> JsonEdit::Parse(std::string_view json) { return JsonEdit(Node::View(json)); }

Result<std::optional<std::string>> JsonEdit::Get(const Path& path) {
  Node* n = root_.get();
  for (const std::string& token : path) {
    auto child = n->Child(token, false);
    if (!child.ok()) return child.status();
    if (*child == nullptr) return std::optional<std::string>();
    n = *child;
  }
  std::string out;
  n->Write(&out);
  return std::optional<std::string>(std::move(out));
}

Status JsonEdit::Set(const Path& path, std::string value_json) {
  if (path.empty()) {
    root_ = Node::Owned(std::move(value_json));
    return Status::Ok();
  }
  Node* parent = root_.get();
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    auto child = parent->Child(path[i], true);
    if (!child.ok()) return child.status();
    parent = *child;
  }
  const std::string& last = path.back();
  auto open = parent->Open();
  if (!open.ok()) return open.status();
  if (!*open) return Status::InvalidArgument("cannot set \"" + last + "\" in a scalar value");
  if (parent->kind == Node::Kind::kObject) {
    if (auto it = parent->FindMember(last); it != parent->members.end()) {
      it->second = Node::Owned(std::move(value_json));
    } else {
      parent->members.emplace_back(EscapedKey(last), Node::Owned(std::move(value_json)));
    }
    return Status::Ok();
  }
  auto i = Node::Index(last);
  if (last == "-" || (i && *i == parent->items.size())) {
    parent->items.push_back(Node::Owned(std::move(value_json)));
  } else if (i && *i < parent->items.size()) {
    parent->items[*i] = Node::Owned(std::move(value_json));
  } else {
    return Status::InvalidArgument("array index \"" + last + "\" is out of range");
  }
  return Status::Ok();
}

Result<bool> JsonEdit::Remove(const Path& path) {
  if (path.empty()) return Status::InvalidArgument("cannot remove the whole document");
  Node* parent = root_.get();
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    auto open = parent->Open();
    if (!open.ok()) return open.status();
    if (!*open) return false;  // a scalar has no members to remove
    auto child = parent->Child(path[i], false);
    if (!child.ok()) return child.status();
    if (*child == nullptr) return false;
    parent = *child;
  }
  auto open = parent->Open();
  if (!open.ok()) return open.status();
  if (!*open) return false;
  const std::string& last = path.back();
  if (parent->kind == Node::Kind::kObject) {
    auto it = parent->FindMember(last);
    if (it == parent->members.end()) return false;
    parent->members.erase(it);
    return true;
  }
  auto i = Node::Index(last);
  if (!i || *i >= parent->items.size()) return false;
  parent->items.erase(parent->items.begin() + static_cast<std::ptrdiff_t>(*i));
  return true;
}

std::string JsonEdit::Serialize() const {
  std::string out;
  root_->Write(&out);
  return out;
}

}  // namespace eventflow
