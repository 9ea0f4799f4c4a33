#include "formats/json_edit.h"

#include <charconv>

#include <simdjson.h>

#include "formats/json_writer.h"

namespace eventflow {

namespace od = simdjson::ondemand;

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

// A value of the document: text as written until an edit walks into it,
// then an object or array whose children are again text until walked into.
struct JsonEdit::Node {
  enum class Kind { kText, kObject, kArray };
  Kind kind = Kind::kText;
  std::string text;
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> members;
  std::vector<std::unique_ptr<Node>> items;

  static std::unique_ptr<Node> Text(std::string_view t) {
    auto n = std::make_unique<Node>();
    n->text = t;
    return n;
  }

  // Turns a text object or array into a node with text children. False for
  // a scalar (it has no children to edit).
  Result<bool> Open() {
    if (kind != Kind::kText) return true;
    const size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos || (text[first] != '{' && text[first] != '[')) return false;
    // One parser per thread: opening runs per edited level of every event.
    thread_local od::parser parser;
    simdjson::padded_string padded(text);
    od::document doc;
    if (parser.iterate(padded).get(doc)) return Corrupt();
    if (text[first] == '{') {
      od::object obj;
      if (doc.get_object().get(obj)) return Corrupt();
      std::vector<std::pair<std::string, std::unique_ptr<Node>>> out;
      for (auto field : obj) {
        std::string_view key, raw;
        if (field.unescaped_key().get(key)) return Corrupt();
        std::string k(key);
        od::value v;
        if (field.value().get(v) || !RawText(v, &raw)) return Corrupt();
        out.emplace_back(std::move(k), Text(raw));
      }
      members = std::move(out);
      kind = Kind::kObject;
    } else {
      od::array arr;
      if (doc.get_array().get(arr)) return Corrupt();
      std::vector<std::unique_ptr<Node>> out;
      for (auto item : arr) {
        od::value v;
        std::string_view raw;
        if (item.get(v) || !RawText(v, &raw)) return Corrupt();
        out.push_back(Text(raw));
      }
      items = std::move(out);
      kind = Kind::kArray;
    }
    text.clear();
    return true;
  }

  static Status Corrupt() { return Status::InvalidArgument("the document is not valid JSON"); }

  // The text of `v` exactly as it appears in the input.
  static bool RawText(od::value& v, std::string_view* raw) {
    od::json_type type;
    if (v.type().get(type)) return false;
    if (type == od::json_type::object) {
      od::object o;
      return !v.get_object().get(o) && !o.raw_json().get(*raw);
    }
    if (type == od::json_type::array) {
      od::array a;
      return !v.get_array().get(a) && !a.raw_json().get(*raw);
    }
    *raw = v.raw_json_token();
    while (!raw->empty() && (raw->back() == ' ' || raw->back() == '\t' || raw->back() == '\r' ||
                             raw->back() == '\n')) {
      raw->remove_suffix(1);
    }
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

  // The child named `token`, or null when there is none. With `create`, a
  // missing member of an object is added as an empty object.
  Result<Node*> Child(const std::string& token, bool create) {
    auto open = Open();
    if (!open.ok()) return open.status();
    if (!*open) {
      return Status::InvalidArgument("cannot look up \"" + token + "\" in a scalar value");
    }
    if (kind == Kind::kObject) {
      for (auto& [k, v] : members) {
        if (k == token) return v.get();
      }
      if (!create) return nullptr;
      auto n = std::make_unique<Node>();
      n->kind = Kind::kObject;
      members.emplace_back(token, std::move(n));
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
        json::AppendString(out, members[i].first);
        out->push_back(':');
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

Result<JsonEdit> JsonEdit::Parse(std::string_view json) { return JsonEdit(Node::Text(json)); }

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
    root_ = Node::Text(value_json);
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
    for (auto& [k, v] : parent->members) {
      if (k == last) {
        v = Node::Text(value_json);
        return Status::Ok();
      }
    }
    parent->members.emplace_back(last, Node::Text(value_json));
    return Status::Ok();
  }
  auto i = Node::Index(last);
  if (last == "-" || (i && *i == parent->items.size())) {
    parent->items.push_back(Node::Text(value_json));
  } else if (i && *i < parent->items.size()) {
    parent->items[*i] = Node::Text(value_json);
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
    auto& m = parent->members;
    for (auto it = m.begin(); it != m.end(); ++it) {
      if (it->first == last) {
        m.erase(it);
        return true;
      }
    }
    return false;
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
