// ProcessingRules and JsonEdit: every filter op on present, absent and
// mistyped fields, all/any, transforms that keep untouched text exactly,
// failures naming the rule, and rules refused when compiled.
#include "formats/processing_rules.h"

#include <gtest/gtest.h>

#include "formats/json_edit.h"

namespace eventflow {
namespace {

const char* kEvent =
    R"({"event_id":"e","offset":3,"key":"org-42","payload":{"amount":150,"price":1.50,)"
    R"("name":"caf\u00e9","tags":["a","b"],"card":"4111","nested":{"x":1e2}},)"
    R"("metadata":{"event_type":"TaskCreated","context":{"trace_id":"t"}},"created_at":"c"})";

std::shared_ptr<const ProcessingRules> Compile(const std::string& rules) {
  simdjson::dom::parser parser;
  auto doc = parser.parse(rules);
  EXPECT_FALSE(doc.error()) << rules;
  auto compiled = ProcessingRules::Compile(doc.value());
  EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
  return compiled.ok() ? *compiled : nullptr;
}

std::string CompileError(const std::string& rules) {
  simdjson::dom::parser parser;
  auto compiled = ProcessingRules::Compile(parser.parse(rules).value());
  return compiled.ok() ? std::string("compiled") : compiled.status().message();
}

std::string Filter(const std::string& field, const std::string& op, const std::string& value) {
  return R"([{"type":"filter","where":{"field":")" + field + R"(","op":")" + op + "\"" +
         (value.empty() ? "" : ",\"value\":" + value) + "}}]";
}

// "keep", "drop" or the failure message.
std::string Verdict(const std::string& rules, const std::string& event = kEvent) {
  auto r = Compile(rules);
  if (!r) return "not compiled";
  auto out = r->Apply(event);
  if (!out.ok()) return out.status().message();
  return out->filtered ? "drop" : "keep";
}

TEST(ProcessingRules, ComparisonOps) {
  EXPECT_EQ(Verdict(Filter("/payload/amount", "eq", "150")), "keep");
  EXPECT_EQ(Verdict(Filter("/payload/amount", "eq", "150.0")), "keep");
  EXPECT_EQ(Verdict(Filter("/payload/amount", "eq", "151")), "drop");
  EXPECT_EQ(Verdict(Filter("/payload/amount", "ne", "151")), "keep");
  EXPECT_EQ(Verdict(Filter("/payload/amount", "ne", "150")), "drop");
  EXPECT_EQ(Verdict(Filter("/payload/amount", "gt", "149")), "keep");
  EXPECT_EQ(Verdict(Filter("/payload/amount", "gt", "150")), "drop");
  EXPECT_EQ(Verdict(Filter("/payload/amount", "gte", "150")), "keep");
  EXPECT_EQ(Verdict(Filter("/payload/amount", "gte", "150.5")), "drop");
  EXPECT_EQ(Verdict(Filter("/payload/amount", "lt", "151")), "keep");
  EXPECT_EQ(Verdict(Filter("/payload/amount", "lt", "150")), "drop");
  EXPECT_EQ(Verdict(Filter("/payload/amount", "lte", "150")), "keep");
  EXPECT_EQ(Verdict(Filter("/payload/amount", "lte", "-3")), "drop");
  EXPECT_EQ(Verdict(Filter("/payload/price", "lt", "2")), "keep");
  EXPECT_EQ(Verdict(Filter("/key", "gt", "\"org-41\"")), "keep");  // strings compare bytewise
  EXPECT_EQ(Verdict(Filter("/key", "gt", "\"org-5\"")), "drop");
  EXPECT_EQ(Verdict(Filter("/payload/name", "eq", "\"caf\\u00e9\"")), "keep");  // unescaped
  EXPECT_EQ(Verdict(Filter("/payload/tags", "eq", R"(["a","b"])")), "keep");
  EXPECT_EQ(Verdict(Filter("/payload/tags", "eq", R"(["b","a"])")), "drop");
  EXPECT_EQ(Verdict(Filter("/payload/nested", "eq", R"({"x":100})")), "keep");
  EXPECT_EQ(Verdict(Filter("/payload/tags/1", "eq", "\"b\"")), "keep");
}

TEST(ProcessingRules, MembershipPrefixAndPresence) {
  EXPECT_EQ(Verdict(Filter("/metadata/event_type", "in", R"(["A","TaskCreated"])")), "keep");
  EXPECT_EQ(Verdict(Filter("/metadata/event_type", "in", R"(["A","B"])")), "drop");
  EXPECT_EQ(Verdict(Filter("/key", "prefix", "\"org-\"")), "keep");
  EXPECT_EQ(Verdict(Filter("/key", "prefix", "\"user-\"")), "drop");
  EXPECT_EQ(Verdict(Filter("/payload/card", "exists", "")), "keep");
  EXPECT_EQ(Verdict(Filter("/payload/cvv", "exists", "")), "drop");
  EXPECT_EQ(Verdict(Filter("/payload/cvv", "not_exists", "")), "keep");
  EXPECT_EQ(Verdict(Filter("/payload/card", "not_exists", "")), "drop");
}

TEST(ProcessingRules, AbsentFieldsFailEveryComparison) {
  for (const char* op : {"eq", "ne", "gt", "gte", "lt", "lte"}) {
    EXPECT_EQ(Verdict(Filter("/payload/missing", op, "1")), "drop") << op;
  }
  EXPECT_EQ(Verdict(Filter("/payload/missing", "in", "[1]")), "drop");
  EXPECT_EQ(Verdict(Filter("/payload/missing", "prefix", "\"a\"")), "drop");
  EXPECT_EQ(Verdict(Filter("/payload/amount/deeper", "eq", "1")), "drop");
}

TEST(ProcessingRules, MistypedComparisonsFailNamingTheRule) {
  EXPECT_EQ(Verdict(Filter("/payload/card", "gt", "100")),
            "rules[0] (filter): gt on /payload/card: the field is a string, the value a number");
  EXPECT_NE(Verdict(Filter("/payload/amount", "prefix", "\"1\"")).find("not a string"),
            std::string::npos);
  EXPECT_NE(Verdict(Filter("/payload/tags", "lte", "\"z\"")).find("an array"), std::string::npos);
}

TEST(ProcessingRules, AllAndAny) {
  const std::string both =
      R"([{"type":"filter","where":{"all":[{"field":"/payload/amount","op":"gte","value":100},)"
      R"({"field":"/key","op":"prefix","value":"org-"}]}}])";
  EXPECT_EQ(Verdict(both), "keep");
  const std::string one_fails =
      R"([{"type":"filter","where":{"all":[{"field":"/payload/amount","op":"gte","value":100},)"
      R"({"field":"/key","op":"prefix","value":"user-"}]}}])";
  EXPECT_EQ(Verdict(one_fails), "drop");
  const std::string any =
      R"([{"type":"filter","where":{"any":[{"field":"/payload/amount","op":"lt","value":10},)"
      R"({"all":[{"field":"/payload/card","op":"exists"}]}]}}])";
  EXPECT_EQ(Verdict(any), "keep");
  EXPECT_EQ(Verdict(R"([{"type":"filter","where":{"any":[]}}])"), "drop");
  EXPECT_EQ(Verdict(R"([{"type":"filter","where":{"all":[]}}])"), "keep");
}

TEST(ProcessingRules, TransformKeepsUntouchedTextExactly) {
  auto r = Compile(
      R"([{"type":"transform","set":{"/payload/currency":"EUR","/metadata/context/stage":{"n":1}},)"
      R"("remove":["/payload/card","/payload/nope"],"rename":{"/payload/amount":"/payload/total"}}])");
  auto out = r->Apply(kEvent);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_FALSE(out->filtered);
  ASSERT_TRUE(out->transformed);
  EXPECT_EQ(*out->transformed,
            R"({"event_id":"e","offset":3,"key":"org-42","payload":{"price":1.50,)"
            R"("name":"caf\u00e9","tags":["a","b"],"nested":{"x":1e2},"currency":"EUR",)"
            R"("total":150},"metadata":{"event_type":"TaskCreated","context":{"trace_id":"t",)"
            R"("stage":{"n":1}}},"created_at":"c"})");
}

TEST(ProcessingRules, RulesRunInOrderOnTheTransformedEvent) {
  const std::string rules =
      R"([{"type":"transform","rename":{"/payload/amount":"/payload/total"}},)"
      R"({"type":"filter","where":{"field":"/payload/total","op":"gt","value":100}},)"
      R"({"type":"transform","set":{"/key":"big"}}])";
  auto r = Compile(rules);
  auto out = r->Apply(kEvent);
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->transformed);
  EXPECT_NE(out->transformed->find(R"("key":"big")"), std::string::npos);
  EXPECT_NE(out->transformed->find(R"("total":150)"), std::string::npos);
  // Filtered after a transform: nothing is delivered, so nothing transformed.
  auto small = r->Apply(R"({"key":"k","payload":{"amount":5},"metadata":{}})");
  ASSERT_TRUE(small.ok());
  EXPECT_TRUE(small->filtered);
  EXPECT_FALSE(small->transformed);
}

