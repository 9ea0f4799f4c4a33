// Compiler: schema locations, $ref resolution (RFC 3986 against the base
// $id, JSON Pointer fragments, "#name" anchors, the built-in meta-schema) and
// the check that no $ref cycle applies schemas to one value forever. Also the
// JsonSchema::Compile entry point.
#include <algorithm>
#include <charconv>

#include "formats/json_schema.h"
#include "formats/json_schema_compiler.h"
#include "formats/json_writer.h"
#include "formats/uri.h"

namespace eventflow {

namespace json_schema {

using simdjson::dom::element;
using simdjson::dom::element_type;

namespace {

// JSON nesting allowed in schema text: two levels per subschema (e.g.
// "properties" -> name -> schema) with some slack, so that kMaxSchemaDepth,
// reported with the schema location, is normally the limit met first.
constexpr size_t kMaxSchemaJsonDepth = 2 * JsonSchema::kMaxSchemaDepth + 8;
// All URIs built from $id and $ref values, in bytes: bounds the work a schema
// of long, nested identifiers can cause.
constexpr size_t kMaxUriBytes = 16 << 20;
constexpr size_t kMaxTokenInMessage = 40;

}  // namespace

Status Compiler::Run(std::string_view text) {
  simdjson::dom::parser parser;
  element root;
  simdjson::error_code err =
      parser.allocate(std::max<size_t>(text.size(), 64), kMaxSchemaJsonDepth);
  if (!err)
    err = parser.parse_into_document(program_->document, text.data(), text.size()).get(root);
  if (err == simdjson::DEPTH_ERROR) {
    return Status::InvalidArgument("schema is nested more than " +
                                   std::to_string(kMaxSchemaJsonDepth) + " JSON levels deep");
  }
  if (err) {
    return Status::InvalidArgument(std::string("schema is not valid JSON: ") +
                                   simdjson::error_message(err));
  }
  const uint32_t loc = AddRoot(root);
  bases_.push_back({"", loc});
  resources_.emplace("", loc);
  EF_RETURN_IF_ERROR(CompileSchema(loc, 0, 0, &program_->root));
  // Resolving a $ref may compile its target, which may add more $refs.
  for (size_t i = 0; i < refs_.size(); ++i) {
    const PendingRef ref = refs_[i];
    uint32_t target;
    EF_RETURN_IF_ERROR(ResolveRef(ref, &target));
    program_->nodes[ref.node].ref = target;
  }
  return CheckInPlaceCycles();
}

uint32_t Compiler::AddRoot(element value) {
  locs_.push_back(Location{kNone, nullptr, value});
  return static_cast<uint32_t>(locs_.size() - 1);
}

uint32_t Compiler::ChildLoc(uint32_t parent, std::string_view token, element value) {
  const auto [it, inserted] =
      loc_ids_.try_emplace({parent, std::string(token)}, static_cast<uint32_t>(locs_.size()));
  if (inserted) locs_.push_back(Location{parent, &it->first.second, value});
  return it->second;
}

std::string Compiler::LocPointer(uint32_t loc) const {
  std::vector<const std::string*> tokens;
  for (; locs_[loc].parent != kNone; loc = locs_[loc].parent) tokens.push_back(locs_[loc].token);
  std::string out = loc == meta_root_ ? std::string(kDraft07Uri) + "#" : "#";
  for (auto it = tokens.rbegin(); it != tokens.rend(); ++it) {
    out += '/';
    json::AppendPointerToken(&out, Shorten(**it, kMaxTokenInMessage));
  }
  return out;
}

Status Compiler::Bad(uint32_t loc, std::string_view what) const {
  return Status::InvalidArgument("invalid schema at \"" + LocPointer(loc) +
                                 "\": " + std::string(what));
}

Status Compiler::ChargeUri(size_t bytes) {
  uri_bytes_ += bytes;
  if (uri_bytes_ <= kMaxUriBytes) return Status::Ok();
  return Status::InvalidArgument("schema identifiers are too large: $id and $ref URIs exceed " +
                                 std::to_string(kMaxUriBytes >> 20) + " MiB in total");
}

Status Compiler::ResolveRef(const PendingRef& ref, uint32_t* target) {
  const std::string_view text = ref.ref;
  const auto unresolved = [&](std::string_view why) {
    return Bad(ref.loc,
               "\"$ref\" \"" + Shorten(text, 200) + "\" does not resolve: " + std::string(why));
  };
  std::string resolved;
  std::string_view resource_uri, fragment;
  uint32_t resource_loc;
  if (text.empty() || text.front() == '#') {
    // Same document, same resource: no URI to build.
    resource_uri = bases_[ref.base].uri;
    resource_loc = bases_[ref.base].loc;
    fragment = text.empty() ? text : text.substr(1);
  } else {
    resolved = uri::Resolve(bases_[ref.base].uri, text);
    EF_RETURN_IF_ERROR(ChargeUri(resolved.size()));
    const uri::Split split = uri::SplitFragment(resolved);
    resource_uri = split.resource;
    fragment = split.fragment;
    auto it = resources_.find(std::string(resource_uri));
    if (it == resources_.end() && resource_uri == kDraft07Uri && meta_root_ == kNone) {
      EF_RETURN_IF_ERROR(LoadMetaSchema());
      it = resources_.find(std::string(resource_uri));
    }
    if (it == resources_.end()) {
      return unresolved("no schema in this document has $id \"" + Shorten(resource_uri, 200) +
                        "\" (remote references are not supported)");
    }
    resource_loc = it->second;
  }
  uint32_t loc = resource_loc;
  uint32_t base = locs_[resource_loc].base;
  if (!fragment.empty() && fragment.front() == '/') {
    EF_RETURN_IF_ERROR(WalkPointer(ref, resource_loc, fragment, &loc, &base));
  } else if (!fragment.empty()) {
    std::string anchor = std::string(resource_uri) + "#" + std::string(fragment);
    EF_RETURN_IF_ERROR(ChargeUri(anchor.size()));
    const auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      return unresolved("no schema has $id \"#" + Shorten(fragment, 200) + "\"");
    }
    loc = it->second;
  }
  const element_type type = locs_[loc].value.type();
  if (locs_[loc].node == kNone && type != element_type::OBJECT && type != element_type::BOOL) {
    return unresolved("it points at a value that is not a schema (object or boolean)");
  }
  // The target is usually compiled already; if it sits outside any keyword
  // position (e.g. "#/x/y" with "x" unknown), it is compiled now.
  return CompileSchema(loc, base, 0, target);
}

Status Compiler::WalkPointer(const PendingRef& ref, uint32_t start, std::string_view fragment,
                             uint32_t* loc, uint32_t* base) {
  const auto unresolved = [&](std::string_view why) {
    return Bad(ref.loc,
               "\"$ref\" \"" + Shorten(ref.ref, 200) + "\" does not resolve: " + std::string(why));
  };
  // RFC 6901 section 6: percent-decode the fragment, then read the pointer.
  const std::optional<std::string> pointer = uri::PercentDecode(fragment);
  if (!pointer) return unresolved("malformed percent-encoding");
  std::string_view rest = *pointer;
  uint32_t cur = start;
  *base = locs_[start].base;
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the '/'
    const size_t slash = rest.find('/');
    const std::string_view raw = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    std::string token;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '~') {
        token += raw[i];
      } else if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token += raw[++i] == '0' ? '~' : '/';
      } else {
        return unresolved("'~' must be followed by 0 or 1 in a JSON Pointer");
      }
    }
    const element value = locs_[cur].value;
    element child;
    bool found = false;
    if (value.type() == element_type::OBJECT) {
      found = ObjectOf(value).at_key(token).get(child) == simdjson::SUCCESS;
    } else if (value.type() == element_type::ARRAY) {
      size_t index = 0;
      const char* end = token.data() + token.size();
      const bool canonical = !token.empty() && (token.size() == 1 || token[0] != '0');
      if (canonical && std::from_chars(token.data(), end, index).ptr == end) {
        found = ArrayOf(value).at(index).get(child) == simdjson::SUCCESS;
      }
    }
    // (The decoded token may not be UTF-8, so the message leaves it out.)
    if (!found) return unresolved("its JSON Pointer leads to no value in the document");
    cur = ChildLoc(cur, token, child);
    // A schema passed on the way may have changed the base URI with its $id.
    if (locs_[cur].node != kNone) *base = locs_[cur].base;
  }
  *loc = cur;
  return Status::Ok();
}

