// Stream schemas over real HTTP: payloads checked against the stream's JSON
// Schema (422 with paths), batches all-or-nothing with the gravest status,
// PATCH replacing settings durably, hostile schemas and payloads that leave
// the server up, and a 10,000-event batch with one bad event.
#include <gtest/gtest.h>

#include "tests/e2e/server_process.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::Field;
using testing::HttpReply;
using testing::ServerProcess;
using testing::TempDir;

constexpr char kAdmin[] = "admin-secret-for-tests";
constexpr char kTaskSchema[] =
    R"({"type":"object","required":["taskId"],"properties":{"taskId":{"type":"string"},)"
    R"("priority":{"enum":["low","high"]}}})";

class SchemaTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void Start() {
    server_ = std::make_unique<ServerProcess>(
        tmp_.path(), std::vector<std::string>{"--bootstrap-key", kAdmin, "--segment-bytes",
                                              "1048576", "--max-event-bytes", "2097152"});
    ASSERT_TRUE(server_->ok()) << server_->first_line();
  }
  HttpReply Call(const std::string& method, const std::string& target,
                 const std::string& body = "") {
    return server_->Request(method, target, body, std::string("X-API-Key: ") + kAdmin + "\r\n");
  }
  HttpReply Produce(const std::string& stream, const std::string& payload) {
    return Call("POST", "/api/v1/streams/" + stream + "/events",
                R"({"event_type":"TaskCreated","payload":)" + payload + "}");
  }
  std::string Count(const std::string& stream) {
    return Field(Call("GET", "/api/v1/streams/" + stream).body, "/event_count");
  }
  bool Healthy() { return server_->Request("GET", "/healthz").status == 200; }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(SchemaTest, PayloadsAreCheckedAndRefusalsStoreNothing) {
  auto made = Call("POST", "/api/v1/streams",
                   std::string(R"({"name":"tasks","schema":)") + kTaskSchema + "}");
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(Field(made.body, "/schema/required/0"), "taskId");
  EXPECT_EQ(Produce("tasks", R"({"taskId":"t-1","priority":"high"})").status, 202);

  auto missing = Produce("tasks", R"({"title":"no id"})");
  EXPECT_EQ(missing.status, 422) << missing.body;
  EXPECT_EQ(Field(missing.body, "/error/code"), "schema_validation_failed");
  EXPECT_EQ(Field(missing.body, "/error/details/0/path"), "/taskId");
  EXPECT_FALSE(Field(missing.body, "/error/details/0/message").empty());

  auto wrong = Produce("tasks", R"({"taskId":7,"priority":"urgent"})");
  EXPECT_EQ(wrong.status, 422) << wrong.body;
  EXPECT_NE(wrong.body.find(R"("path":"/taskId")"), std::string::npos) << wrong.body;
  EXPECT_NE(wrong.body.find(R"("path":"/priority")"), std::string::npos) << wrong.body;

  // Envelope errors come before the schema: 400, not 422.
  auto envelope = Call("POST", "/api/v1/streams/tasks/events", R"({"payload":{"title":"x"}})");
  EXPECT_EQ(envelope.status, 400);
  EXPECT_EQ(Field(envelope.body, "/error/code"), "invalid_event");
  EXPECT_EQ(Count("tasks"), "1");
}

TEST_F(SchemaTest, BatchesAreAllOrNothingWithTheGravestStatus) {
  ASSERT_EQ(Call("POST", "/api/v1/streams",
                 std::string(R"({"name":"tasks","schema":)") + kTaskSchema + "}")
                .status,
            201);
  const std::string good = R"({"event_type":"T","payload":{"taskId":"a"}})";
  const std::string no_id = R"({"event_type":"T","payload":{"other":1}})";
  const std::string no_type = R"({"payload":{"taskId":"b"}})";
  auto schema_only = Call("POST", "/api/v1/streams/tasks/events/batch",
                          "{\"events\":[" + good + "," + no_id + "," + good + "]}");
  EXPECT_EQ(schema_only.status, 422) << schema_only.body;
  EXPECT_EQ(Field(schema_only.body, "/error/details/0/index"), "1");
  EXPECT_EQ(Field(schema_only.body, "/error/details/0/path"), "/taskId");
  // A schema failure and an envelope failure: the envelope's 400 wins.
  auto mixed = Call("POST", "/api/v1/streams/tasks/events/batch",
                    "{\"events\":[" + no_id + "," + no_type + "]}");
  EXPECT_EQ(mixed.status, 400) << mixed.body;
  EXPECT_EQ(Field(mixed.body, "/error/code"), "invalid_event");
  EXPECT_EQ(Field(mixed.body, "/error/details/0/index"), "0");
  EXPECT_EQ(Field(mixed.body, "/error/details/1/index"), "1");
  EXPECT_EQ(Count("tasks"), "0");
  auto ok = Call("POST", "/api/v1/streams/tasks/events/batch",
                 "{\"events\":[" + good + "," + good + "]}");
  EXPECT_EQ(ok.status, 202) << ok.body;
  EXPECT_EQ(Count("tasks"), "2");
}