TEST(ProcessingRules, TransformFailures) {
  auto rename_missing = Compile(R"([{"type":"transform","rename":{"/payload/x":"/payload/y"}}])");
  auto out = rename_missing->Apply(kEvent);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "rules[0] (transform): rename /payload/x to /payload/y: the field is missing");
  auto into_scalar = Compile(R"([{"type":"transform","set":{"/payload/card/last4":"1111"}}])");
  EXPECT_FALSE(into_scalar->Apply(kEvent).ok());
  auto key_not_string = Compile(R"([{"type":"transform","rename":{"/payload/amount":"/key"}}])");
  auto bad_key = key_not_string->Apply(kEvent);
  ASSERT_FALSE(bad_key.ok());
  EXPECT_NE(bad_key.status().message().find("/key is not a string"), std::string::npos);
}

TEST(ProcessingRules, InvalidRulesAreRefusedWithWhere) {
  EXPECT_EQ(CompileError(R"({"type":"filter"})"), "processing.rules must be an array");
  EXPECT_EQ(CompileError(R"([{"type":"map"}])"),
            "rules[0].type: must be \"filter\" or \"transform\"");
  EXPECT_EQ(CompileError(Filter("/payload/a", "between", "1")),
            "rules[0].where.op: unknown op \"between\" (eq ne gt gte lt lte exists not_exists in "
            "prefix)");
  EXPECT_EQ(CompileError(Filter("/payload/a", "gt", "true")),
            "rules[0].where.value: gt needs a number or a string");
  EXPECT_EQ(CompileError(Filter("/payload/a", "in", "1")),
            "rules[0].where.value: in needs an array");
  EXPECT_EQ(CompileError(Filter("/payload/a", "exists", "1")),
            "rules[0].where: exists takes no \"value\"");
  EXPECT_EQ(CompileError(Filter("/payload/a", "eq", "")), "rules[0].where: eq needs a \"value\"");
  EXPECT_EQ(CompileError(Filter("payload", "eq", "1")),
            "rules[0].where.field: a JSON Pointer must be empty or start with \"/\"");
  EXPECT_EQ(CompileError(Filter("/a~2", "eq", "1")),
            "rules[0].where.field: \"~\" must be followed by 0 or 1 in a JSON Pointer");
  EXPECT_EQ(CompileError(R"([{"type":"filter","where":{"all":[{"field":"/a"}]}}])"),
            "rules[0].where.all[0]: needs \"field\" and \"op\" (or \"all\"/\"any\")");
  EXPECT_EQ(CompileError(R"([{"type":"transform"}])"),
            "rules[0]: a transform needs \"set\", \"remove\" or \"rename\"");
  EXPECT_EQ(CompileError(R"([{"type":"transform","set":{"/event_id":"x"}}])"),
            "rules[0].set: \"/event_id\" is not \"/key\" or a member under \"/payload/\" or "
            "\"/metadata/\"");
  EXPECT_EQ(CompileError(R"([{"type":"transform","set":{"/key":1}}])"),
            "rules[0].set: \"/key\" must be set to a string");
  EXPECT_EQ(CompileError(R"([{"type":"transform","remove":"/payload/a"}])"),
            "rules[0].remove: must be an array of JSON Pointers");
  EXPECT_EQ(CompileError(R"([{"type":"filter","where":{},"extra":1}])"),
            "rules[0]: unknown member \"extra\"");
}

