// JsonSchema: every case of the official draft-07 suite (one test each,
// registered at start-up from EVENTFLOW_SCHEMA_SUITE_DIR), then our own cases:
// compile errors, error paths and messages, exact numbers, hostile inputs
// (deep nesting, long $ids, $ref loops, 500 KB strings) and concurrent use.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "formats/json_schema.h"
#include "formats/json_schema_compiler.h"
#include "formats/json_schema_program.h"
#include "formats/uri.h"

#ifndef EVENTFLOW_SCHEMA_SUITE_DIR
#error "EVENTFLOW_SCHEMA_SUITE_DIR must name the suite's tests/draft7 directory"
#endif

namespace eventflow {
namespace {

// The suite as packaged (json-schema-test-suite 2.0.0) holds 408 draft-07
// cases outside refRemote.json and optional/; newer releases hold ~900.
// Fewer than this means the suite is missing or truncated.
constexpr size_t kMinSuiteCases = 400;

std::string SuiteDir() {
  // The environment may point at another checkout of the suite (e.g. a newer one).
  const char* env = std::getenv("EVENTFLOW_SCHEMA_SUITE_DIR");
  return env != nullptr && *env != '\0' ? env : EVENTFLOW_SCHEMA_SUITE_DIR;
}

std::string Identifier(std::string_view s, size_t max = 60) {
  std::string out;
  for (const char c : s) {
    if (out.size() >= max) break;
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (keep) {
      out += c;
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  return out;
}

std::string ErrorsToString(const std::vector<SchemaError>& errors) {
  std::string out;
  for (const auto& e : errors) out += "\n  \"" + e.path + "\": " + e.message;
  return out;
}

struct SuiteCase {
  std::string file, group, description;
  std::string schema, data;
  bool valid = false;
};

class SuiteCaseTest : public testing::Test {
 public:
  explicit SuiteCaseTest(SuiteCase c) : c_(std::move(c)) {}

  void TestBody() override {
    const std::string where = c_.file + " / " + c_.group + " / " + c_.description +
                              "\n  schema: " + c_.schema + "\n  data: " + c_.data;
    auto schema = JsonSchema::Compile(c_.schema);
    ASSERT_TRUE(schema.ok()) << where << "\n  " << schema.status().ToString();
    std::vector<SchemaError> errors;
    const bool valid = (*schema)->ValidateJson(c_.data, &errors);
    EXPECT_EQ(valid, c_.valid) << where << ErrorsToString(errors);
    EXPECT_EQ(errors.empty(), valid) << where;
    EXPECT_EQ((*schema)->ValidateJson(c_.data, nullptr), valid) << where << "\n  (without errors)";
  }

 private:
  SuiteCase c_;
};

std::vector<std::string>& SuiteSchemas() {
  static auto* const schemas = new std::vector<std::string>();
  return *schemas;
}

std::vector<std::string>& SuiteLoadErrors() {
  static auto* const errors = new std::vector<std::string>();
  return *errors;
}

// Registers one test per suite case; runs during static initialisation so
// that gtest_discover_tests lists the cases.
size_t RegisterSuite() {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(SuiteDir(), ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file() && it->path().extension() == ".json" &&
        it->path().filename() != "refRemote.json") {
      files.push_back(it->path());
    }
  }
  if (ec) SuiteLoadErrors().push_back(SuiteDir() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  size_t count = 0;
  for (const fs::path& file : files) {
    simdjson::dom::parser parser;
    simdjson::dom::array groups;
    if (parser.load(file.string()).get(groups)) {
      SuiteLoadErrors().push_back(file.string() + ": not a JSON array");
      continue;
    }
    const std::string stem = file.stem().string();
    size_t group_index = 0;
    for (const simdjson::dom::element group : groups) {
      std::string_view group_name;
      simdjson::dom::array tests;
      simdjson::dom::element schema;
      if (group["description"].get(group_name) || group["schema"].get(schema) ||
          group["tests"].get(tests)) {
        SuiteLoadErrors().push_back(file.string() + ": malformed group");
        continue;
      }
      SuiteSchemas().push_back(simdjson::minify(schema));
      size_t test_index = 0;
      for (const simdjson::dom::element test : tests) {
        SuiteCase c;
        std::string_view description;
        simdjson::dom::element data;
        if (test["description"].get(description) || test["data"].get(data) ||
            test["valid"].get(c.valid)) {
          SuiteLoadErrors().push_back(file.string() + ": malformed test");
          continue;
        }
        c.file = file.filename().string();
        c.group = std::string(group_name);
        c.description = std::string(description);
        c.schema = SuiteSchemas().back();
        c.data = simdjson::minify(data);
        const std::string name = std::to_string(group_index) + "_" + Identifier(group_name) + "__" +
                                 std::to_string(test_index++) + "_" + Identifier(description);
        testing::RegisterTest(("Draft7Suite_" + Identifier(stem)).c_str(), name.c_str(), nullptr,
                              nullptr, __FILE__, __LINE__,
                              [c]() -> testing::Test* { return new SuiteCaseTest(c); });
        ++count;
      }
      ++group_index;
    }
  }
  return count;
}

const size_t kSuiteCases = RegisterSuite();

TEST(Draft7Suite, SuiteIsPresentAndComplete) {
  for (const auto& e : SuiteLoadErrors()) ADD_FAILURE() << e;
  EXPECT_GE(kSuiteCases, kMinSuiteCases) << "draft-07 suite cases found under " << SuiteDir();
}

TEST(Draft7Suite, MetaSchemaAcceptsEverySuiteSchema) {
  auto meta = JsonSchema::Compile(R"({"$ref": "http://json-schema.org/draft-07/schema#"})");
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  ASSERT_FALSE(SuiteSchemas().empty());
  for (const std::string& schema : SuiteSchemas()) {
    std::vector<SchemaError> errors;
    EXPECT_TRUE((*meta)->ValidateJson(schema, &errors)) << schema << ErrorsToString(errors);
  }
}

// ---------------------------------------------------------------------------
// Our own cases.

std::shared_ptr<const JsonSchema> MustCompile(std::string_view text) {
  auto schema = JsonSchema::Compile(text);
  EXPECT_TRUE(schema.ok()) << text << ": " << schema.status().ToString();
  return schema.ok() ? *schema : nullptr;
}

std::vector<SchemaError> Errors(const JsonSchema& schema, std::string_view instance,
                                size_t max_errors = 16) {
  std::vector<SchemaError> errors;
  const bool valid = schema.ValidateJson(instance, &errors, max_errors);
  EXPECT_EQ(valid, errors.empty());
  return errors;
}

bool Valid(std::string_view schema, std::string_view instance) {
  auto s = MustCompile(schema);
  return s != nullptr && s->ValidateJson(instance, nullptr);
}

struct CompileErrorCase {
  const char* schema;
  const char* message_part;
};

TEST(JsonSchemaCompile, RejectsBadSchemasWithClearMessages) {
  const CompileErrorCase cases[] = {
      {R"({"type": "strnig"})", R"(unknown type "strnig")"},
      {R"({"type": ["string", 5]})", R"("type" must list only strings, got number)"},
      {R"({"minLength": "3"})", R"("minLength" must be a non-negative integer, got string)"},
      {R"({"maxItems": -1})", R"("maxItems" must be a non-negative integer)"},
      {R"({"required": 5})", R"("required" must be an array of strings, got number)"},
      {R"({"required": ["a", "a"]})", R"(lists "a" twice)"},
      {R"({"properties": {"a": {"minimum": "0"}}})",
       R"(at "#/properties/a": "minimum" must be a number, got string)"},
      {R"({"properties": {"a": 3}})", "must be an object or a boolean, got number"},
      {R"({"exclusiveMinimum": true})", R"("exclusiveMinimum" must be a number, got boolean)"},
      {R"({"multipleOf": 0})", "greater than 0"},
      {R"({"allOf": []})", "non-empty array of schemas"},
      {R"({"not": "x"})", R"("not" must be a schema (object or boolean), got string)"},
      {R"({"dependencies": {"a": 1}})", "arrays of strings or schemas"},
      {R"({"pattern": "(unclosed"})",
       R"(pattern "(unclosed", which RE2 cannot compile: missing ))"},
      {R"({"patternProperties": {"[z-a]": {}}})", R"(pattern "[z-a]")"},
      {R"j({"pattern": "(?=lookahead)"})j", "RE2 cannot compile"},
      {R"({"$ref": "http://example.com/other.json"})", "remote references are not supported"},
      {R"({"$ref": "other.json#/definitions/a"})", "remote references are not supported"},
      {R"({"$ref": "#/definitions/missing", "definitions": {}})", "does not resolve"},
      {R"({"$ref": "#/definitions/a/0"})", "does not resolve"},
      {R"({"$ref": "#/minimum", "minimum": 1})", "not a schema"},
      {R"({"$ref": "#nowhere"})", R"(no schema has $id "#nowhere")"},
      {R"({"$ref": 5})", R"("$ref" must be a string)"},
      {R"({"$schema": "http://json-schema.org/draft-04/schema#"})", "only draft-07"},
      {R"({"$schema": "https://json-schema.org/draft/2019-09/schema"})", "only draft-07"},
      {R"({"$id": 7})", R"("$id" must be a string)"},
      {R"({"type": "string",)", "not valid JSON"},
      {"", "not valid JSON"},
      {"42", "must be an object or a boolean, got number"},
      {R"("a string")", "must be an object or a boolean, got string"},
  };
  for (const auto& c : cases) {
    auto schema = JsonSchema::Compile(c.schema);
    ASSERT_FALSE(schema.ok()) << c.schema;
    EXPECT_EQ(schema.status().code(), Status::Code::kInvalidArgument) << c.schema;
    EXPECT_NE(schema.status().message().find(c.message_part), std::string::npos)
        << c.schema << "\n  got: " << schema.status().message() << "\n  want: " << c.message_part;
  }
}

TEST(JsonSchemaCompile, AcceptsDraft07AnnotationsAndUnknownKeywords) {
  for (const char* text : {
           R"({"$schema": "http://json-schema.org/draft-07/schema#"})",
           R"({"$schema": "http://json-schema.org/draft-07/schema"})",
           R"({"title": "t", "description": "d", "default": 1, "examples": [1], "$comment": "c",
               "format": "date-time", "contentMediaType": "text/plain",
               "contentEncoding": "base64", "readOnly": true, "x-vendor": {"minLength": "x"}})",
           "true",
           "false",
       }) {
    EXPECT_TRUE(JsonSchema::Compile(text).ok()) << text;
  }
  // Annotations do not validate: "format" is not checked.
  EXPECT_TRUE(Valid(R"({"format": "date-time"})", R"("not a date")"));
}

TEST(JsonSchemaErrors, MissingRequiredPropertyIsNamedInThePath) {
  auto s = MustCompile(R"({"type": "object", "required": ["taskId", "owner"]})");
  const auto errors = Errors(*s, R"({"owner": "ann"})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "/taskId");
  EXPECT_EQ(errors[0].message, "is required");
}

TEST(JsonSchemaErrors, NestedArrayItemPath) {
  auto s = MustCompile(R"({"properties": {"items": {"type": "array", "items": {
      "type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}}}}})");
  auto errors = Errors(*s, R"({"items": [{"name": "a"}, {"name": "b"}, {"name": 5}]})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "/items/2/name");
  EXPECT_EQ(errors[0].message, "expected string, got number");
  errors = Errors(*s, R"({"items": [{"name": "abcdefghijk"}]})");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "/items/0/name");
  EXPECT_EQ(errors[0].message, "is longer than 10 characters");
}

TEST(JsonSchemaErrors, MessagesForPeople) {
  struct Case {
    const char* schema;
    const char* instance;
    const char* path;
    const char* message;
  };
  const Case cases[] = {
      {R"({"pattern": "^a+$"})", R"("b")", "", "does not match pattern ^a+$"},
      {R"({"type": ["string", "null"]})", "1", "", "expected null or string, got number"},
      {R"({"type": "integer"})", "1.5", "", "expected integer, got number"},
      {R"({"minLength": 2})", R"("a")", "", "is shorter than 2 characters"},
      {R"({"minimum": 5})", "4", "", "is less than the minimum 5"},
      {R"({"exclusiveMaximum": 2.5})", "2.5", "", "is not less than the exclusive maximum 2.5"},
      {R"({"multipleOf": 3})", "7", "", "is not a multiple of 3"},
      {R"({"maxItems": 1})", "[1, 2]", "", "has more than 1 items"},
      {R"({"minProperties": 1})", "{}", "", "has fewer than 1 properties"},
      {R"({"uniqueItems": true})", "[1, 2, 1.0]", "", "has equal items at 0 and 2 (uniqueItems)"},
      {R"({"enum": ["a", 1]})", "2", "", R"(is not one of the allowed values: "a", 1)"},
      {R"({"const": {"a": 1}})", "2", "", R"(does not equal the constant {"a":1})"},
      {R"({"anyOf": [{"type": "string"}, {"minimum": 3}]})", "1", "",
       "does not match any schema in anyOf"},
      {R"({"oneOf": [{"minimum": 0}, {"maximum": 5}]})", "1", "",
       "matches more than one schema in oneOf (0 and 1)"},
      {R"({"not": {"type": "string"}})", R"("x")", "", R"(must not match the schema in "not")"},
      {R"({"contains": {"const": 1}})", "[2]", "",
       R"(does not contain an item matching "contains")"},
      {R"({"additionalProperties": false})", R"({"a/b~c": 1})", "/a~1b~0c",
       "is not an allowed property (additionalProperties is false)"},
      {R"({"items": [{}], "additionalItems": false})", "[1, 2]", "/1",
       R"(is not allowed: the array has more items than "items" lists)"},
      {R"({"propertyNames": {"maxLength": 2}})", R"({"abc": 1})", "/abc",
       "is not a valid property name: is longer than 2 characters"},
      {R"({"dependencies": {"card": ["billing"]}})", R"({"card": 1})", "/billing",
       R"(is required when "card" is present (dependencies))"},
      {R"({"if": {"type": "string"}, "then": {"minLength": 3}})", R"("ab")", "",
       "is shorter than 3 characters"},
      {"false", "1", "", "is not allowed (the schema is false)"},
  };
  for (const auto& c : cases) {
    auto s = MustCompile(c.schema);
    ASSERT_NE(s, nullptr);
    const auto errors = Errors(*s, c.instance);
    ASSERT_EQ(errors.size(), 1u) << c.schema << " " << c.instance << ErrorsToString(errors);
    EXPECT_EQ(errors[0].path, c.path) << c.schema;
    EXPECT_EQ(errors[0].message, c.message) << c.schema;
  }
}

TEST(JsonSchemaErrors, MaxErrorsIsRespectedAndErrorsAreAppended) {
  auto s = MustCompile(R"({"items": {"type": "string"}})");
  const std::string instance = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]";
  EXPECT_EQ(Errors(*s, instance).size(), 10u);
  EXPECT_EQ(Errors(*s, instance, 3).size(), 3u);
  EXPECT_EQ(Errors(*s, instance, 0).size(), 1u);  // at least one
  std::vector<SchemaError> errors = {{"/earlier", "kept"}};
  EXPECT_FALSE(s->ValidateJson(instance, &errors, 2));
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].message, "kept");
  EXPECT_EQ(errors[2].path, "/1");
  EXPECT_TRUE(s->ValidateJson(R"(["a"])", &errors));
  EXPECT_EQ(errors.size(), 3u);  // a valid instance appends nothing
}

TEST(JsonSchemaErrors, MalformedInstanceIsOneErrorAtTheRoot) {
  auto s = MustCompile("{}");
  const auto errors = Errors(*s, R"({"a": )");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "");
  EXPECT_NE(errors[0].message.find("not valid JSON"), std::string::npos);
}

TEST(JsonSchemaValues, StringLengthCountsCodePoints) {
  EXPECT_TRUE(Valid(R"({"maxLength": 3})", R"("ééé")"));                 // 6 bytes
  EXPECT_TRUE(Valid(R"({"minLength": 2, "maxLength": 2})", R"("💩💩")"));  // 8 bytes
  EXPECT_FALSE(Valid(R"({"minLength": 4})", R"("ééé")"));
}

TEST(JsonSchemaValues, IntegersAndExactNumbers) {
  EXPECT_TRUE(Valid(R"({"type": "integer"})", "1.0"));
  EXPECT_TRUE(Valid(R"({"type": "integer"})", "-0.0"));
  EXPECT_TRUE(Valid(R"({"type": "integer"})", "1e3"));
  EXPECT_FALSE(Valid(R"({"type": "integer"})", "1.5"));
  EXPECT_TRUE(Valid(R"({"type": "integer"})", "18446744073709551615"));
  EXPECT_TRUE(Valid(R"({"multipleOf": 0.0001})", "0.0075"));
  EXPECT_FALSE(Valid(R"({"multipleOf": 0.0001})", "0.00751"));
  EXPECT_TRUE(Valid(R"({"multipleOf": 1.5})", "4.5"));
  EXPECT_FALSE(Valid(R"({"multipleOf": 1.5})", "35"));
  EXPECT_TRUE(Valid(R"({"multipleOf": 0.01})", "19.99"));
  EXPECT_FALSE(Valid(R"({"multipleOf": 0.1})", "0.30000000000000004"));
  EXPECT_FALSE(Valid(R"({"type": "integer", "multipleOf": 0.123456789})", "1e308"));
  EXPECT_TRUE(Valid(R"({"type": "integer", "multipleOf": 1e-8})", "12391239123"));
  // 2^53 + 1 is odd and divisible by 3; as doubles both checks would go wrong.
  EXPECT_TRUE(Valid(R"({"multipleOf": 3})", "9007199254740993"));
  EXPECT_FALSE(Valid(R"({"multipleOf": 2})", "9007199254740993"));
  EXPECT_TRUE(Valid(R"({"multipleOf": 641})", "18446744073709551615"));  // 2^64 - 1
  EXPECT_FALSE(Valid(R"({"multipleOf": 7})", "18446744073709551615"));
  EXPECT_FALSE(Valid(R"({"maximum": 9007199254740992})", "9007199254740993"));
  EXPECT_TRUE(Valid(R"({"maximum": 9007199254740992.0})", "9007199254740992"));
  // 2^64 as a double is above 2^64 - 1 (converting the bound to double would say "equal").
  EXPECT_TRUE(Valid(R"({"exclusiveMinimum": 18446744073709551615})", "1.8446744073709552e19"));
  EXPECT_TRUE(Valid(R"({"minimum": -1.5})", "-1"));
  EXPECT_FALSE(Valid(R"({"minimum": -1.5})", "-2"));
}

TEST(JsonSchemaValues, EqualityIgnoresNumberFormAndKeyOrder) {
  EXPECT_TRUE(Valid(R"({"const": 1})", "1.0"));
  EXPECT_TRUE(Valid(R"({"enum": [{"a": [1, {"b": null}], "c": "x"}]})",
                    R"({"c": "x", "a": [1.0, {"b": null}]})"));
  EXPECT_FALSE(Valid(R"({"const": {"a": 1}})", R"({"a": 1, "b": 2})"));
  EXPECT_FALSE(Valid(R"({"const": [1, 2]})", "[2, 1]"));
  EXPECT_FALSE(Valid(R"({"const": false})", "0"));
  EXPECT_FALSE(Valid(R"({"enum": [null]})", "0"));
}

TEST(JsonSchemaValues, UniqueItemsOnLargeArrays) {
  // More than 16 items takes the hashed path; 1 and 1.0 and reordered objects must collide.
  std::string distinct = "[";
  for (int i = 0; i < 200; ++i) distinct += std::to_string(i) + ",";
  distinct += R"({"a": 1, "b": 2}, [1, 2], "s", null, true, 0.5])";
  EXPECT_TRUE(Valid(R"({"uniqueItems": true})", distinct));
  for (const char* dup :
       {"150.0", R"({"b": 2, "a": 1.0})", "[1.0, 2]", R"("s")", "null", "true", "0.5"}) {
    std::string with_dup = distinct;
    with_dup.insert(with_dup.size() - 1, std::string(",") + dup);
    EXPECT_FALSE(Valid(R"({"uniqueItems": true})", with_dup)) << dup;
  }
}

TEST(JsonSchemaPatterns, SearchIsUnanchored) {
  EXPECT_TRUE(Valid(R"({"pattern": "a+"})", R"("xaay")"));
  EXPECT_FALSE(Valid(R"({"pattern": "^a+$"})", R"("xaay")"));
  EXPECT_TRUE(Valid(R"({"patternProperties": {"^x-": {"type": "string"}},
                        "additionalProperties": false})",
                    R"({"x-a": "1", "x-b": "2"})"));
  EXPECT_FALSE(Valid(R"({"patternProperties": {"^x-": {"type": "string"}},
                         "additionalProperties": false})",
                     R"({"x-a": "1", "y": "2"})"));
  EXPECT_TRUE(Valid(R"({"pattern": "^\\p{L}+$"})", R"("héllo")"));
}

TEST(JsonSchemaPatterns, EcmaEscapesThatRe2ReadsDifferently) {
  // ECMA \s includes \v, NBSP, U+FEFF and the Unicode space separators; RE2's does not.
  for (const char* space : {R"(" ")", R"("\u000b")", R"("\u00a0")", R"("\ufeff")", R"("\u2003")"}) {
    EXPECT_TRUE(Valid(R"({"pattern": "^\\s$"})", space)) << space;
    EXPECT_TRUE(Valid(R"({"pattern": "^[x\\s]$"})", space)) << space;
    EXPECT_FALSE(Valid(R"({"pattern": "^\\S$"})", space)) << space;
  }
  EXPECT_TRUE(Valid(R"({"pattern": "^\\S$"})", R"("\u2013")"));
  EXPECT_FALSE(Valid(R"({"pattern": "^\\s$"})", R"("\u0001")"));
  EXPECT_TRUE(Valid(R"({"pattern": "^\\cC$"})", R"("\u0003")"));
  EXPECT_FALSE(Valid(R"({"pattern": "^\\cC$"})", R"("\\cC")"));
  // An escaped backslash before "s" is not \s.
  EXPECT_TRUE(Valid(R"({"pattern": "^\\\\s$"})", R"("\\s")"));
  EXPECT_EQ(json_schema::EcmaToRe2(R"(a\\s[\s\]]\d)"),
            std::string(R"(a\\s[)") +
                R"(\t\n\x{0b}\f\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f})" +
                R"(\x{205f}\x{3000}\x{feff}\]]\d)");
}

TEST(JsonSchemaPatterns, HalfMegabyteStringIsLinear) {
  auto s = MustCompile(R"({"pattern": "^(a|b)*$"})");
  std::string text(500 * 1024, 'a');
  for (size_t i = 0; i < text.size(); i += 3) text[i] = 'b';
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(s->ValidateJson("\"" + text + "\"", nullptr));
  text.back() = 'c';
  const auto errors = Errors(*s, "\"" + text + "\"");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "does not match pattern ^(a|b)*$");
  text[0] = 'c';
  text.back() = 'a';
  EXPECT_FALSE(s->ValidateJson("\"" + text + "\"", nullptr));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(JsonSchemaPatterns, OversizedPatternsAreRejected) {
  auto one = JsonSchema::Compile(R"({"pattern": "^(\\p{L}{1000}){1000}$"})");
  ASSERT_FALSE(one.ok());
  EXPECT_NE(one.status().message().find("RE2 cannot compile"), std::string::npos);
  // Each is fine alone; together they pass the schema's budget of RE2 instructions.
  std::string many = R"({"properties": {)";
  for (int i = 0; i < 30; ++i) {
    many += (i ? "," : "") + std::string("\"p") + std::to_string(i) +
            R"(": {"pattern": "^\\p{L}{40}$"})";  // ~48,000 instructions
  }
  many += "}}";
  const auto start = std::chrono::steady_clock::now();
  auto all = JsonSchema::Compile(many);
  ASSERT_FALSE(all.ok());
  EXPECT_NE(all.status().message().find("patterns are too large in total"), std::string::npos)
      << all.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(JsonSchemaRefs, PointersAnchorsAndRelativeIds) {
  // JSON Pointer escapes and percent-encoding; targets outside keyword positions.
  const char* escaped = R"({"x~y": {"a/b": {"type": "integer"}}, "percent%field": {"minimum": 3},
      "properties": {"p": {"$ref": "#/x~0y/a~1b"}, "q": {"$ref": "#/percent%25field"}}})";
  EXPECT_TRUE(Valid(escaped, R"({"p": 1, "q": 4})"));
  EXPECT_FALSE(Valid(escaped, R"({"p": "1"})"));
  EXPECT_FALSE(Valid(escaped, R"({"q": 2})"));
  // A location-independent "#name" in a nested resource, reached by absolute URI.
  const char* anchors = R"({"$id": "http://example.com/root.json",
      "properties": {"a": {"$ref": "#top"}, "b": {"$ref": "other.json#leaf"},
                     "c": {"$ref": "http://example.com/other.json#/definitions/leaf"}},
      "definitions": {
        "top": {"$id": "#top", "type": "integer"},
        "other": {"$id": "other.json", "definitions": {"leaf": {"$id": "#leaf", "type": "string"}}}}})";
  EXPECT_TRUE(Valid(anchors, R"({"a": 1, "b": "s", "c": "t"})"));
  EXPECT_FALSE(Valid(anchors, R"({"a": "1"})"));
  EXPECT_FALSE(Valid(anchors, R"({"b": 1})"));
  EXPECT_FALSE(Valid(anchors, R"({"c": 1})"));
  // $id resolved against the nearest enclosing $id, with dot segments.
  const char* relative = R"({"$id": "http://example.com/a/b/root.json",
      "allOf": [{"$ref": "../c/leaf.json"}],
      "definitions": {"x": {"$id": "../c/", "definitions": {"y": {"$id": "leaf.json",
                                                                    "type": "number"}}}}})";
  EXPECT_TRUE(Valid(relative, "1"));
  EXPECT_FALSE(Valid(relative, R"("1")"));
  // $ref siblings, $id included, are ignored.
  EXPECT_TRUE(Valid(R"({"definitions": {"s": {"type": "string"}},
                        "properties": {"a": {"$ref": "#/definitions/s", "maxLength": 1}}})",
                    R"({"a": "long"})"));
  // A URN base.
  EXPECT_FALSE(Valid(R"({"$id": "urn:uuid:deadbeef-1234", "properties": {
      "f": {"$ref": "urn:uuid:deadbeef-1234#/definitions/s"}}, "definitions": {"s": {"type": "string"}}})",
                     R"({"f": 1})"));
}

