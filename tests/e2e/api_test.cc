// The REST contract over real HTTP against the real binary: keys, auth,
// rate limits, correlation ids, streams, and bad input that changes nothing.
#include <gtest/gtest.h>
#include <simdjson.h>

#include "tests/e2e/server_process.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::Field;
using testing::HttpReply;
using testing::ServerProcess;
using testing::TempDir;

constexpr char kAdmin[] = "admin-secret-for-tests";

std::string Key(const std::string& secret) { return "X-API-Key: " + secret + "\r\n"; }

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(
        tmp_.path(),
        std::vector<std::string>{"--bootstrap-key", kAdmin, "--segment-bytes", "1048576"});
    ASSERT_TRUE(server_->ok()) << server_->first_line();
  }
  HttpReply Call(const std::string& method, const std::string& target, const std::string& body = "",
                 const std::string& secret = kAdmin, const std::string& extra = "") {
    return server_->Request(method, target, body, Key(secret) + extra);
  }
  // Creates a key of `org` and returns its secret.
  std::string MakeKey(const std::string& org, const std::string& more = "") {
    auto r = Call("POST", "/api/v1/admin/api-keys",
                  "{\"org_id\":\"" + org + "\",\"name\":\"svc\"" + more + "}");
    EXPECT_EQ(r.status, 201) << r.body;
    return Field(r.body, "/api_key");
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ApiTest, MissingOrUnknownKeyIs401) {
  EXPECT_EQ(server_->Request("GET", "/api/v1/streams").status, 401);
  auto r = Call("GET", "/api/v1/streams", "", "wrong");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Field(r.body, "/error/code"), "unauthorized");
}

