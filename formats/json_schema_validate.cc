// JsonSchema::Validate and the Validator's entry, scalar and combinator
// checks (see json_schema_validator.h).
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "formats/json_schema_validator.h"
#include "formats/json_writer.h"

namespace eventflow {

namespace json_schema {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr size_t kMaxQuotedValue = 80;

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return "boolean";
    case Kind::kInteger:
    case Kind::kDouble:
      return "number";
    case Kind::kString:
      return "string";
    case Kind::kArray:
      return "array";
    case Kind::kObject:
      return "object";
  }
  return "value";
}

std::string TypeList(uint8_t types) {
  static constexpr std::pair<uint8_t, const char*> kNames[] = {
      {kNullBit, "null"},      {kBooleanBit, "boolean"}, {kObjectBit, "object"},
      {kArrayBit, "array"},    {kNumberBit, "number"},   {kStringBit, "string"},
      {kIntegerBit, "integer"}};
  std::vector<const char*> names;
  for (const auto& [bit, name] : kNames) {
    if (types & bit) names.push_back(name);
  }
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

std::string Quote(element v) { return Shorten(simdjson::minify(v), kMaxQuotedValue); }

}  // namespace

std::string PathString(const PathSeg* seg) {
  std::vector<const PathSeg*> segs;
  for (; seg != nullptr; seg = seg->parent) segs.push_back(seg);
  std::string out;
  for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
    out += '/';
    if ((*it)->is_index) {
      out += std::to_string((*it)->index);
      continue;
    }
    json::AppendPointerToken(&out, (*it)->key);
  }
  return out;
}

Instance::Instance(element v) : value(v) {
  switch (v.type()) {
    case element_type::NULL_VALUE:
      kind = Kind::kNull;
      break;
    case element_type::BOOL:
      kind = Kind::kBool;
      break;
    case element_type::INT64:
    case element_type::UINT64:
      kind = Kind::kInteger;
      break;
    case element_type::DOUBLE:
      kind = Kind::kDouble;
      break;
    case element_type::STRING:
      kind = Kind::kString;
      text = v.get_string().value_unsafe();
      break;
    case element_type::ARRAY:
      kind = Kind::kArray;
      break;
    case element_type::OBJECT:
      kind = Kind::kObject;
      break;
  }
}

bool Validator::Check(uint32_t index, const Instance& in, const PathSeg* path, Out out) {
  const Node& n = program_.nodes[index];
  if (n.kind == Node::Kind::kTrue) return true;
  if (n.kind == Node::Kind::kFalse) {
    return Fail(out, path, [] { return std::string("is not allowed (the schema is false)"); });
  }
  if (aborted_ || !Charge(1)) return false;
  if (depth_ >= JsonSchema::kMaxValidationDepth) return Abort(path, nullptr);
  ++depth_;
  const bool ok =
      n.kind == Node::Kind::kRef ? Check(n.ref, in, path, out) : CheckKeywords(n, in, path, out);
  --depth_;
  return ok && !aborted_;
}

bool Validator::CheckKeywords(const Node& n, const Instance& in, const PathSeg* path, Out out) {
  bool valid = true;
  if (n.types != 0) {
    uint8_t bits = 0;
    switch (in.kind) {
      case Kind::kNull:
        bits = kNullBit;
        break;
      case Kind::kBool:
        bits = kBooleanBit;
        break;
      case Kind::kInteger:
        bits = kNumberBit | kIntegerBit;
        break;
      case Kind::kDouble:
        bits = Number::From(in.value).IsIntegral() ? kNumberBit | kIntegerBit : kNumberBit;
        break;
      case Kind::kString:
        bits = kStringBit;
        break;
      case Kind::kArray:
        bits = kArrayBit;
        break;
      case Kind::kObject:
        bits = kObjectBit;
        break;
    }
    if ((n.types & bits) == 0) {
      valid = Fail(out, path,
                   [&] { return "expected " + TypeList(n.types) + ", got " + KindName(in.kind); });
      if (Stop(out)) return false;
    }
  }
  switch (in.kind) {
    case Kind::kInteger:
    case Kind::kDouble:
      if (n.numeric) valid = CheckNumber(n, in, path, out) && valid;
      break;
    case Kind::kString:
      if (n.textual) valid = CheckString(n, in, path, out) && valid;
      break;
    case Kind::kArray:
      if (n.sequence) valid = CheckArray(n, in, path, out) && valid;
      break;
    case Kind::kObject:
      if (n.structure) valid = CheckObject(n, in, path, out) && valid;
      break;
    default:
      break;
  }
  if (!valid && Stop(out)) return false;
  if (n.generic) valid = CheckGeneric(n, in, path, out) && valid;
  return valid;
}