TEST(JsonEdit, PointersAndArrays) {
  auto path = ParseJsonPointer("/a~1b/c~0d/");
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(*path, (std::vector<std::string>{"a/b", "c~d", ""}));
  auto edit = JsonEdit::Parse(R"({"list":[1, 2.50 ,"x"],"s":"q"})");
  ASSERT_TRUE(edit.ok());
  ASSERT_TRUE(edit->Set({"list", "-"}, "true").ok());
  ASSERT_TRUE(edit->Set({"list", "0"}, "10").ok());
  EXPECT_FALSE(edit->Set({"list", "9"}, "1").ok());
  EXPECT_TRUE(*edit->Remove({"list", "2"}));
  EXPECT_FALSE(*edit->Remove({"list", "7"}));
  EXPECT_FALSE(*edit->Remove({"s", "deeper"}));
  ASSERT_TRUE(edit->Set({"new", "deep", "er"}, "null").ok());
  EXPECT_EQ(edit->Serialize(), R"({"list":[10,2.50,true],"s":"q","new":{"deep":{"er":null}}})");
  EXPECT_EQ(**edit->Get({"list", "1"}), "2.50");
  EXPECT_FALSE(edit->Get({"nope"})->has_value());
}

TEST(JsonEdit, MoveKeepsTheValueTextAndReportsAMissingSource) {
  auto edit = JsonEdit::Parse(R"({"a":{"x":[1, 2.50]},"b":"q"})");
  ASSERT_TRUE(edit.ok());
  EXPECT_TRUE(*edit->Move({"a", "x"}, {"c", "y"}));
  EXPECT_FALSE(*edit->Move({"a", "x"}, {"d"}));
  EXPECT_FALSE(*edit->Move({"b", "deeper"}, {"d"}));
  EXPECT_EQ(edit->Serialize(), R"({"a":{},"b":"q","c":{"y":[1, 2.50]}})");
}