TEST(JsonSchemaRefs, RecursionThroughTheInstanceIsFine) {
  auto s = MustCompile(R"({"type": "object", "properties": {"value": {"type": "integer"},
                                                            "next": {"$ref": "#"}}})");
  std::string list = R"({"value": 0})";
  for (int i = 1; i < 100; ++i)
    list = R"({"value": )" + std::to_string(i) + R"(, "next": )" + list + "}";
  EXPECT_TRUE(s->ValidateJson(list, nullptr));
  const std::string bad = R"({"next": {"next": {"value": "x"}}})";
  const auto errors = Errors(*s, bad);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "/next/next/value");
}

TEST(JsonSchemaRefs, LoopsThatNeverConsumeTheInstanceAreRejected) {
  for (const char* text : {
           R"({"$ref": "#"})",
           R"({"allOf": [{"$ref": "#"}]})",
           R"({"$ref": "#/definitions/a", "definitions": {"a": {"$ref": "#/definitions/b"},
                                                          "b": {"$ref": "#/definitions/a"}}})",
           R"({"definitions": {"a": {"not": {"$ref": "#/definitions/a"}}}})",
           R"({"$id": "http://x/y", "anyOf": [{"$ref": "http://x/y"}]})",
       }) {
    auto schema = JsonSchema::Compile(text);
    ASSERT_FALSE(schema.ok()) << text;
    EXPECT_NE(schema.status().message().find("cycle"), std::string::npos)
        << schema.status().message();
  }
  // A long chain without a cycle is bounded as well.
  std::string chain = R"({"$ref": "#/definitions/d0", "definitions": {)";
  for (int i = 0; i < 300; ++i) {
    chain += "\"d" + std::to_string(i) + R"(": {"$ref": "#/definitions/d)" + std::to_string(i + 1) +
             "\"},";
  }
  chain += R"("d300": {"type": "string"}}})";
  auto schema = JsonSchema::Compile(chain);
  ASSERT_FALSE(schema.ok());
  EXPECT_EQ(schema.status().code(), Status::Code::kInvalidArgument);
}