bool Validator::CheckNumber(const Node& n, const Instance& in, const PathSeg* path, Out out) {
  const Number x = Number::From(in.value);
  bool valid = true;
  if (n.minimum && Compare(x, *n.minimum) < 0) {
    valid = Fail(out, path, [&] { return "is less than the minimum " + n.minimum->ToString(); });
    if (Stop(out)) return false;
  }
  if (n.exclusive_minimum && Compare(x, *n.exclusive_minimum) <= 0) {
    valid = Fail(out, path, [&] {
      return "is not greater than the exclusive minimum " + n.exclusive_minimum->ToString();
    });
    if (Stop(out)) return false;
  }
  if (n.maximum && Compare(x, *n.maximum) > 0) {
    valid = Fail(out, path, [&] { return "is greater than the maximum " + n.maximum->ToString(); });
    if (Stop(out)) return false;
  }
  if (n.exclusive_maximum && Compare(x, *n.exclusive_maximum) >= 0) {
    valid = Fail(out, path, [&] {
      return "is not less than the exclusive maximum " + n.exclusive_maximum->ToString();
    });
    if (Stop(out)) return false;
  }
  if (n.multiple_of && !IsMultipleOf(x, *n.multiple_of)) {
    valid = Fail(out, path, [&] { return "is not a multiple of " + n.multiple_of->ToString(); });
  }
  return valid;
}

bool Validator::CheckString(const Node& n, const Instance& in, const PathSeg* path, Out out) {
  bool valid = true;
  if (n.min_length || n.max_length) {
    const size_t length = CountCodePoints(in.text);
    if (n.min_length && length < *n.min_length) {
      valid = Fail(out, path, [&] {
        return "is shorter than " + std::to_string(*n.min_length) + " characters";
      });
      if (Stop(out)) return false;
    }
    if (n.max_length && length > *n.max_length) {
      valid = Fail(out, path, [&] {
        return "is longer than " + std::to_string(*n.max_length) + " characters";
      });
      if (Stop(out)) return false;
    }
  }
  if (n.pattern && !Search(*n.pattern, in.text)) {
    if (aborted_) return false;
    valid = Fail(out, path, [&] { return "does not match pattern " + n.pattern->source; });
  }
  return valid;
}

bool Validator::Abort(const PathSeg* path, const char* what) {
  Fail(root_out_, path, [what] {
    if (what != nullptr) return std::string(what);
    return "is nested too deeply: validation exceeds " +
           std::to_string(JsonSchema::kMaxValidationDepth) + " nested subschemas";
  });
  aborted_ = true;
  return false;
}

bool Validator::Equal(const Instance& in, element v, const PathSeg* path) {
  if (!Charge(1)) return false;
  if (in.is_name) {
    return v.type() == element_type::STRING && v.get_string().value_unsafe() == in.text;
  }
  bool too_deep = false;
  const bool equal = JsonEqual(in.value, v, JsonSchema::kMaxValidationDepth, &too_deep);
  if (too_deep) return Abort(path, "is nested too deeply to compare with enum or const");
  return equal;
}

// enum and const.
bool Validator::CheckValue(const Node& n, const Instance& in, const PathSeg* path, Out out) {
  bool valid = true;
  if (n.enum_values) {
    bool found = false;
    for (const element v : *n.enum_values) {
      if ((found = Equal(in, v, path))) break;
    }
    if (!found) {
      valid = Fail(out, path, [&] {
        std::string values;
        for (const element v : *n.enum_values) {
          if (values.size() > kMaxQuotedValue) {
            values += ", ...";
            break;
          }
          values += (values.empty() ? "" : ", ") + Quote(v);
        }
        return "is not one of the allowed values: " + values;
      });
      if (Stop(out)) return false;
    }
  }
  if (n.const_value && !Equal(in, *n.const_value, path)) {
    valid = Fail(out, path, [&] { return "does not equal the constant " + Quote(*n.const_value); });
  }
  return valid;
}