TEST_F(SchemaTest, BadSchemasAreRefusedWhenTheStreamIsCreated) {
  const std::vector<std::string> bad = {
      R"({"type":"strnig"})",
      R"({"minLength":"3"})",
      R"({"pattern":"(?<=a)b"})",
      R"({"$ref":"http://example.com/remote.json"})",
      R"({"$ref":"#/definitions/missing"})",
      R"({"$schema":"http://json-schema.org/draft-04/schema#"})",
      R"(5)",
      R"("object")",
  };
  for (const auto& schema : bad) {
    auto r = Call("POST", "/api/v1/streams", R"({"name":"s","schema":)" + schema + "}");
    EXPECT_EQ(r.status, 400) << schema << " -> " << r.body;
    EXPECT_EQ(Field(r.body, "/error/code"), "invalid_stream") << schema;
    EXPECT_FALSE(Field(r.body, "/error/message").empty());
  }
  EXPECT_EQ(Field(Call("GET", "/api/v1/streams").body, "/streams"), "[]");
  // The built-in meta-schema: a stream of schemas.
  auto meta =
      Call("POST", "/api/v1/streams",
           R"({"name":"schemas","schema":{"$ref":"http://json-schema.org/draft-07/schema#"}})");
  ASSERT_EQ(meta.status, 201) << meta.body;
  EXPECT_EQ(Produce("schemas", R"({"type":"object"})").status, 202);
  EXPECT_EQ(Produce("schemas", R"({"type":"nonsense"})").status, 422);
}

TEST_F(SchemaTest, PatchIgnoredNullsThatRfc7396MakesResets) {
  ASSERT_EQ(Call("POST", "/api/v1/streams",
                 R"({"name":"t","schema":{"type":"object","required":["a"]},)"
                 R"("retention":{"max_age_s":3600,"max_bytes":1000000},"max_deliveries":9,)"
                 R"("cleanup_policy":"compact",)"
                 R"("processing":{"rules":[{"type":"transform","set":{"/payload/x":1}}],)"
                 R"("max_attempts":7,"backoff_ms":500}})")
                .status,
            201);
  // A member's null turns it back to its default; its siblings stay.
  auto r = Call("PATCH", "/api/v1/streams/t", R"({"retention":{"max_age_s":null}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Field(r.body, "/retention/max_age_s"), "null");
  EXPECT_EQ(Field(r.body, "/retention/max_bytes"), "1000000");
  r = Call("PATCH", "/api/v1/streams/t", R"({"processing":{"max_attempts":null}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Field(r.body, "/processing/max_attempts"), "5");
  EXPECT_EQ(Field(r.body, "/processing/backoff_ms"), "500");
  EXPECT_EQ(Field(r.body, "/processing/rules/0/type"), "transform");
  // An object setting's null resets all of it; a scalar's, that one.
  r = Call("PATCH", "/api/v1/streams/t",
           R"({"retention":null,"processing":null,"max_deliveries":null,"cleanup_policy":null})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Field(r.body, "/retention"), R"({"max_age_s":null,"max_bytes":null})");
  EXPECT_EQ(Field(r.body, "/processing"), R"({"rules":[],"max_attempts":5,"backoff_ms":100})");
  EXPECT_EQ(Field(r.body, "/max_deliveries"), "5");
  EXPECT_EQ(Field(r.body, "/cleanup_policy"), "delete");
  // The schema is replaced whole, never merged; one holding a null is set
  // as written.
  r = Call("PATCH", "/api/v1/streams/t",
           R"({"schema":{"type":"object","properties":{"v":{"const":null}}}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Field(r.body, "/schema"), R"({"type":"object","properties":{"v":{"const":null}}})");
  EXPECT_EQ(Produce("t", R"({"v":null})").status, 202);
  EXPECT_EQ(Produce("t", R"({"v":1})").status, 422);
  // It survives a restart as patched.
  ASSERT_EQ(server_->Terminate(), 0);
  Start();
  auto got = Call("GET", "/api/v1/streams/t");
  EXPECT_EQ(Field(got.body, "/retention/max_bytes"), "null") << got.body;
  EXPECT_EQ(Field(got.body, "/max_deliveries"), "5");
}

TEST_F(SchemaTest, PatchReplacesSettingsDurably) {
  ASSERT_EQ(
      Call("POST", "/api/v1/streams",
           std::string(R"({"name":"tasks","schema":)") + kTaskSchema + R"(,"max_deliveries":3})")
          .status,
      201);
  EXPECT_EQ(Produce("tasks", R"({"n":1})").status, 422);
  // A bad patch changes nothing.
  EXPECT_EQ(Call("PATCH", "/api/v1/streams/tasks", R"({"schema":{"type":"strnig"}})").status, 400);
  EXPECT_EQ(Call("PATCH", "/api/v1/streams/tasks", R"({"name":"renamed"})").status, 400);
  EXPECT_EQ(Call("PATCH", "/api/v1/streams/tasks", R"({"max_deliveries":0})").status, 400);
  EXPECT_EQ(Call("PATCH", "/api/v1/streams/nope", R"({"max_deliveries":4})").status, 404);
  EXPECT_EQ(Produce("tasks", R"({"n":1})").status, 422);

  auto patched = Call("PATCH", "/api/v1/streams/tasks",
                      R"({"schema":{"type":"object","required":["n"]},"max_deliveries":7})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(Field(patched.body, "/max_deliveries"), "7");
  EXPECT_EQ(Field(patched.body, "/schema/required/0"), "n");
  EXPECT_EQ(Field(patched.body, "/event_count"), "0");
  EXPECT_EQ(Produce("tasks", R"({"n":1})").status, 202);
  EXPECT_EQ(Produce("tasks", R"({"taskId":"t"})").status, 422);

  // Settings a patch leaves out keep their values; the patch survives a restart.
  ASSERT_EQ(Call("PATCH", "/api/v1/streams/tasks", R"({"cleanup_policy":"compact"})").status, 200);
  ASSERT_EQ(server_->Terminate(), 0);
  Start();
  auto got = Call("GET", "/api/v1/streams/tasks");
  EXPECT_EQ(Field(got.body, "/max_deliveries"), "7") << got.body;
  EXPECT_EQ(Field(got.body, "/cleanup_policy"), "compact");
  EXPECT_EQ(Produce("tasks", R"({"taskId":"t"})").status, 422);

  // null removes the schema.
  ASSERT_EQ(Call("PATCH", "/api/v1/streams/tasks", R"({"schema":null})").status, 200);
  EXPECT_EQ(Field(Call("GET", "/api/v1/streams/tasks").body, "/schema"), "null");
  EXPECT_EQ(Produce("tasks", R"({"anything":true})").status, 202);
  EXPECT_EQ(Count("tasks"), "2");
}

TEST_F(SchemaTest, HostileSchemasAndPayloadsLeaveTheServerUp) {
  ASSERT_EQ(Call("POST", "/api/v1/streams",
                 R"({"name":"ab","schema":{"properties":{"s":{"pattern":"^(a|b)*$"}}}})")
                .status,
            201);
  std::string long_ab;
  for (int i = 0; i < 250000; ++i) long_ab += "ab";  // 500 KB
  EXPECT_EQ(Produce("ab", "{\"s\":\"" + long_ab + "\"}").status, 202);
  EXPECT_EQ(Produce("ab", "{\"s\":\"" + long_ab + "c\"}").status, 422);
  EXPECT_TRUE(Healthy());

  // A 100 KB urn: id nested in a subschema: accepted or refused, never a crash.
  const std::string urn = "urn:" + std::string(100000, 'x');
  auto nested = Call("POST", "/api/v1/streams",
                     R"({"name":"urn","schema":{"properties":{"a":{"$id":")" + urn +
                         R"(","properties":{"b":{"$id":")" + urn + R"(:b","type":"string"}}}}}})");
  EXPECT_TRUE(nested.status == 201 || nested.status == 400) << nested.status;
  EXPECT_TRUE(Healthy());
  if (nested.status == 201) {
    EXPECT_EQ(Produce("urn", R"({"a":{"b":"ok"}})").status, 202);
    EXPECT_EQ(Produce("urn", R"({"a":{"b":5}})").status, 422);
  }

  // A schema nested far past the compile limit.
  std::string deep = "true";
  for (int i = 0; i < 2000; ++i) deep = "{\"not\":" + deep + "}";
  auto too_deep = Call("POST", "/api/v1/streams", R"({"name":"deep","schema":)" + deep + "}");
  EXPECT_EQ(too_deep.status, 400);
  EXPECT_TRUE(Healthy());
}

TEST_F(SchemaTest, OneBadEventAmongTenThousandStoresNothing) {
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"big"})").status, 201);
  std::string body = "{\"events\":[";
  for (int i = 0; i < 10000; ++i) {
    if (i) body += ",";
    body += i == 5000 ? R"({"event_type":"","payload":{}})"
                      : R"({"event_type":"T","payload":{"i":)" + std::to_string(i) + "}}";
  }
  body += "]}";
  auto r = Call("POST", "/api/v1/streams/big/events/batch", body);
  EXPECT_EQ(r.status, 400) << r.body.substr(0, 200);
  EXPECT_EQ(Field(r.body, "/error/details/0/index"), "5000");
  EXPECT_EQ(Field(r.body, "/error/details/1/index"), "<missing>");  // only that one
  EXPECT_EQ(Count("big"), "0");
  // The same batch made good is stored whole.
  const std::string bad = R"({"event_type":"","payload":{}})";
  body.replace(body.find(bad), bad.size(), R"({"event_type":"T","payload":{"i":5000}})");
  auto ok = Call("POST", "/api/v1/streams/big/events/batch", body);
  EXPECT_EQ(ok.status, 202) << ok.body.substr(0, 200);
  EXPECT_EQ(Field(ok.body, "/accepted"), "10000");
  EXPECT_EQ(Count("big"), "10000");
}

}  // namespace
}  // namespace eventflow