Status Compiler::LoadMetaSchema() {
  meta_root_ = AddRoot(Draft07MetaSchemaRoot());
  bases_.push_back({std::string(kDraft07Uri), meta_root_});
  resources_.emplace(std::string(kDraft07Uri), meta_root_);
  uint32_t node;
  return CompileSchema(meta_root_, static_cast<uint32_t>(bases_.size() - 1), 0, &node);
}

// Keywords that apply a subschema to the same value ("in place") form a graph
// that must be acyclic, or validation would recurse without consuming the
// instance ({"$ref": "#"}, or a -> b -> a). Its longest path is bounded too,
// and so is the number of its paths from any node (each is one subschema
// applied to the value): definitions that each apply the one before twice
// double it per level, and validation work with it.
Status Compiler::CheckInPlaceCycles() {
  const std::vector<Node>& nodes = program_->nodes;
  std::vector<std::vector<uint32_t>> edges(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    std::vector<uint32_t>& e = edges[i];
    if (n.kind == Node::Kind::kRef) e.push_back(n.ref);
    e.insert(e.end(), n.all_of.begin(), n.all_of.end());
    e.insert(e.end(), n.any_of.begin(), n.any_of.end());
    e.insert(e.end(), n.one_of.begin(), n.one_of.end());
    for (const uint32_t s : {n.not_schema, n.if_schema, n.then_schema, n.else_schema}) {
      if (s != kNone) e.push_back(s);
    }
    for (const Dependency& d : n.dependencies) {
      if (d.schema != kNone) e.push_back(d.schema);
    }
  }
  enum : uint8_t { kUnseen, kOnPath, kDone };
  std::vector<uint8_t> state(nodes.size(), kUnseen);
  std::vector<int> height(nodes.size(), 0);
  std::vector<uint64_t> paths(nodes.size(), 0);    // in-place paths from each node, saturating
  std::vector<std::pair<uint32_t, size_t>> stack;  // node, next edge: an explicit DFS stack
  for (uint32_t start = 0; start < nodes.size(); ++start) {
    if (state[start] != kUnseen) continue;
    state[start] = kOnPath;
    stack.emplace_back(start, 0);
    while (!stack.empty()) {
      const uint32_t v = stack.back().first;
      const size_t next = stack.back().second++;
      if (next < edges[v].size()) {
        const uint32_t w = edges[v][next];
        if (state[w] == kOnPath) {
          return Bad(node_locs_[w],
                     "a $ref cycle applies this schema to the same value again without "
                     "descending into it, so validation would never end");
        }
        if (state[w] == kUnseen) {
          state[w] = kOnPath;
          stack.emplace_back(w, 0);
        }
        continue;
      }
      int h = 0;
      uint64_t p = 1;
      for (const uint32_t w : edges[v]) {
        h = std::max(h, height[w]);
        p = std::min(p + paths[w], JsonSchema::kMaxInPlacePaths + 1);
      }
      height[v] = h + 1;
      paths[v] = p;
      if (p > JsonSchema::kMaxInPlacePaths) {
        Status over =
            Bad(node_locs_[v], "applies more than " + std::to_string(JsonSchema::kMaxInPlacePaths) +
                                   " subschemas to the same value (through allOf, anyOf, "
                                   "oneOf, not, if/then/else, dependencies and $ref): "
                                   "too costly to validate");
        if (enforce_cost_bound_) return over;
        if (program_->cost_warning.empty()) program_->cost_warning = over.message();
      }
      if (height[v] > JsonSchema::kMaxSchemaDepth) {
        return Bad(node_locs_[v], "more than " + std::to_string(JsonSchema::kMaxSchemaDepth) +
                                      " schemas apply to the same value in a chain of $refs");
      }
      state[v] = kDone;
      stack.pop_back();
    }
  }
  return Status::Ok();
}

}  // namespace json_schema

Result<std::shared_ptr<const JsonSchema>> JsonSchema::Build(std::string_view schema_json,
                                                            bool enforce_cost_bound) {
  auto program = std::make_unique<json_schema::Program>();
  json_schema::Compiler compiler(program.get(), enforce_cost_bound);
  EF_RETURN_IF_ERROR(compiler.Run(schema_json));
  return std::shared_ptr<const JsonSchema>(new JsonSchema(std::move(program)));
}

Result<std::shared_ptr<const JsonSchema>> JsonSchema::Compile(std::string_view schema_json) {
  return Build(schema_json, /*enforce_cost_bound=*/true);
}

Result<std::shared_ptr<const JsonSchema>> JsonSchema::CompileStored(std::string_view schema_json) {
  return Build(schema_json, /*enforce_cost_bound=*/false);
}

const std::string& JsonSchema::cost_warning() const { return program_->cost_warning; }

}  // namespace eventflow