TEST_F(ApiTest, CorrelationIdIsEchoedOrMade) {
  auto r = Call("GET", "/api/v1/streams", "", kAdmin, "X-Correlation-ID: req-42\r\n");
  EXPECT_NE(r.head.find("X-Correlation-ID: req-42"), std::string::npos) << r.head;
  auto made = Call("GET", "/api/v1/streams");
  const auto at = made.head.find("X-Correlation-ID: ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(made.head.substr(at + 18, 36).size(), 36u);
  auto bad = Call("GET", "/api/v1/streams", "", kAdmin,
                  "X-Correlation-ID: " + std::string(200, 'x') + "\r\n");
  EXPECT_EQ(bad.status, 200);
  EXPECT_EQ(bad.head.find(std::string(200, 'x')), std::string::npos) << "invalid id echoed";
}

TEST_F(ApiTest, KeysAreCreatedListedWithoutSecretsAndRevokedAtOnce) {
  auto created = Call("POST", "/api/v1/admin/api-keys", R"({"org_id":"acme","name":"workflow"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string secret = Field(created.body, "/api_key");
  const std::string id = Field(created.body, "/api_key_id");
  EXPECT_EQ(Field(created.body, "/org_id"), "acme");
  EXPECT_EQ(Call("GET", "/api/v1/streams", "", secret).status, 200);
  // Not an admin: cannot manage keys.
  EXPECT_EQ(Call("GET", "/api/v1/admin/api-keys", "", secret).status, 403);
  auto list = Call("GET", "/api/v1/admin/api-keys");
  ASSERT_EQ(list.status, 200);
  EXPECT_NE(list.body.find(id), std::string::npos);
  EXPECT_EQ(list.body.find(secret), std::string::npos) << "a secret was listed";
  EXPECT_EQ(list.body.find("hash"), std::string::npos);
  EXPECT_EQ(Call("DELETE", "/api/v1/admin/api-keys/" + id).status, 204);
  EXPECT_EQ(Call("GET", "/api/v1/streams", "", secret).status, 401);
  EXPECT_EQ(Call("DELETE", "/api/v1/admin/api-keys/" + id).status, 404);
  // Bad key requests.
  EXPECT_EQ(Call("POST", "/api/v1/admin/api-keys", R"({"org_id":"acme"})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/admin/api-keys", R"({"org_id":"a b","name":"x"})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/admin/api-keys", R"({"org_id":"a","name":"x","extra":1})").status,
            400);
}

TEST_F(ApiTest, RateLimitAnswers429WithRetryAfter) {
  const std::string secret = MakeKey("slow", ",\"rate_limit_per_s\":0.5,\"burst\":2");
  EXPECT_EQ(Call("GET", "/api/v1/streams", "", secret).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/streams", "", secret).status, 200);
  auto limited = Call("GET", "/api/v1/streams", "", secret);
  EXPECT_EQ(limited.status, 429);
  EXPECT_NE(limited.head.find("Retry-After: "), std::string::npos) << limited.head;
  EXPECT_EQ(Field(limited.body, "/error/code"), "rate_limited");
  // Other keys are not affected.
  EXPECT_EQ(Call("GET", "/api/v1/streams").status, 200);
}

TEST_F(ApiTest, RetryAfterWasOneForTinyRates) {
  // One request per 5 s: the answer must not invite a retry sooner.
  const std::string secret = MakeKey("slower", ",\"rate_limit_per_s\":0.2");
  EXPECT_EQ(Call("GET", "/api/v1/streams", "", secret).status, 200);
  auto limited = Call("GET", "/api/v1/streams", "", secret);
  ASSERT_EQ(limited.status, 429);
  const auto at = limited.head.find("Retry-After: ");
  ASSERT_NE(at, std::string::npos) << limited.head;
  const int wait = std::stoi(limited.head.substr(at + 13));
  EXPECT_GE(wait, 4);
  EXPECT_LE(wait, 5);
  // A rate whose wait would not fit the header's integer is refused (it was
  // taken, and answered Retry-After: 1).
  for (const std::string bad : {"1e-300", "0.0001", "0"}) {
    auto r = Call("POST", "/api/v1/admin/api-keys",
                  R"({"org_id":"acme","name":"tiny","rate_limit_per_s":)" + bad + "}");
    EXPECT_EQ(r.status, 400) << bad << " " << r.body;
  }
  EXPECT_EQ(Call("POST", "/api/v1/admin/api-keys",
                 R"({"org_id":"acme","name":"tiny","rate_limit_per_s":1,"burst":0.5})")
                .status,
            400);
}

TEST_F(ApiTest, StreamsCreateGetListDelete) {
  auto created = Call(
      "POST", "/api/v1/streams",
      R"({"name":"workflow.task.created","retention":{"max_age_s":604800},"max_deliveries":3})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = Field(created.body, "/stream_id");
  EXPECT_EQ(Field(created.body, "/name"), "workflow.task.created");
  EXPECT_EQ(Field(created.body, "/org_id"), "default");
  EXPECT_EQ(Field(created.body, "/retention/max_age_s"), "604800");
  EXPECT_EQ(Field(created.body, "/retention/max_bytes"), "null");
  EXPECT_EQ(Field(created.body, "/cleanup_policy"), "delete");
  EXPECT_EQ(Field(created.body, "/max_deliveries"), "3");
  EXPECT_EQ(Field(created.body, "/processing/max_attempts"), "5");
  EXPECT_EQ(Call("POST", "/api/v1/streams", R"({"name":"workflow.task.created"})").status, 409);
  for (const std::string& ref : {id, std::string("workflow.task.created")}) {
    auto got = Call("GET", "/api/v1/streams/" + ref);
    ASSERT_EQ(got.status, 200) << got.body;
    EXPECT_EQ(Field(got.body, "/stream_id"), id);
    EXPECT_EQ(Field(got.body, "/event_count"), "0");
    EXPECT_EQ(Field(got.body, "/first_offset"), "null");
    EXPECT_EQ(Field(got.body, "/last_offset"), "null");
  }
  // Another org sees nothing of it.
  const std::string other = MakeKey("other");
  EXPECT_EQ(Call("GET", "/api/v1/streams/" + id, "", other).status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/streams/workflow.task.created", "", other).status, 404);
  EXPECT_EQ(Call("DELETE", "/api/v1/streams/" + id, "", other).status, 404);
  EXPECT_EQ(Field(Call("GET", "/api/v1/streams", "", other).body, "/streams"), "[]");
  EXPECT_NE(Call("GET", "/api/v1/streams").body.find(id), std::string::npos);
  // Delete, then the name is free again with a new id.
  EXPECT_EQ(Call("DELETE", "/api/v1/streams/" + id).status, 204);
  EXPECT_EQ(Call("GET", "/api/v1/streams/" + id).status, 404);
  auto again = Call("POST", "/api/v1/streams", R"({"name":"workflow.task.created"})");
  ASSERT_EQ(again.status, 201);
  EXPECT_NE(Field(again.body, "/stream_id"), id);
}

TEST_F(ApiTest, BadStreamRequestsAreRefusedAndStoreNothing) {
  struct Case {
    std::string body;
    int status;
    std::string code;
  };
  const std::vector<Case> cases = {
      {R"({"name":"has space"})", 400, "invalid_stream"},
      {R"({"name":"0f8fad5b-d9cb-469f-a165-70867728950e"})", 400, "invalid_stream"},
      {R"({"name":"ok","colour":"red"})", 400, "invalid_stream"},
      {R"({"name":"ok","cleanup_policy":"shred"})", 400, "invalid_stream"},
      {R"({"name":"ok","max_deliveries":0})", 400, "invalid_stream"},
      {R"({"name":"ok","max_deliveries":"5"})", 400, "invalid_stream"},
      {R"({"name":"ok","schema":{"type":"objekt"}})", 400, "invalid_stream"},
      {R"({"name":"ok","processing":{"rules":[{"type":"filter"}]}})", 400, "invalid_stream"},
      {R"({"name":"ok","name":"twice"})", 400, "invalid_json"},
      {R"({"name":"ok")", 400, "invalid_json"},
      {"{\"name\":\"ok\xff\"}", 400, "invalid_json"},
      {std::string(1000, '[') + std::string(1000, ']'), 400, "invalid_json"},
      {R"(["name","ok"])", 400, "invalid_request"},
  };
  for (const auto& c : cases) {
    auto r = Call("POST", "/api/v1/streams", c.body);
    EXPECT_EQ(r.status, c.status) << c.body.substr(0, 80) << " -> " << r.body;
    EXPECT_EQ(Field(r.body, "/error/code"), c.code) << c.body.substr(0, 80);
    EXPECT_FALSE(Field(r.body, "/error/message").empty());
  }
  // No content type: 415.
  const std::string raw = server_->SendRaw(
      "POST /api/v1/streams HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + Key(kAdmin) +
      "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\n{\"name\":\"ok\"}");
  EXPECT_EQ(ServerProcess::ParseReply(raw).status, 415);
  EXPECT_EQ(Field(Call("GET", "/api/v1/streams").body, "/streams"), "[]");
}

TEST_F(ApiTest, HeaderOverTheLimitIs431AndServerStaysUp) {
  const std::string raw = server_->SendRaw(
      "GET /api/v1/streams HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(ServerProcess::ParseReply(raw).status, 431);
  EXPECT_EQ(Call("GET", "/api/v1/streams").status, 200);
}

TEST_F(ApiTest, KeysAndStreamsSurviveARestart) {
  const std::string secret = MakeKey("acme");
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"orders"})", secret).status, 201);
  EXPECT_EQ(server_->Terminate(), 0);
  server_ = std::make_unique<ServerProcess>(tmp_.path());
  ASSERT_TRUE(server_->ok());
  auto got = Call("GET", "/api/v1/streams/orders", "", secret);
  EXPECT_EQ(got.status, 200) << got.body;
}

}  // namespace
}  // namespace eventflow