// Strings are scanned eight bytes at a time: escapes and quotes at every
// position around a word boundary, in short and long strings, must end the
// string exactly where JSON says.
TEST(JsonEdit, StringEndsAreFoundAtEveryPosition) {
  const std::vector<std::string> pieces = {"\\\"", "\\\\", "\\\\\\\"", "\\u00e9", "{[", "]}"};
  for (size_t len = 0; len < 48; ++len) {
    for (const std::string& piece : pieces) {
      for (size_t at = 0; at <= len; at += 3) {
        std::string text(len, 'x');
        text.insert(at, piece);
        const std::string doc = R"({"s":")" + text + R"(","n":{"k":[1,"]"]},"t":7})";
        auto s = FindJsonValue(doc, {"s"});
        ASSERT_TRUE(s.ok() && s->has_value()) << doc;
        EXPECT_EQ(**s, "\"" + text + "\"") << doc;
        auto t = FindJsonValue(doc, {"t"});
        ASSERT_TRUE(t.ok() && t->has_value()) << doc;
        EXPECT_EQ(**t, "7") << doc;
        auto k = FindJsonValue(doc, {"n", "k", "1"});
        ASSERT_TRUE(k.ok() && k->has_value()) << doc;
        EXPECT_EQ(**k, "\"]\"") << doc;
        auto edit = JsonEdit::Parse(doc);
        ASSERT_TRUE(edit.ok());
        ASSERT_TRUE(edit->Set({"t"}, "8").ok());
        EXPECT_EQ(edit->Serialize(), R"({"s":")" + text + R"(","n":{"k":[1,"]"]},"t":8})") << doc;
      }
    }
  }
}

TEST(JsonEdit, FindJsonValueAnswersAbsentLikeAJsonPointer) {
  const std::string doc = R"({ "a" : [ 10 , {"b":null} ] , "e\u0073c":true })";
  EXPECT_EQ(**FindJsonValue(doc, {"a", "0"}), "10");
  EXPECT_EQ(**FindJsonValue(doc, {"a", "1", "b"}), "null");
  EXPECT_EQ(**FindJsonValue(doc, {"esc"}), "true");
  EXPECT_EQ(**FindJsonValue(doc, {}), doc.substr(0, doc.size()));
  EXPECT_FALSE(FindJsonValue(doc, {"a", "2"})->has_value());
  EXPECT_FALSE(FindJsonValue(doc, {"a", "01"})->has_value());
  EXPECT_FALSE(FindJsonValue(doc, {"a", "-"})->has_value());
  EXPECT_FALSE(FindJsonValue(doc, {"a", "0", "x"})->has_value());
  EXPECT_FALSE(FindJsonValue(doc, {"nope"})->has_value());
  EXPECT_FALSE(FindJsonValue(R"({"a":)", {"a"}).ok());
}

// Found by fuzz_json_edit: a set through hundreds of missing parents made
// events nested deeper than the server's parsers take (simdjson: 1024).
TEST(ProcessingRules, ADeepWritePathWasAccepted) {
  std::string deep = "/payload";
  for (int i = 0; i < 31; ++i) deep += "/a";
  EXPECT_EQ(CompileError(R"([{"type":"transform","set":{")" + deep + R"(":1}}])"), "compiled");
  deep += "/a";  // 33 tokens
  for (const std::string& rule :
       {R"({"type":"transform","set":{")" + deep + R"(":1}})",
        R"({"type":"transform","rename":{"/payload/x":")" + deep + R"("}})"}) {
    EXPECT_NE(CompileError("[" + rule + "]").find("at most 32 tokens"), std::string::npos) << rule;
  }
}

}  // namespace
}  // namespace eventflow
