// Validator: the array and object keywords.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "formats/json_schema_validator.h"

namespace eventflow::json_schema {

using simdjson::dom::element;

// Only the recursive keywords live here; the rest is in CheckArrayCounts, so
// that this frame, repeated once per nesting level, stays small.
bool Validator::CheckArray(const Node& n, const Instance& in, const PathSeg* path, Out out) {
  const simdjson::dom::array arr = ArrayOf(in.value);
  bool valid = true;
  if (n.min_items || n.max_items || n.unique_items) {
    valid = CheckArrayCounts(n, arr, path, out);
    if (!valid && Stop(out)) return false;
  }
  if (n.items != kNone || n.items_is_list) {
    size_t i = 0;
    for (const element item : arr) {
      const PathSeg seg{path, {}, i, true};
      const bool additional = n.items_is_list && i >= n.item_list.size();
      uint32_t schema = n.items;
      if (n.items_is_list) schema = additional ? n.additional_items : n.item_list[i];
      ++i;
      if (schema == kNone) break;
      if (additional && program_.nodes[schema].kind == Node::Kind::kFalse) {
        valid = Fail(out, &seg, [] {
          return std::string("is not allowed: the array has more items than \"items\" lists");
        });
      } else {
        valid = Check(schema, Instance(item), &seg, out) && valid;
      }
      if (!valid && Stop(out)) return false;
    }
  }
  if (n.contains != kNone) {
    bool found = false;
    size_t i = 0;
    for (const element item : arr) {
      const PathSeg seg{path, {}, i++, true};
      if ((found = Probe(n.contains, Instance(item), &seg))) break;
    }
    if (!found) {
      valid = Fail(out, path,
                   [] { return std::string("does not contain an item matching \"contains\""); });
    }
  }
  return valid;
}

bool Validator::CheckArrayCounts(const Node& n, simdjson::dom::array arr, const PathSeg* path,
                                 Out out) {
  const size_t size = arr.size();
  bool valid = true;
  if (n.min_items && size < *n.min_items) {
    valid = Fail(out, path,
                 [&] { return "has fewer than " + std::to_string(*n.min_items) + " items"; });
    if (Stop(out)) return false;
  }
  if (n.max_items && size > *n.max_items) {
    valid =
        Fail(out, path, [&] { return "has more than " + std::to_string(*n.max_items) + " items"; });
    if (Stop(out)) return false;
  }
  if (n.unique_items && size > 1) valid = CheckUnique(arr, path, out) && valid;
  return valid;
}

bool Validator::CheckUnique(simdjson::dom::array arr, const PathSeg* path, Out out) {
  auto report = [&](size_t a, size_t b) {
    return Fail(out, path, [&] {
      return "has equal items at " + std::to_string(a) + " and " + std::to_string(b) +
             " (uniqueItems)";
    });
  };
  bool too_deep = false;
  const int depth = JsonSchema::kMaxValidationDepth;
  constexpr size_t kPairwiseMax = 16;  // small arrays: compare pairs, allocate nothing
  if (arr.size() <= kPairwiseMax) {
    size_t i = 0;
    for (auto a = arr.begin(); a != arr.end(); ++a, ++i) {
      auto b = a;
      size_t j = i + 1;
      for (++b; b != arr.end(); ++b, ++j) {
        if (JsonEqual(*a, *b, depth, &too_deep)) return report(i, j);
      }
    }
  } else {
    // Sort by hash; compare only within runs of equal hashes.
    std::vector<std::pair<uint64_t, element>> items;
    items.reserve(arr.size());
    for (const element item : arr) items.emplace_back(JsonHash(item, depth, &too_deep), item);
    std::vector<size_t> order(items.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
      return items[x].first != items[y].first ? items[x].first < items[y].first : x < y;
    });
    for (size_t s = 0; s < order.size() && !too_deep; ++s) {
      for (size_t t = s + 1; t < order.size() && items[order[t]].first == items[order[s]].first;
           ++t) {
        if (JsonEqual(items[order[s]].second, items[order[t]].second, depth, &too_deep)) {
          return report(std::min(order[s], order[t]), std::max(order[s], order[t]));
        }
      }
    }
  }
  if (too_deep) return Abort(path, "is nested too deeply to compare items");
  return true;
}

