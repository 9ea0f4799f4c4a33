// The JsonSchema compiler (internal to formats/json_schema*.cc). One Compiler
// builds one Program and is then discarded. It compiles every subschema in a
// keyword position eagerly (json_schema_compile.cc), then resolves each $ref
// to a node, compiling a target outside keyword positions on demand, and
// rejects $ref cycles that would never consume the instance
// (json_schema_resolve.cc). Patterns: json_schema_regex.cc.
//
// Schema locations are interned as (parent location, token) pairs, so a JSON
// Pointer lands on the same node as the keyword walk that compiled it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "formats/json_schema_program.h"
#include "formats/status.h"

namespace eventflow::json_schema {

inline constexpr std::string_view kDraft07Uri = "http://json-schema.org/draft-07/schema";

// An ECMA-262 pattern in RE2 syntax (json_schema_regex.cc).
std::string EcmaToRe2(std::string_view pattern);

class Compiler {
 public:
  // Without `enforce_cost_bound`, a schema past JsonSchema::kMaxInPlacePaths
  // compiles and program->cost_warning says so.
  explicit Compiler(Program* program, bool enforce_cost_bound = true)
      : program_(program), enforce_cost_bound_(enforce_cost_bound) {}
  Compiler(const Compiler&) = delete;
  Compiler& operator=(const Compiler&) = delete;

  // Parses `text` into program->document and fills program->nodes / root.
  Status Run(std::string_view text);

 private:
  struct Location {
    uint32_t parent = kNone;  // kNone for a document root
    const std::string* token = nullptr;
    simdjson::dom::element value;
    uint32_t node = kNone;  // the compiled schema at this location, if any
    uint32_t base = 0;      // index into bases_: the base URI inside that schema
  };
  // A base URI in force and the location of the schema (resource) it names.
  struct Base {
    std::string uri;
    uint32_t loc = 0;
  };
  struct PendingRef {
    uint32_t node = 0;
    uint32_t loc = 0;
    uint32_t base = 0;
    std::string ref;
  };
  struct LocKeyHash {
    size_t operator()(const std::pair<uint32_t, std::string>& k) const {
      return std::hash<std::string>()(k.second) ^
             (static_cast<size_t>(k.first) * 0x9e3779b97f4a7c15ULL);
    }
  };

  // json_schema_compile.cc: one schema object or boolean -> one node.
  Status CompileSchema(uint32_t loc, uint32_t base, int depth, uint32_t* out);
  Status CompileKeyword(std::string_view key, simdjson::dom::element value, uint32_t loc,
                        uint32_t base, int depth, Node* n);
  Status CompileSubschema(uint32_t parent_loc, std::string_view token, simdjson::dom::element value,
                          uint32_t base, int depth, uint32_t* out);
  Status CompileSchemaMap(uint32_t loc, std::string_view keyword, simdjson::dom::element value,
                          uint32_t base, int depth,
                          std::vector<std::pair<std::string, uint32_t>>* out);
  Status CompileSchemaList(uint32_t loc, std::string_view keyword, simdjson::dom::element value,
                           uint32_t base, int depth, std::vector<uint32_t>* out);
  Status CompilePattern(uint32_t loc, std::string_view keyword, std::string_view source,
                        Pattern* out);
  Status ApplyId(uint32_t loc, simdjson::dom::element id, uint32_t* base);

  // json_schema_resolve.cc: locations, $ref resolution and cycle checks.
  uint32_t AddRoot(simdjson::dom::element value);
  uint32_t ChildLoc(uint32_t parent, std::string_view token, simdjson::dom::element value);
  Status Bad(uint32_t loc, std::string_view what) const;
  std::string LocPointer(uint32_t loc) const;
  Status ChargeUri(size_t bytes);
  Status ResolveRef(const PendingRef& ref, uint32_t* target);
  Status WalkPointer(const PendingRef& ref, uint32_t start, std::string_view fragment,
                     uint32_t* loc, uint32_t* base);
  Status LoadMetaSchema();
  Status CheckInPlaceCycles();

  Program* program_;
  bool enforce_cost_bound_;
  std::vector<Location> locs_;
  std::unordered_map<std::pair<uint32_t, std::string>, uint32_t, LocKeyHash> loc_ids_;
  std::vector<Base> bases_;
  std::unordered_map<std::string, uint32_t> resources_;  // URI without fragment -> loc
  std::unordered_map<std::string, uint32_t> anchors_;    // "uri#name" -> loc
  std::vector<PendingRef> refs_;
  std::vector<uint32_t> node_locs_;  // node index -> location, for messages
  uint32_t meta_root_ = kNone;       // location of the built-in meta-schema, once loaded
  size_t uri_bytes_ = 0;
  size_t pattern_program_size_ = 0;
};

}  // namespace eventflow::json_schema