bool Validator::CheckGeneric(const Node& n, const Instance& in, const PathSeg* path, Out out) {
  bool valid = true;
  if (n.enum_values || n.const_value) {
    valid = CheckValue(n, in, path, out);
    if (!valid && Stop(out)) return false;
  }
  for (const uint32_t s : n.all_of) {
    valid = Check(s, in, path, out) && valid;
    if (!valid && Stop(out)) return false;
  }
  if (!n.any_of.empty() && std::none_of(n.any_of.begin(), n.any_of.end(),
                                        [&](uint32_t s) { return Probe(s, in, path); })) {
    valid = Fail(out, path, [] { return std::string("does not match any schema in anyOf"); });
    if (Stop(out)) return false;
  }
  if (!n.one_of.empty()) {
    constexpr size_t kUnset = SIZE_MAX;
    size_t first = kUnset, second = kUnset;
    for (size_t i = 0; i < n.one_of.size() && second == kUnset; ++i) {
      if (!Probe(n.one_of[i], in, path)) continue;
      (first == kUnset ? first : second) = i;
    }
    if (first == kUnset) {
      valid = Fail(out, path, [] { return std::string("does not match any schema in oneOf"); });
    } else if (second != kUnset) {
      valid = Fail(out, path, [&] {
        return "matches more than one schema in oneOf (" + std::to_string(first) + " and " +
               std::to_string(second) + ")";
      });
    }
    if (!valid && Stop(out)) return false;
  }
  if (n.not_schema != kNone && Probe(n.not_schema, in, path)) {
    valid = Fail(out, path, [] { return std::string("must not match the schema in \"not\""); });
    if (Stop(out)) return false;
  }
  if (n.if_schema != kNone) {
    const uint32_t next = Probe(n.if_schema, in, path) ? n.then_schema : n.else_schema;
    if (next != kNone) valid = Check(next, in, path, out) && valid;
  }
  return valid;
}

}  // namespace json_schema

JsonSchema::JsonSchema(std::unique_ptr<const json_schema::Program> program)
    : program_(std::move(program)) {}

JsonSchema::~JsonSchema() = default;

bool JsonSchema::Validate(simdjson::dom::element instance, std::vector<SchemaError>* errors,
                          size_t max_errors, ValidationBudget* budget) const {
  const size_t before = errors != nullptr ? errors->size() : 0;
  const json_schema::Out out{errors, before + std::max<size_t>(max_errors, 1)};
  ValidationBudget own;
  if (budget == nullptr) budget = &own;
  json_schema::Validator validator(*program_, out, budget);
  const bool ok = validator.Check(program_->root, json_schema::Instance(instance), nullptr, out) &&
                  !validator.aborted();
  if (validator.out_of_steps()) {
    if (errors != nullptr) {
      errors->resize(before);
      errors->push_back({"", std::string(kTooCostly)});
    }
    return false;
  }
  if (!ok && errors != nullptr && errors->size() == before) {
    // Defensive: every failing path records an error; keep "at least one" regardless.
    errors->push_back({"", "is nested too deeply to validate"});
  }
  return ok;
}

bool JsonSchema::ValidateJson(std::string_view instance_json, std::vector<SchemaError>* errors,
                              size_t max_errors) const {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::error_code err =
      parser.allocate(std::max<size_t>(instance_json.size(), 64), kMaxInstanceDepth);
  if (!err) err = parser.parse(instance_json.data(), instance_json.size()).get(root);
  if (err) {
    if (errors != nullptr) {
      errors->push_back(
          {"", err == simdjson::DEPTH_ERROR
                   ? "is nested deeper than " + std::to_string(kMaxInstanceDepth) + " levels"
                   : std::string("is not valid JSON: ") + simdjson::error_message(err)});
    }
    return false;
  }
  return Validate(root, errors, max_errors);
}

}  // namespace eventflow