bool Validator::CheckObject(const Node& n, const Instance& in, const PathSeg* path, Out out) {
  const simdjson::dom::object obj = ObjectOf(in.value);
  bool valid = true;
  if (n.min_properties || n.max_properties || !n.required.empty() || !n.dependencies.empty()) {
    valid = CheckObjectCounts(n, obj, path, out);
    if (!valid && Stop(out)) return false;
  }
  if (!n.properties.empty() || !n.pattern_properties.empty() || n.additional_properties != kNone ||
      n.property_names != kNone) {
    valid = CheckMembers(n, obj, path, out) && valid;
    if (!valid && Stop(out)) return false;
  }
  for (const Dependency& dep : n.dependencies) {
    if (dep.schema == kNone || obj.at_key(dep.property).error() != simdjson::SUCCESS) continue;
    valid = Check(dep.schema, in, path, out) && valid;
    if (!valid && Stop(out)) return false;
  }
  return valid;
}

// minProperties, maxProperties, required and the array form of dependencies.
bool Validator::CheckObjectCounts(const Node& n, simdjson::dom::object obj, const PathSeg* path,
                                  Out out) {
  const size_t size = obj.size();
  bool valid = true;
  if (n.min_properties && size < *n.min_properties) {
    valid = Fail(out, path, [&] {
      return "has fewer than " + std::to_string(*n.min_properties) + " properties";
    });
    if (Stop(out)) return false;
  }
  if (n.max_properties && size > *n.max_properties) {
    valid = Fail(out, path, [&] {
      return "has more than " + std::to_string(*n.max_properties) + " properties";
    });
    if (Stop(out)) return false;
  }
  for (const std::string& name : n.required) {
    if (obj.at_key(name).error() == simdjson::SUCCESS) continue;
    const PathSeg seg{path, name};
    valid = Fail(out, &seg, [] { return std::string("is required"); });
    if (Stop(out)) return false;
  }
  for (const Dependency& dep : n.dependencies) {
    if (dep.required.empty() || obj.at_key(dep.property).error() != simdjson::SUCCESS) continue;
    for (const std::string& name : dep.required) {
      if (obj.at_key(name).error() == simdjson::SUCCESS) continue;
      const PathSeg seg{path, name};
      valid = Fail(out, &seg, [&] {
        return "is required when \"" + dep.property + "\" is present (dependencies)";
      });
      if (Stop(out)) return false;
    }
  }
  return valid;
}

// properties, patternProperties, additionalProperties and propertyNames: one
// pass over the members.
bool Validator::CheckMembers(const Node& n, simdjson::dom::object obj, const PathSeg* path,
                             Out out) {
  bool valid = true;
  for (const auto& kv : obj) {
    const PathSeg seg{path, kv.key};
    if (n.property_names != kNone && !Probe(n.property_names, Instance(kv.key), &seg)) {
      valid = Fail(out, &seg, [&] {
        // Only now, for the message, run the check again collecting its reason.
        std::vector<SchemaError> why;
        Check(n.property_names, Instance(kv.key), &seg, Out{&why, 1});
        return "is not a valid property name" + (why.empty() ? "" : ": " + why[0].message);
      });
      if (Stop(out)) return false;
    }
    const Instance value(kv.value);
    bool matched = false;
    const auto it = std::lower_bound(
        n.properties.begin(), n.properties.end(), kv.key,
        [](const std::pair<std::string, uint32_t>& p, std::string_view k) { return p.first < k; });
    if (it != n.properties.end() && it->first == kv.key) {
      matched = true;
      valid = Check(it->second, value, &seg, out) && valid;
      if (!valid && Stop(out)) return false;
    }
    for (const auto& [pattern, schema] : n.pattern_properties) {
      if (!Search(pattern, kv.key)) {
        if (aborted_) return false;
        continue;
      }
      matched = true;
      valid = Check(schema, value, &seg, out) && valid;
      if (!valid && Stop(out)) return false;
    }
    if (matched || n.additional_properties == kNone) continue;
    if (program_.nodes[n.additional_properties].kind == Node::Kind::kFalse) {
      valid = Fail(out, &seg, [] {
        return std::string("is not an allowed property (additionalProperties is false)");
      });
    } else {
      valid = Check(n.additional_properties, value, &seg, out) && valid;
    }
    if (!valid && Stop(out)) return false;
  }
  return valid;
}

}  // namespace eventflow::json_schema
