#include "formats/processing_rules.h"

#include <charconv>

#include "formats/json_edit.h"

namespace eventflow {

namespace dom = simdjson::dom;

namespace {

constexpr size_t kMaxRules = 100;

enum class Op { kEq, kNe, kGt, kGte, kLt, kLte, kExists, kNotExists, kIn, kPrefix };

struct OpName {
  std::string_view name;
  Op op;
};
constexpr OpName kOps[] = {{"eq", Op::kEq},         {"ne", Op::kNe},
                           {"gt", Op::kGt},         {"gte", Op::kGte},
                           {"lt", Op::kLt},         {"lte", Op::kLte},
                           {"exists", Op::kExists}, {"not_exists", Op::kNotExists},
                           {"in", Op::kIn},         {"prefix", Op::kPrefix}};

std::string_view NameOf(Op op) {
  for (const OpName& o : kOps) {
    if (o.op == op) return o.name;
  }
  return "?";
}

const char* TypeName(dom::element e) {
  switch (e.type()) {
    case dom::element_type::ARRAY:
      return "an array";
    case dom::element_type::OBJECT:
      return "an object";
    case dom::element_type::STRING:
      return "a string";
    case dom::element_type::BOOL:
      return "a boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
    default:
      return "a number";
  }
}

// -1, 0 or 1 as x is below, equal to or above y.
template <typename T>
int Sign(T x, T y) {
  return x < y ? -1 : (y < x ? 1 : 0);
}

// -1, 0 or 1 for two numbers; integers compare exactly, anything with a
// fraction or exponent as doubles.
int CompareNumbers(dom::element a, dom::element b) {
  const bool ai = a.is_int64() || a.is_uint64(), bi = b.is_int64() || b.is_uint64();
  if (ai && bi) {
    if (a.is_int64() && b.is_int64()) return Sign(int64_t(a), int64_t(b));
    if (a.is_uint64() && b.is_uint64()) return Sign(uint64_t(a), uint64_t(b));
    // One fits only uint64 (> INT64_MAX), the other int64 (maybe negative).
    return a.is_int64() ? -1 : 1;
  }
  return Sign(double(a), double(b));
}

bool Equal(dom::element a, dom::element b) {
  if (a.is_number() && b.is_number()) return CompareNumbers(a, b) == 0;
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case dom::element_type::STRING:
      return std::string_view(a) == std::string_view(b);
    case dom::element_type::BOOL:
      return bool(a) == bool(b);
    case dom::element_type::NULL_VALUE:
      return true;
    case dom::element_type::ARRAY: {
      dom::array x = a, y = b;
      if (x.size() != y.size()) return false;
      auto j = y.begin();
      for (dom::element v : x) {
        if (!Equal(v, *j)) return false;
        ++j;
      }
      return true;
    }
    case dom::element_type::OBJECT: {
      dom::object x = a, y = b;
      if (x.size() != y.size()) return false;
      for (auto [k, v] : x) {
        dom::element w;
        if (y.at_key(k).get(w) || !Equal(v, w)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

struct Condition {
  enum class Kind { kLeaf, kAll, kAny };
  Kind kind = Kind::kLeaf;
  std::string field;    // a JSON Pointer, for messages
  JsonEdit::Path path;  // its tokens
  Op op = Op::kEq;
  dom::element value;
  std::vector<Condition> children;
};

struct Transform {
  std::vector<std::pair<JsonEdit::Path, std::string>> set;  // values minified
  std::vector<JsonEdit::Path> remove;
  std::vector<std::pair<JsonEdit::Path, JsonEdit::Path>> rename;
  bool touches_key = false;  // "/key" is set or renamed to
};

Status Bad(const std::string& where, const std::string& what) {
  return Status::InvalidArgument(where + ": " + what);
}

// A pointer a transform may write: "/key", or a member under "/payload/" or
// "/metadata/". The ids, offset and timestamps stay as the log has them.
Result<JsonEdit::Path> TargetPath(std::string_view pointer, const std::string& where) {
  auto path = ParseJsonPointer(pointer);
  if (!path.ok()) return Bad(where, path.status().message());
  if (path->size() > kMaxWritePathTokens) {
    return Bad(where, "a pointer a transform writes has at most " +
                          std::to_string(kMaxWritePathTokens) + " tokens");
  }
  const bool key = path->size() == 1 && (*path)[0] == "key";
  const bool member = path->size() >= 2 && ((*path)[0] == "payload" || (*path)[0] == "metadata");
  if (!key && !member) {
    return Bad(where, "\"" + std::string(pointer) +
                          "\" is not \"/key\" or a member under \"/payload/\" or \"/metadata/\"");
  }
  return path;
}

Status CompileCondition(dom::element e, const std::string& where, Condition* out) {
  dom::object obj;
  if (e.get(obj)) return Bad(where, "must be an object");
  dom::element group;
  for (const char* name : {"all", "any"}) {
    if (obj.at_key(name).get(group)) continue;
    if (obj.size() != 1) return Bad(where, std::string("\"") + name + "\" must be its only member");
    dom::array list;
    if (group.get(list)) return Bad(where + "." + name, "must be an array of conditions");
    out->kind = name[1] == 'l' ? Condition::Kind::kAll : Condition::Kind::kAny;
    size_t i = 0;
    for (dom::element c : list) {
      out->children.emplace_back();
      EF_RETURN_IF_ERROR(CompileCondition(c, where + "." + name + "[" + std::to_string(i++) + "]",
                                          &out->children.back()));
    }
    return Status::Ok();
  }
  bool has_field = false, has_op = false, has_value = false;
  for (auto [k, v] : obj) {
    if (k == "field") {
      std::string_view f;
      if (v.get(f)) return Bad(where + ".field", "must be a JSON Pointer string");
      auto path = ParseJsonPointer(f);
      if (!path.ok()) return Bad(where + ".field", path.status().message());
      out->field = f;
      out->path = std::move(*path);
      has_field = true;
    } else if (k == "op") {
      std::string_view name;
      if (v.get(name)) return Bad(where + ".op", "must be a string");
      bool known = false;
      for (const OpName& o : kOps) {
        if (o.name == name) out->op = o.op, known = true;
      }
      if (!known) {
        return Bad(where + ".op", "unknown op \"" + std::string(name) +
                                      "\" (eq ne gt gte lt lte exists not_exists in prefix)");
      }
      has_op = true;
    } else if (k == "value") {
      out->value = v;
      has_value = true;
    } else {
      return Bad(where, "unknown member \"" + std::string(k) + "\"");
    }
  }
  if (!has_field || !has_op) return Bad(where, "needs \"field\" and \"op\" (or \"all\"/\"any\")");
  const std::string op(NameOf(out->op));
  const bool presence = out->op == Op::kExists || out->op == Op::kNotExists;
  if (presence && has_value) return Bad(where, op + " takes no \"value\"");
  if (!presence && !has_value) return Bad(where, op + " needs a \"value\"");
  switch (out->op) {
    case Op::kGt:
    case Op::kGte:
    case Op::kLt:
    case Op::kLte:
      if (!out->value.is_number() && !out->value.is_string()) {
        return Bad(where + ".value", op + " needs a number or a string");
      }
      break;
    case Op::kIn:
      if (!out->value.is_array()) return Bad(where + ".value", "in needs an array");
      break;
    case Op::kPrefix:
      if (!out->value.is_string()) return Bad(where + ".value", "prefix needs a string");
      break;
    default:
      break;
  }
  return Status::Ok();
}

Status CompileTransform(dom::object obj, const std::string& where, Transform* out) {
  for (auto [k, v] : obj) {
    const std::string at = where + "." + std::string(k);
    if (k == "type") continue;
    if (k == "set") {
      dom::object set;
      if (v.get(set)) return Bad(at, "must be an object of JSON Pointer -> value");
      for (auto [p, value] : set) {
        auto path = TargetPath(p, at);
        if (!path.ok()) return path.status();
        if (path->size() == 1) {
          if (!value.is_string()) return Bad(at, "\"/key\" must be set to a string");
          out->touches_key = true;
        }
        out->set.emplace_back(std::move(*path), simdjson::minify(value));
      }
    } else if (k == "remove") {
      dom::array list;
      if (v.get(list)) return Bad(at, "must be an array of JSON Pointers");
      for (dom::element p : list) {
        std::string_view text;
        if (p.get(text)) return Bad(at, "must be an array of JSON Pointers");
        auto path = TargetPath(text, at);
        if (!path.ok()) return path.status();
        out->remove.push_back(std::move(*path));
      }
    } else if (k == "rename") {
      dom::object rename;
      if (v.get(rename)) return Bad(at, "must be an object of JSON Pointer -> JSON Pointer");
      for (auto [from, to] : rename) {
        std::string_view to_text;
        if (to.get(to_text)) return Bad(at, "must map JSON Pointers to JSON Pointers");
        auto f = TargetPath(from, at);
        if (!f.ok()) return f.status();
        auto t = TargetPath(to_text, at);
        if (!t.ok()) return t.status();
        if (t->size() == 1) out->touches_key = true;
        out->rename.emplace_back(std::move(*f), std::move(*t));
      }
    } else {
      return Bad(where, "unknown member \"" + std::string(k) + "\"");
    }
  }
  if (out->set.empty() && out->remove.empty() && out->rename.empty()) {
    return Bad(where, "a transform needs \"set\", \"remove\" or \"rename\"");
  }
  return Status::Ok();
}

std::string PointerText(const JsonEdit::Path& path) {
  std::string out;
  for (const std::string& t : path) {
    out += '/';
    for (char c : t)
      out += c == '~' ? std::string("~0") : c == '/' ? std::string("~1") : std::string(1, c);
  }
  return out;
}

}  // namespace

struct ProcessingRules::Rule {
  bool filter = false;
  Condition where;
  Transform transform;
};

namespace {

// The comparison of the field's text with the condition's value without
// parsing either, for the common cases: an integer against an integer, a
// string without escapes against a string. Nullopt when it takes a parse
// (other types, `in` and `prefix`, mismatched types: the full path words
// the failures).
std::optional<int> QuickCompare(const Condition& c, std::string_view text) {
  switch (c.op) {
    case Op::kEq:
    case Op::kNe:
    case Op::kGt:
    case Op::kGte:
    case Op::kLt:
    case Op::kLte:
      break;
    default:
      return std::nullopt;
  }
  if (text.empty()) return std::nullopt;
  if (text.front() == '"') {
    if (!c.value.is_string() || text.size() < 2 || text.find('\\') != std::string_view::npos) {
      return std::nullopt;
    }
    return Sign(text.substr(1, text.size() - 2).compare(std::string_view(c.value)), 0);
  }
  if (!c.value.is_int64()) return std::nullopt;
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;  // not an integer
  return Sign(n, int64_t(c.value));
}

// Whether `event` (the stored JSON) matches `c`; an error when a comparison
// cannot be made. Only the fields the condition names are parsed.
Result<bool> Matches(const Condition& c, std::string_view event) {
  if (c.kind != Condition::Kind::kLeaf) {
    const bool all = c.kind == Condition::Kind::kAll;
    for (const Condition& child : c.children) {
      auto m = Matches(child, event);
      if (!m.ok()) return m;
      if (*m != all) return !all;
    }
    return all;
  }
  auto text = FindJsonValue(event, c.path);
  if (!text.ok()) return text.status();
  const bool present = text->has_value();
  if (c.op == Op::kExists) return present;
  if (c.op == Op::kNotExists) return !present;
  if (!present) return false;  // a comparison on an absent field
  if (auto quick = QuickCompare(c, **text)) {
    switch (c.op) {
      case Op::kEq:
        return *quick == 0;
      case Op::kNe:
        return *quick != 0;
      case Op::kGt:
        return *quick > 0;
      case Op::kGte:
        return *quick >= 0;
      case Op::kLt:
        return *quick < 0;
      default:
        return *quick <= 0;
    }
  }
  // One parser per processing thread, reused for every field.
  thread_local dom::parser parser;
  dom::element field;
  if (parser.parse((*text)->data(), (*text)->size()).get(field)) {
    return Status::InvalidArgument("the event is not valid JSON at " + c.field);
  }
  switch (c.op) {
    case Op::kEq:
      return Equal(field, c.value);
    case Op::kNe:
      return !Equal(field, c.value);
    case Op::kIn: {
      for (dom::element v : dom::array(c.value)) {
        if (Equal(field, v)) return true;
      }
      return false;
    }
    case Op::kPrefix: {
      if (!field.is_string()) {
        return Status::InvalidArgument("prefix on " + c.field + ": the field is " +
                                       TypeName(field) + ", not a string");
      }
      return std::string_view(field).starts_with(std::string_view(c.value));
    }
    default:
      break;
  }
  int cmp;
  if (field.is_number() && c.value.is_number()) {
    cmp = CompareNumbers(field, c.value);
  } else if (field.is_string() && c.value.is_string()) {
    cmp = std::string_view(field).compare(std::string_view(c.value));
  } else {
    return Status::InvalidArgument(std::string(NameOf(c.op)) + " on " + c.field +
                                   ": the field is " + TypeName(field) + ", the value " +
                                   TypeName(c.value));
  }
  switch (c.op) {
    case Op::kGt:
      return cmp > 0;
    case Op::kGte:
      return cmp >= 0;
    case Op::kLt:
      return cmp < 0;
    default:
      return cmp <= 0;
  }
}

Status ApplyTransform(const Transform& t, JsonEdit* edit) {
  for (const auto& [path, value] : t.set) {
    Status s = edit->SetView(path, value);
    if (!s.ok()) return Status::InvalidArgument("set " + PointerText(path) + ": " + s.message());
  }
  for (const auto& path : t.remove) {
    auto removed = edit->Remove(path);
    if (!removed.ok()) {
      return Status::InvalidArgument("remove " + PointerText(path) + ": " +
                                     removed.status().message());
    }
  }
  for (const auto& move : t.rename) {
    const auto& from = move.first;
    const auto& to = move.second;
    // Only a failure pays for the message.
    auto what = [&] { return "rename " + PointerText(from) + " to " + PointerText(to); };
    auto moved = edit->Move(from, to);
    if (!moved.ok()) return Status::InvalidArgument(what() + ": " + moved.status().message());
    if (!*moved) return Status::InvalidArgument(what() + ": the field is missing");
  }
  if (t.touches_key) {
    auto key = edit->Get({"key"});
    if (!key.ok()) return key.status();
    if (key->has_value() && (*key)->front() != '"') {
      return Status::InvalidArgument("the transformed /key is not a string");
    }
  }
  return Status::Ok();
}

}  // namespace

ProcessingRules::ProcessingRules() : parser_(std::make_unique<dom::parser>()) {}
ProcessingRules::~ProcessingRules() = default;

Result<std::shared_ptr<const ProcessingRules>> ProcessingRules::Compile(dom::element rules) {
  std::shared_ptr<ProcessingRules> out(new ProcessingRules());
  out->json_ = simdjson::minify(rules);
  // Reparsed into our own parser: the rule values must outlive the caller's.
  dom::element own;
  if (out->parser_->parse(out->json_).get(own)) {
    return Status::InvalidArgument("processing.rules is not valid JSON");
  }
  dom::array list;
  if (own.get(list)) return Status::InvalidArgument("processing.rules must be an array");
  if (list.size() > kMaxRules) {
    return Status::InvalidArgument("processing.rules holds more than " + std::to_string(kMaxRules) +
                                   " rules");
  }
  size_t i = 0;
  for (dom::element r : list) {
    const std::string where = "rules[" + std::to_string(i++) + "]";
    dom::object obj;
    if (r.get(obj)) return Bad(where, "must be an object");
    std::string_view type;
    if (obj["type"].get(type)) return Bad(where + ".type", "must be \"filter\" or \"transform\"");
    Rule rule;
    if (type == "filter") {
      rule.filter = true;
      dom::element where_elem;
      for (auto [k, v] : obj) {
        if (k != "type" && k != "where") {
          return Bad(where, "unknown member \"" + std::string(k) + "\"");
        }
      }
      if (obj["where"].get(where_elem)) return Bad(where, "a filter needs \"where\"");
      EF_RETURN_IF_ERROR(CompileCondition(where_elem, where + ".where", &rule.where));
    } else if (type == "transform") {
      EF_RETURN_IF_ERROR(CompileTransform(obj, where, &rule.transform));
    } else {
      return Bad(where + ".type", "must be \"filter\" or \"transform\"");
    }
    out->rules_.push_back(std::move(rule));
  }
  return std::shared_ptr<const ProcessingRules>(std::move(out));
}

Result<ProcessingRules::Outcome> ProcessingRules::Apply(std::string_view event_json) const {
  Outcome out;
  // Consecutive transforms share one edit; a filter after a transform reads
  // the event as the transforms left it.
  std::optional<JsonEdit> edit;
  std::string current;  // the event as serialised for a filter after a transform
  std::string_view text = event_json;
  for (size_t i = 0; i < rules_.size(); ++i) {
    const Rule& rule = rules_[i];
    if (rule.filter) {
      if (edit) {
        std::string next = edit->Serialize();
        edit.reset();
        current = std::move(next);
        text = current;
      }
      auto m = Matches(rule.where, text);
      if (!m.ok()) {
        return Status::InvalidArgument("rules[" + std::to_string(i) +
                                       "] (filter): " + m.status().message());
      }
      if (!*m) {
        out.filtered = true;
        return out;
      }
      continue;
    }
    if (!edit) {
      auto parsed = JsonEdit::Parse(text);
      if (!parsed.ok()) return parsed.status();
      edit.emplace(std::move(*parsed));
    }
    Status s = ApplyTransform(rule.transform, &*edit);
    if (!s.ok()) {
      return Status::InvalidArgument("rules[" + std::to_string(i) +
                                     "] (transform): " + s.message());
    }
  }
  if (edit) {
    out.transformed = edit->Serialize();
  } else if (text.data() != event_json.data()) {
    out.transformed = std::move(current);
  }
  return out;
}
}  // namespace eventflow