TEST(JsonSchemaRefs, BuiltInMetaSchema) {
  auto meta = MustCompile(R"({"$ref": "http://json-schema.org/draft-07/schema"})");
  EXPECT_TRUE(meta->ValidateJson(R"({"type": "string", "minLength": 1})", nullptr));
  EXPECT_FALSE(meta->ValidateJson(R"({"minLength": -1})", nullptr));
  EXPECT_FALSE(meta->ValidateJson(R"({"type": "strnig"})", nullptr));
  // The meta-schema itself compiles, and validates itself.
  const std::string text(json_schema::kDraft07MetaSchema);
  auto self = MustCompile(text);
  EXPECT_TRUE(self->ValidateJson(text, nullptr));
  EXPECT_TRUE(meta->ValidateJson(text, nullptr));
}

TEST(JsonSchemaLimits, LongIdsCompileOrFailCleanly) {
  const std::string long_id = "urn:" + std::string(100'000, 'x');
  const std::string text = R"({"properties": {"a": {"$id": ")" + long_id +
                           R"(", "properties": {"b": {"$ref": "#/definitions/s"}},
                           "definitions": {"s": {"type": "string"}}}}})";
  auto start = std::chrono::steady_clock::now();
  auto s = JsonSchema::Compile(text);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE((*s)->ValidateJson(R"({"a": {"b": 1}})", nullptr));
  EXPECT_TRUE((*s)->ValidateJson(R"({"a": {"b": "x"}})", nullptr));
  // Forty nested relative $ids of 100 KB each: their resolved URIs would total
  // ~80 MB, so compilation stops at the identifier budget.
  std::string nested;
  for (int i = 0; i < 40; ++i)
    nested += R"({"$id": ")" + std::string(100'000, 'y') + R"(/", "not": )";
  nested += R"({"$ref": "#"})" + std::string(40, '}');
  auto deep = JsonSchema::Compile(nested);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(deep.status().message().find("identifiers are too large"), std::string::npos)
      << deep.status().message().substr(0, 300);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

std::string Nest(const std::string& open, const std::string& leaf, const std::string& close,
                 int levels) {
  std::string out;
  out.reserve((open.size() + close.size()) * levels + leaf.size());
  for (int i = 0; i < levels; ++i) out += open;
  out += leaf;
  for (int i = 0; i < levels; ++i) out += close;
  return out;
}

TEST(JsonSchemaLimits, DeepSchemasAreRejected) {
  for (const std::string& text : {
           Nest(R"({"not": )", "{}", "}", 10'000),
           Nest(R"({"properties": {"a": )", "{}", "}}", 10'000),
           Nest(R"({"not": )", "{}", "}", JsonSchema::kMaxSchemaDepth + 10),
           Nest(R"({"items": [)", "{}", "]}", JsonSchema::kMaxSchemaDepth + 10),
       }) {
    auto schema = JsonSchema::Compile(text);
    ASSERT_FALSE(schema.ok()) << text.substr(0, 40);
    EXPECT_EQ(schema.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(schema.status().message().find("nest"), std::string::npos)
        << schema.status().message().substr(0, 200);
  }
  EXPECT_TRUE(JsonSchema::Compile(Nest(R"({"not": )", "{}", "}", 100)).ok());
}

TEST(JsonSchemaLimits, DeepInstancesFailCleanly) {
  auto recursive = MustCompile(R"({"items": {"$ref": "#"}})");
  // Past the parse limit of ValidateJson.
  auto errors = Errors(*recursive, Nest("[", "", "]", 100'000));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "");
  EXPECT_NE(errors[0].message.find("nested deeper"), std::string::npos) << errors[0].message;
  // An instance parsed elsewhere, deeper than the validation limit: an error
  // deep down, found also under "not" (where a probe would otherwise turn it into "valid").
  simdjson::dom::parser parser;
  const std::string deep = Nest("[", "", "]", 3000);
  ASSERT_EQ(parser.allocate(deep.size(), 5000), simdjson::SUCCESS);
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(deep).get(root), simdjson::SUCCESS);
  std::vector<SchemaError> out;
  EXPECT_FALSE(recursive->Validate(root, &out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].message.find("nested too deeply"), std::string::npos) << out[0].message;
  auto negated = MustCompile(R"({"not": {"$ref": "#/definitions/a"},
                                 "definitions": {"a": {"type": "array", "items": {"$ref": "#/definitions/a"}}}})");
  out.clear();
  EXPECT_FALSE(negated->Validate(root, &out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].message.find("nested too deeply"), std::string::npos) << out[0].message;
  EXPECT_EQ(out[0].path.substr(0, 6), "/0/0/0");
  auto constant = MustCompile(R"({"const": [[[1]]]})");
  EXPECT_FALSE(constant->Validate(root, nullptr));
  auto unique = MustCompile(R"({"uniqueItems": true})");
  const std::string two = "[" + deep + "," + deep + "]";
  ASSERT_EQ(parser.parse(two).get(root), simdjson::SUCCESS);
  out.clear();
  EXPECT_FALSE(unique->Validate(root, &out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].message, "is nested too deeply to compare items");
  // Within the limits, depth is no problem.
  EXPECT_TRUE(recursive->ValidateJson(Nest("[", "", "]", 200), nullptr));
}

TEST(JsonSchemaThreads, ConcurrentValidateOnOneSchema) {
  auto s = MustCompile(R"({"type": "object", "required": ["taskId"],
      "properties": {"taskId": {"type": "string", "pattern": "^t-[0-9]+$"},
                     "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": true},
                     "meta": {"$ref": "#/definitions/meta"}},
      "definitions": {"meta": {"type": "object", "additionalProperties": {"type": "integer"}}}})");
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string id = std::to_string(t * 1000 + i);
        const std::string good =
            R"({"taskId": "t-)" + id + R"(", "tags": ["a", "b"], "meta": {"n": 1}})";
        const std::string bad =
            R"({"taskId": "x)" + id + R"(", "tags": ["a", "a"], "meta": {"n": 1.5}})";
        std::vector<SchemaError> errors;
        if (!s->ValidateJson(good, &errors) || !errors.empty()) ++failures[t];
        if (s->ValidateJson(bad, &errors) || errors.size() != 3) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
}

TEST(Uri, ResolvesRfc3986Examples) {
  const std::string base = "http://a/b/c/d;p?q";
  const std::pair<const char*, const char*> cases[] = {
      {"g:h", "g:h"},
      {"g", "http://a/b/c/g"},
      {"./g", "http://a/b/c/g"},
      {"g/", "http://a/b/c/g/"},
      {"/g", "http://a/g"},
      {"//g", "http://g"},
      {"?y", "http://a/b/c/d;p?y"},
      {"g?y", "http://a/b/c/g?y"},
      {"#s", "http://a/b/c/d;p?q#s"},
      {"g#s", "http://a/b/c/g#s"},
      {";x", "http://a/b/c/;x"},
      {"", "http://a/b/c/d;p?q"},
      {".", "http://a/b/c/"},
      {"./", "http://a/b/c/"},
      {"..", "http://a/b/"},
      {"../", "http://a/b/"},
      {"../g", "http://a/b/g"},
      {"../..", "http://a/"},
      {"../../g", "http://a/g"},
      {"../../../g", "http://a/g"},
      {"/./g", "http://a/g"},
      {"/../g", "http://a/g"},
      {"g.", "http://a/b/c/g."},
      {"..g", "http://a/b/c/..g"},
      {"./../g", "http://a/b/g"},
      {"g/./h", "http://a/b/c/g/h"},
      {"g/../h", "http://a/b/c/h"},
      {"g;x=1/../y", "http://a/b/c/y"},
  };
  for (const auto& [ref, want] : cases) EXPECT_EQ(uri::Resolve(base, ref), want) << ref;
  EXPECT_EQ(uri::Resolve("urn:uuid:1234", "#foo"), "urn:uuid:1234#foo");
  EXPECT_EQ(uri::Resolve("", "node"), "node");
  EXPECT_EQ(uri::Resolve("file:///c:/folder/file.json", "#/a"), "file:///c:/folder/file.json#/a");
  EXPECT_EQ(uri::PercentDecode("a%25b%7e"), "a%b~");
  EXPECT_FALSE(uri::PercentDecode("a%2").has_value());
  EXPECT_FALSE(uri::PercentDecode("a%zz").has_value());
}

}  // namespace
}  // namespace eventflow

namespace eventflow {
namespace {

// Definitions d0..d<levels>, each applying the one before twice; the root
// applies the last (`negate`: under "not"). `descend`: each level first
// descends into property "a".
std::string DoublingSchema(int levels, bool descend, bool negate = false) {
  std::string defs = R"("d0": {"type": "object"})";
  for (int k = 1; k <= levels; ++k) {
    const std::string prev = "{\"$ref\": \"#/definitions/d" + std::to_string(k - 1) + "\"}";
    const std::string both = "{\"allOf\": [" + prev + ", " + prev + "]}";
    defs += ", \"d" + std::to_string(k) +
            "\": " + (descend ? "{\"properties\": {\"a\": " + both + "}}" : both);
  }
  const std::string ref = "{\"$ref\": \"#/definitions/d" + std::to_string(levels) + "\"}";
  return "{\"definitions\": {" + defs + "}, \"allOf\": [" +
         (negate ? "{\"not\": " + ref + "}" : ref) + "]}";
}

// {"a": {"a": ... {}}} nested `depth` deep.
std::string NestedA(int depth) {
  std::string out;
  for (int i = 0; i < depth; ++i) out += "{\"a\": ";
  out += "{}";
  for (int i = 0; i < depth; ++i) out += "}";
  return out;
}

TEST(JsonSchemaCost, ExponentialInPlaceSchemaIsRefusedAtCompile) {
  // 8 levels apply 1021 subschemas to one value: allowed; 9 levels, 2045: not.
  EXPECT_TRUE(JsonSchema::Compile(DoublingSchema(8, false)).ok());
  for (int levels : {9, 25, 60}) {
    auto s = JsonSchema::Compile(DoublingSchema(levels, false));
    ASSERT_FALSE(s.ok()) << levels;
    EXPECT_NE(s.status().message().find("too costly to validate"), std::string::npos)
        << s.status().message();
  }
}

TEST(JsonSchemaCost, DoublingAcrossLevelsRunsOutOfSteps) {
  // Each instance level doubles the work: compiles (3 paths per value), but
  // 40 levels would take 2^41 steps.
  auto s = MustCompile(DoublingSchema(40, true));
  std::vector<SchemaError> errors;
  EXPECT_FALSE(s->ValidateJson(NestedA(40), &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "");
  EXPECT_EQ(errors[0].message, "too costly to validate");
  // A shallow instance is validated as usual, and a shared budget is drawn on.
  EXPECT_TRUE(s->ValidateJson(NestedA(5), nullptr));
  ValidationBudget budget{100};
  simdjson::dom::parser parser;
  simdjson::dom::element deep = parser.parse(NestedA(10)).value();
  errors.clear();
  EXPECT_FALSE(s->Validate(deep, &errors, 16, &budget));
  EXPECT_TRUE(budget.exhausted);
  EXPECT_EQ(budget.steps_left, 0u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "too costly to validate");
  // Under "not", running out of steps is still a failure, never a pass.
  auto negated = MustCompile(DoublingSchema(40, true, true));
  EXPECT_FALSE(negated->ValidateJson(NestedA(40), nullptr));
}

TEST(JsonSchemaCost, CostlyPatternIsChargedByInputLength) {
  auto s = MustCompile(R"({"type": "string", "pattern": "(a|b)*a(a|b){1000}c"})");
  const std::string small = "\"" + std::string(200, 'a') + "\"";
  std::vector<SchemaError> errors;
  EXPECT_FALSE(s->ValidateJson(small, &errors));  // no "c": no match, but checked
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("does not match pattern"), std::string::npos);
  // A long input is refused before the search runs.
  const std::string big = "\"" + std::string(1 << 20, 'a') + "\"";
  errors.clear();
  EXPECT_FALSE(s->ValidateJson(big, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "too costly to validate");
  // patternProperties are charged too.
  auto keys = MustCompile(R"({"patternProperties": {"(a|b)*a(a|b){1000}c": {}}})");
  errors.clear();
  EXPECT_FALSE(keys->ValidateJson("{\"" + std::string(1 << 20, 'a') + "\": 1}", &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "too costly to validate");
}

}  // namespace
}  // namespace eventflow
