// Compiler: schema objects -> nodes, checking each known keyword's value.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "formats/json_schema.h"
#include "formats/json_schema_compiler.h"
#include "formats/uri.h"

namespace eventflow::json_schema {

using simdjson::dom::element;
using simdjson::dom::element_type;

namespace {

enum class Keyword {
  kAnnotation,  // any value: default, const-like annotations
  kText,        // must be a string: title, description, format, ...
  kFlag,        // must be a boolean: readOnly, writeOnly
  kExamples,
  kId,
  kSchemaUri,
  kDefinitions,
  kType,
  kEnum,
  kConst,
  kMultipleOf,
  kMaximum,
  kExclusiveMaximum,
  kMinimum,
  kExclusiveMinimum,
  kMaxLength,
  kMinLength,
  kPattern,
  kItems,
  kAdditionalItems,
  kMaxItems,
  kMinItems,
  kUniqueItems,
  kContains,
  kMaxProperties,
  kMinProperties,
  kRequired,
  kProperties,
  kPatternProperties,
  kAdditionalProperties,
  kDependencies,
  kPropertyNames,
  kIf,
  kThen,
  kElse,
  kAllOf,
  kAnyOf,
  kOneOf,
  kNot,
};

const std::unordered_map<std::string_view, Keyword>& Keywords() {
  static const auto* const kMap = new std::unordered_map<std::string_view, Keyword>{
      {"default", Keyword::kAnnotation},
      {"$comment", Keyword::kText},
      {"title", Keyword::kText},
      {"description", Keyword::kText},
      {"format", Keyword::kText},
      {"contentMediaType", Keyword::kText},
      {"contentEncoding", Keyword::kText},
      {"readOnly", Keyword::kFlag},
      {"writeOnly", Keyword::kFlag},
      {"examples", Keyword::kExamples},
      {"$id", Keyword::kId},
      {"$schema", Keyword::kSchemaUri},
      {"definitions", Keyword::kDefinitions},
      {"type", Keyword::kType},
      {"enum", Keyword::kEnum},
      {"const", Keyword::kConst},
      {"multipleOf", Keyword::kMultipleOf},
      {"maximum", Keyword::kMaximum},
      {"exclusiveMaximum", Keyword::kExclusiveMaximum},
      {"minimum", Keyword::kMinimum},
      {"exclusiveMinimum", Keyword::kExclusiveMinimum},
      {"maxLength", Keyword::kMaxLength},
      {"minLength", Keyword::kMinLength},
      {"pattern", Keyword::kPattern},
      {"items", Keyword::kItems},
      {"additionalItems", Keyword::kAdditionalItems},
      {"maxItems", Keyword::kMaxItems},
      {"minItems", Keyword::kMinItems},
      {"uniqueItems", Keyword::kUniqueItems},
      {"contains", Keyword::kContains},
      {"maxProperties", Keyword::kMaxProperties},
      {"minProperties", Keyword::kMinProperties},
      {"required", Keyword::kRequired},
      {"properties", Keyword::kProperties},
      {"patternProperties", Keyword::kPatternProperties},
      {"additionalProperties", Keyword::kAdditionalProperties},
      {"dependencies", Keyword::kDependencies},
      {"propertyNames", Keyword::kPropertyNames},
      {"if", Keyword::kIf},
      {"then", Keyword::kThen},
      {"else", Keyword::kElse},
      {"allOf", Keyword::kAllOf},
      {"anyOf", Keyword::kAnyOf},
      {"oneOf", Keyword::kOneOf},
      {"not", Keyword::kNot},
  };
  return *kMap;
}

std::string TypeName(element v) {
  switch (v.type()) {
    case element_type::ARRAY:
      return "array";
    case element_type::OBJECT:
      return "object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "number";
    case element_type::STRING:
      return "string";
    case element_type::BOOL:
      return "boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "value";
}

bool IsNumber(element v) {
  const element_type t = v.type();
  return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

std::optional<uint64_t> NonNegativeInteger(element v) {
  if (!IsNumber(v)) return std::nullopt;
  const Number n = Number::From(v);
  switch (n.kind) {
    case Number::Kind::kInt:
      if (n.i < 0) return std::nullopt;
      return static_cast<uint64_t>(n.i);
    case Number::Kind::kUint:
      return n.u;
    case Number::Kind::kDouble:
      // 2.0 is an integer in draft-07; values past 2^64 cannot be met anyway.
      if (!n.IsIntegral() || n.d < 0) return std::nullopt;
      return n.d >= 18446744073709551615.0 ? UINT64_MAX : static_cast<uint64_t>(n.d);
  }
  return std::nullopt;
}

uint8_t TypeBitFor(std::string_view name) {
  static constexpr std::pair<std::string_view, uint8_t> kTypes[] = {
      {"null", kNullBit},      {"boolean", kBooleanBit}, {"object", kObjectBit},
      {"array", kArrayBit},    {"number", kNumberBit},   {"string", kStringBit},
      {"integer", kIntegerBit}};
  for (const auto& [type_name, bit] : kTypes) {
    if (type_name == name) return bit;
  }
  return 0;
}

bool IsDraft07(std::string_view uri) {
  if (uri.ends_with("#")) uri.remove_suffix(1);
  return uri == kDraft07Uri || uri == "https://json-schema.org/draft-07/schema";
}

}  // namespace

Status Compiler::CompileSchema(uint32_t loc, uint32_t base, int depth, uint32_t* out) {
  if (locs_[loc].node != kNone) {
    *out = locs_[loc].node;
    return Status::Ok();
  }
  if (depth > JsonSchema::kMaxSchemaDepth) {
    return Bad(loc, "subschemas nest more than " + std::to_string(JsonSchema::kMaxSchemaDepth) +
                        " levels deep");
  }
  const element value = locs_[loc].value;
  const auto index = static_cast<uint32_t>(program_->nodes.size());
  program_->nodes.emplace_back();
  node_locs_.push_back(loc);
  locs_[loc].node = index;
  locs_[loc].base = base;
  *out = index;

  Node n;
  if (value.type() == element_type::BOOL) {
    n.kind = value.get_bool().value_unsafe() ? Node::Kind::kTrue : Node::Kind::kFalse;
    program_->nodes[index] = std::move(n);
    return Status::Ok();
  }
  if (value.type() != element_type::OBJECT) {
    return Bad(loc, "a schema must be an object or a boolean, got " + TypeName(value));
  }
  const simdjson::dom::object obj = ObjectOf(value);
  element field;
  if (obj.at_key("$ref").get(field) == simdjson::SUCCESS) {
    if (field.type() != element_type::STRING) return Bad(loc, "\"$ref\" must be a string");
    // Draft-07 ignores every sibling of $ref, $id included. Definitions beside
    // it are still compiled, so that their $ids are known and errors reported.
    n.kind = Node::Kind::kRef;
    refs_.push_back({index, loc, base, std::string(field.get_string().value_unsafe())});
    program_->nodes[index] = std::move(n);
    if (obj.at_key("definitions").get(field) != simdjson::SUCCESS) return Status::Ok();
    std::vector<std::pair<std::string, uint32_t>> unused;
    return CompileSchemaMap(loc, "definitions", field, base, depth, &unused);
  }
  if (obj.at_key("$id").get(field) == simdjson::SUCCESS) {
    EF_RETURN_IF_ERROR(ApplyId(loc, field, &base));
    locs_[loc].base = base;
  }
  for (const auto& kv : obj) {
    EF_RETURN_IF_ERROR(CompileKeyword(kv.key, kv.value, loc, base, depth, &n));
  }
  std::stable_sort(n.properties.begin(), n.properties.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  n.numeric = n.minimum || n.maximum || n.exclusive_minimum || n.exclusive_maximum || n.multiple_of;
  n.textual = n.min_length || n.max_length || n.pattern;
  n.sequence = n.items != kNone || n.items_is_list || n.contains != kNone || n.min_items ||
               n.max_items || n.unique_items;
  n.structure = !n.properties.empty() || !n.pattern_properties.empty() ||
                n.additional_properties != kNone || !n.required.empty() || n.min_properties ||
                n.max_properties || n.property_names != kNone || !n.dependencies.empty();
  n.generic = n.enum_values || n.const_value || !n.all_of.empty() || !n.any_of.empty() ||
              !n.one_of.empty() || n.not_schema != kNone || n.if_schema != kNone;
  program_->nodes[index] = std::move(n);
  return Status::Ok();
}

Status Compiler::CompileKeyword(std::string_view key, element v, uint32_t loc, uint32_t base,
                                int depth, Node* n) {
  const auto it = Keywords().find(key);
  if (it == Keywords().end()) return Status::Ok();  // unknown keywords are ignored
  const auto expected = [&](std::string_view what) {
    return Bad(
        loc, "\"" + std::string(key) + "\" must be " + std::string(what) + ", got " + TypeName(v));
  };
  const auto number = [&](std::optional<Number>* out) {
    if (!IsNumber(v)) return expected("a number");
    *out = Number::From(v);
    return Status::Ok();
  };
  const auto count = [&](std::optional<uint64_t>* out) {
    *out = NonNegativeInteger(v);
    return out->has_value() ? Status::Ok() : expected("a non-negative integer");
  };
  const auto subschema = [&](uint32_t* out) {
    if (v.type() != element_type::OBJECT && v.type() != element_type::BOOL) {
      return expected("a schema (object or boolean)");
    }
    return CompileSubschema(loc, key, v, base, depth, out);
  };
  const auto strings = [&](element list, std::vector<std::string>* out) {
    const auto not_strings = [&](element got) {
      return Bad(loc, "\"" + std::string(key) + "\" must list only strings, got " + TypeName(got));
    };
    if (list.type() != element_type::ARRAY) return expected("an array of strings");
    std::unordered_set<std::string_view> seen;
    for (const element item : ArrayOf(list)) {
      if (item.type() != element_type::STRING) return not_strings(item);
      const std::string_view s = item.get_string().value_unsafe();
      if (!seen.insert(s).second) {
        return Bad(loc, "\"" + std::string(key) + "\" lists \"" + std::string(s) + "\" twice");
      }
      out->emplace_back(s);
    }
    return Status::Ok();
  };

  switch (it->second) {
    case Keyword::kAnnotation:
    case Keyword::kId:  // applied before the other keywords
      return Status::Ok();
    case Keyword::kText:
      return v.type() == element_type::STRING ? Status::Ok() : expected("a string");
    case Keyword::kFlag:
    case Keyword::kUniqueItems:
      if (v.type() != element_type::BOOL) return expected("a boolean");
      if (it->second == Keyword::kUniqueItems) n->unique_items = v.get_bool().value_unsafe();
      return Status::Ok();
    case Keyword::kExamples:
      return v.type() == element_type::ARRAY ? Status::Ok() : expected("an array");
    case Keyword::kSchemaUri:
      if (v.type() != element_type::STRING) return expected("a string");
      if (!IsDraft07(v.get_string().value_unsafe())) {
        return Bad(loc, "\"$schema\" is \"" + std::string(v.get_string().value_unsafe()) +
                            "\", but only draft-07 (" + std::string(kDraft07Uri) +
                            "#) is supported");
      }
      return Status::Ok();
    case Keyword::kDefinitions: {
      std::vector<std::pair<std::string, uint32_t>> unused;
      return CompileSchemaMap(loc, key, v, base, depth, &unused);
    }
    case Keyword::kType: {
      if (v.type() == element_type::STRING) {
        n->types = TypeBitFor(v.get_string().value_unsafe());
        if (n->types != 0) return Status::Ok();
        return Bad(loc, "\"type\" names an unknown type \"" +
                            std::string(v.get_string().value_unsafe()) +
                            "\" (expected array, boolean, integer, null, number, object or "
                            "string)");
      }
      std::vector<std::string> names;
      EF_RETURN_IF_ERROR(strings(v, &names));
      if (names.empty()) return Bad(loc, "\"type\" must not be an empty array");
      for (const std::string& name : names) {
        const uint8_t bit = TypeBitFor(name);
        if (bit == 0) return Bad(loc, "\"type\" names an unknown type \"" + name + "\"");
        n->types |= bit;
      }
      return Status::Ok();
    }
    case Keyword::kEnum:
      if (v.type() != element_type::ARRAY) return expected("an array");
      n->enum_values.emplace();
      for (const element item : ArrayOf(v)) n->enum_values->push_back(item);
      return Status::Ok();
    case Keyword::kConst:
      n->const_value = v;
      return Status::Ok();
    case Keyword::kMultipleOf:
      EF_RETURN_IF_ERROR(number(&n->multiple_of));
      return n->multiple_of->IsPositive() ? Status::Ok() : expected("a number greater than 0");
    case Keyword::kMaximum:
      return number(&n->maximum);
    case Keyword::kExclusiveMaximum:
      return number(&n->exclusive_maximum);
    case Keyword::kMinimum:
      return number(&n->minimum);
    case Keyword::kExclusiveMinimum:
      return number(&n->exclusive_minimum);
    case Keyword::kMaxLength:
      return count(&n->max_length);
    case Keyword::kMinLength:
      return count(&n->min_length);
    case Keyword::kMaxItems:
      return count(&n->max_items);
    case Keyword::kMinItems:
      return count(&n->min_items);
    case Keyword::kMaxProperties:
      return count(&n->max_properties);
    case Keyword::kMinProperties:
      return count(&n->min_properties);
    case Keyword::kPattern:
      if (v.type() != element_type::STRING) return expected("a string");
      n->pattern.emplace();
      return CompilePattern(loc, key, v.get_string().value_unsafe(), &*n->pattern);
    case Keyword::kItems:
      if (v.type() != element_type::ARRAY) return subschema(&n->items);
      n->items_is_list = true;
      return CompileSchemaList(loc, key, v, base, depth, &n->item_list);
    case Keyword::kAdditionalItems:
      return subschema(&n->additional_items);
    case Keyword::kContains:
      return subschema(&n->contains);
    case Keyword::kAdditionalProperties:
      return subschema(&n->additional_properties);
    case Keyword::kPropertyNames:
      return subschema(&n->property_names);
    case Keyword::kIf:
      return subschema(&n->if_schema);
    case Keyword::kThen:
      return subschema(&n->then_schema);
    case Keyword::kElse:
      return subschema(&n->else_schema);
    case Keyword::kNot:
      return subschema(&n->not_schema);
    case Keyword::kRequired:
      return strings(v, &n->required);
    case Keyword::kProperties:
      return CompileSchemaMap(loc, key, v, base, depth, &n->properties);
    case Keyword::kPatternProperties: {
      std::vector<std::pair<std::string, uint32_t>> schemas;
      EF_RETURN_IF_ERROR(CompileSchemaMap(loc, key, v, base, depth, &schemas));
      for (auto& [source, schema] : schemas) {
        Pattern pattern;
        EF_RETURN_IF_ERROR(CompilePattern(loc, key, source, &pattern));
        n->pattern_properties.emplace_back(std::move(pattern), schema);
      }
      return Status::Ok();
    }
    case Keyword::kDependencies: {
      if (v.type() != element_type::OBJECT) return expected("an object");
      const uint32_t map_loc = ChildLoc(loc, key, v);
      for (const auto& kv : ObjectOf(v)) {
        Dependency dep;
        dep.property = std::string(kv.key);
        if (kv.value.type() == element_type::ARRAY) {
          EF_RETURN_IF_ERROR(strings(kv.value, &dep.required));
        } else if (kv.value.type() == element_type::OBJECT ||
                   kv.value.type() == element_type::BOOL) {
          EF_RETURN_IF_ERROR(CompileSubschema(map_loc, kv.key, kv.value, base, depth, &dep.schema));
        } else {
          return Bad(loc, "\"dependencies\" values must be arrays of strings or schemas, got " +
                              TypeName(kv.value) + " for \"" + dep.property + "\"");
        }
        n->dependencies.push_back(std::move(dep));
      }
      return Status::Ok();
    }
    case Keyword::kAllOf:
      return CompileSchemaList(loc, key, v, base, depth, &n->all_of);
    case Keyword::kAnyOf:
      return CompileSchemaList(loc, key, v, base, depth, &n->any_of);
    case Keyword::kOneOf:
      return CompileSchemaList(loc, key, v, base, depth, &n->one_of);
  }
  return Status::Ok();
}

Status Compiler::CompileSubschema(uint32_t parent_loc, std::string_view token, element value,
                                  uint32_t base, int depth, uint32_t* out) {
  return CompileSchema(ChildLoc(parent_loc, token, value), base, depth + 1, out);
}

Status Compiler::CompileSchemaMap(uint32_t loc, std::string_view keyword, element value,
                                  uint32_t base, int depth,
                                  std::vector<std::pair<std::string, uint32_t>>* out) {
  if (value.type() != element_type::OBJECT) {
    return Bad(loc, "\"" + std::string(keyword) + "\" must be an object of schemas, got " +
                        TypeName(value));
  }
  const uint32_t map_loc = ChildLoc(loc, keyword, value);
  for (const auto& kv : ObjectOf(value)) {
    uint32_t schema;
    EF_RETURN_IF_ERROR(CompileSubschema(map_loc, kv.key, kv.value, base, depth, &schema));
    out->emplace_back(std::string(kv.key), schema);
  }
  return Status::Ok();
}

Status Compiler::CompileSchemaList(uint32_t loc, std::string_view keyword, element value,
                                   uint32_t base, int depth, std::vector<uint32_t>* out) {
  // "items" may list no schemas; allOf / anyOf / oneOf must list at least one.
  const bool may_be_empty = keyword == "items";
  if (value.type() != element_type::ARRAY || (!may_be_empty && ArrayOf(value).size() == 0)) {
    return Bad(loc, "\"" + std::string(keyword) + "\" must be a non-empty array of schemas, got " +
                        TypeName(value));
  }
  const uint32_t list_loc = ChildLoc(loc, keyword, value);
  size_t i = 0;
  for (const element item : ArrayOf(value)) {
    uint32_t schema;
    EF_RETURN_IF_ERROR(CompileSubschema(list_loc, std::to_string(i++), item, base, depth, &schema));
    out->push_back(schema);
  }
  return Status::Ok();
}

Status Compiler::ApplyId(uint32_t loc, element id, uint32_t* base) {
  if (id.type() != element_type::STRING) {
    return Bad(loc, "\"$id\" must be a string, got " + TypeName(id));
  }
  std::string resolved = uri::Resolve(bases_[*base].uri, id.get_string().value_unsafe());
  EF_RETURN_IF_ERROR(ChargeUri(resolved.size()));
  const uri::Split split = uri::SplitFragment(resolved);
  if (split.resource != bases_[*base].uri) {
    const auto [it, inserted] = resources_.emplace(std::string(split.resource), loc);
    if (!inserted && it->second != loc) {
      return Bad(loc, "\"$id\" \"" + std::string(split.resource) + "\" names two schemas");
    }
    bases_.push_back({std::string(split.resource), loc});
    *base = static_cast<uint32_t>(bases_.size() - 1);
  }
  // "#name" (a plain name, not a JSON Pointer) labels this schema in its resource.
  if (!split.fragment.empty() && split.fragment.front() != '/') {
    std::string anchor = bases_[*base].uri + "#" + std::string(split.fragment);
    EF_RETURN_IF_ERROR(ChargeUri(anchor.size()));
    const auto [it, inserted] = anchors_.emplace(std::move(anchor), loc);
    if (!inserted && it->second != loc) {
      return Bad(loc, "\"$id\" \"#" + std::string(split.fragment) + "\" names two schemas");
    }
  }
  return Status::Ok();
}

}  // namespace eventflow::json_schema
