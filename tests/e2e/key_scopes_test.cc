// Key scopes and admin scoping (CONTRACT v1.1 "Keys and organizations")
// against the real binary: every route's scope, the subset rule for keys a
// key creates, GET /whoami, admin keys of org default against those of other
// orgs, and the last admin key of org default.
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

class KeyScopesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(tmp_.path(),
                                              std::vector<std::string>{"--bootstrap-key", kAdmin});
    ASSERT_TRUE(server_->ok()) << server_->first_line();
  }
  HttpReply Call(const std::string& method, const std::string& target, const std::string& body = "",
                 const std::string& secret = kAdmin) {
    return server_->Request(method, target, body, "X-API-Key: " + secret + "\r\n");
  }
  // Creates a key with `by` and returns the answer.
  HttpReply Create(const std::string& body, const std::string& by = kAdmin) {
    return Call("POST", "/api/v1/admin/api-keys", body, by);
  }
  // Creates a key in org default with these extra fields; returns its secret.
  std::string MakeKey(const std::string& more, const std::string& org = "default") {
    auto r = Create(R"({"org_id":")" + org + R"(","name":"svc")" + more + "}");
    EXPECT_EQ(r.status, 201) << r.body;
    return Field(r.body, "/api_key");
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
};

// One request per route, on a stream and group that do not exist: with the
// scope the route needs, the answer is anything but 403 (404 mostly);
// without it, 403 forbidden.
struct RouteCase {
  const char* method;
  const char* target;
  const char* body;
  const char* scope;  // "any" for reads any scope may make
};
constexpr RouteCase kRoutes[] = {
    {"POST", "/api/v1/streams", R"({"name":"made.by.scope"})", "manage"},
    {"GET", "/api/v1/streams", "", "any"},
    {"GET", "/api/v1/streams/nosuch", "", "any"},
    {"PATCH", "/api/v1/streams/nosuch", R"({"max_deliveries":3})", "manage"},
    {"DELETE", "/api/v1/streams/nosuch", "", "manage"},
    {"POST", "/api/v1/streams/nosuch/events", R"({"payload":{}})", "produce"},
    {"POST", "/api/v1/streams/nosuch/events/batch", R"({"events":[{"payload":{}}]})", "produce"},
    {"GET", "/api/v1/streams/nosuch/events", "", "consume"},
    {"GET", "/api/v1/streams/nosuch/events/0190a5b2-0000-7000-8000-000000000001", "", "consume"},
    {"GET", "/api/v1/streams/nosuch/consumer-groups", "", "any"},
    {"GET", "/api/v1/streams/nosuch/consumer-groups/g", "", "any"},
    {"DELETE", "/api/v1/streams/nosuch/consumer-groups/g", "", "manage"},
    {"GET", "/api/v1/streams/nosuch/consumer-groups/g/events?timeout=0", "", "consume"},
    {"POST", "/api/v1/streams/nosuch/consumer-groups/g/offsets", R"({"offset":0})", "consume"},
    {"POST", "/api/v1/streams/nosuch/consumer-groups/g/seek", R"({"offset":0})", "consume"},
    {"POST", "/api/v1/streams/nosuch/consumer-groups/g/nack",
     R"({"event_id":"0190a5b2-0000-7000-8000-000000000001"})", "consume"},
    {"GET", "/api/v1/streams/nosuch/dlq", "", "manage"},
    {"POST", "/api/v1/streams/nosuch/dlq/0190a5b2-0000-7000-8000-000000000001/retry", "", "manage"},
    {"DELETE", "/api/v1/streams/nosuch/dlq/0190a5b2-0000-7000-8000-000000000001", "", "manage"},
    {"GET", "/api/v1/whoami", "", "any"},
};

TEST_F(KeyScopesTest, EveryRouteAnswers403OutsideItsScope) {
  for (const std::string scope : {"produce", "consume", "manage"}) {
    const std::string secret = MakeKey(R"(,"scopes":[")" + scope + R"("])");
    for (const RouteCase& c : kRoutes) {
      const auto r = Call(c.method, c.target, c.body, secret);
      const bool allowed = std::string(c.scope) == "any" || c.scope == scope;
      if (allowed) {
        EXPECT_NE(r.status, 403) << scope << " key, " << c.method << " " << c.target << ": "
                                 << r.body;
      } else {
        EXPECT_EQ(r.status, 403) << scope << " key, " << c.method << " " << c.target << ": "
                                 << r.body;
        EXPECT_EQ(Field(r.body, "/error/code"), "forbidden") << r.body;
        EXPECT_NE(r.body.find(c.scope), std::string::npos) << "the message names the scope";
      }
    }
  }
}

TEST_F(KeyScopesTest, ScopedKeysDoTheirWorkEndToEnd) {
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"orders"})").status, 201);
  const std::string producer = MakeKey(R"(,"scopes":["produce"])");
  const std::string consumer = MakeKey(R"(,"scopes":["consume"])");
  auto produced = Call("POST", "/api/v1/streams/orders/events",
                       R"({"event_type":"Made","payload":{"n":1}})", producer);
  ASSERT_EQ(produced.status, 202) << produced.body;
  // The producer cannot read back; the consumer cannot write.
  EXPECT_EQ(Call("GET", "/api/v1/streams/orders/events", "", producer).status, 403);
  EXPECT_EQ(Call("POST", "/api/v1/streams/orders/events", R"({"event_type":"Made","payload":{}})",
                 consumer)
                .status,
            403);
  auto polled =
      Call("GET", "/api/v1/streams/orders/consumer-groups/audit/events?timeout=0", "", consumer);
  ASSERT_EQ(polled.status, 200) << polled.body;
  const std::string id = Field(produced.body, "/event_id");
  EXPECT_EQ(Field(polled.body, "/events/0/event_id"), id);
  EXPECT_EQ(Call("POST", "/api/v1/streams/orders/consumer-groups/audit/offsets",
                 R"({"last_event_id":")" + id + R"("})", consumer)
                .status,
            200);
  // Reading the group object needs any one scope; deleting it needs manage.
  EXPECT_EQ(Call("GET", "/api/v1/streams/orders/consumer-groups/audit", "", producer).status, 200);
  EXPECT_EQ(Call("DELETE", "/api/v1/streams/orders/consumer-groups/audit", "", consumer).status,
            403);
  EXPECT_EQ(Call("GET", "/api/v1/streams/orders/consumer-groups/audit").status, 200);
  // Only one event was stored: the refused produce changed nothing.
  EXPECT_EQ(Field(Call("GET", "/api/v1/streams/orders").body, "/event_count"), "1");
}

TEST_F(KeyScopesTest, ScopesAreValidatedListedAndSurviveARestart) {
  for (const std::string bad :
       {R"([])", R"(["read"])", R"(["produce","produce"])", R"("produce")", R"([1])", "null"}) {
    auto r = Create(R"({"org_id":"acme","name":"x","scopes":)" + bad + "}");
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_EQ(Field(r.body, "/error/code"), "invalid_request");
  }
  auto made = Create(R"({"org_id":"acme","name":"x","scopes":["manage","produce"]})");
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(Field(made.body, "/scopes"), R"(["produce","manage"])");
  auto all = Create(R"({"org_id":"acme","name":"y"})");
  EXPECT_EQ(Field(all.body, "/scopes"), R"(["produce","consume","manage"])");
  const std::string secret = Field(made.body, "/api_key");

  ASSERT_EQ(server_->Terminate(), 0);
  server_ = std::make_unique<ServerProcess>(tmp_.path(), std::vector<std::string>{});
  ASSERT_TRUE(server_->ok()) << server_->first_line();
  auto who = Call("GET", "/api/v1/whoami", "", secret);
  ASSERT_EQ(who.status, 200) << who.body;
  EXPECT_EQ(Field(who.body, "/scopes"), R"(["produce","manage"])");
  EXPECT_EQ(Call("GET", "/api/v1/streams/x/events", "", secret).status, 403);
}

TEST_F(KeyScopesTest, WhoamiDescribesTheCallingKey) {
  auto made =
      Create(R"({"org_id":"acme","name":"billing","scopes":["consume"],"rate_limit_per_s":250})");
  ASSERT_EQ(made.status, 201) << made.body;
  auto who = Call("GET", "/api/v1/whoami", "", Field(made.body, "/api_key"));
  ASSERT_EQ(who.status, 200) << who.body;
  EXPECT_EQ(Field(who.body, "/api_key_id"), Field(made.body, "/api_key_id"));
  EXPECT_EQ(Field(who.body, "/name"), "billing");
  EXPECT_EQ(Field(who.body, "/org_id"), "acme");
  EXPECT_EQ(Field(who.body, "/admin"), "false");
  EXPECT_EQ(Field(who.body, "/scopes"), R"(["consume"])");
  EXPECT_EQ(Field(who.body, "/rate_limit_per_s"), "250");
  EXPECT_EQ(who.body.find("hash"), std::string::npos) << who.body;
  auto boot = Call("GET", "/api/v1/whoami");
  EXPECT_EQ(Field(boot.body, "/org_id"), "default");
  EXPECT_EQ(Field(boot.body, "/admin"), "true");
  EXPECT_EQ(Field(boot.body, "/rate_limit_per_s"), "null");  // unlimited
  EXPECT_EQ(server_->Request("GET", "/api/v1/whoami").status, 401);
}

TEST_F(KeyScopesTest, AKeyCreatesKeysOnlyWithinItsOwnScopes) {
  const std::string admin_producer = MakeKey(R"(,"admin":true,"scopes":["produce","manage"])");
  auto wider = Create(R"({"org_id":"default","name":"w","scopes":["consume"]})", admin_producer);
  EXPECT_EQ(wider.status, 403) << wider.body;
  EXPECT_EQ(Field(wider.body, "/error/code"), "forbidden");
  // No scopes named means all three: wider than this key too.
  EXPECT_EQ(Create(R"({"org_id":"default","name":"w"})", admin_producer).status, 403);
  EXPECT_EQ(
      Create(R"({"org_id":"default","name":"n","scopes":["produce"]})", admin_producer).status,
      201);
  // Key management needs manage as well as admin.
  const std::string admin_consumer = MakeKey(R"(,"admin":true,"scopes":["consume"])");
  EXPECT_EQ(Call("GET", "/api/v1/admin/api-keys", "", admin_consumer).status, 403);
  EXPECT_EQ(
      Create(R"({"org_id":"default","name":"c","scopes":["consume"]})", admin_consumer).status,
      403);
  // And manage without admin is not enough either.
  const std::string manager = MakeKey(R"(,"scopes":["manage"])");
  EXPECT_EQ(Call("GET", "/api/v1/admin/api-keys", "", manager).status, 403);
  EXPECT_EQ(Call("POST", "/api/v1/admin/compact", "{}", manager).status, 403);
}

TEST_F(KeyScopesTest, AnOrgsAdminManagesOnlyItsOwnOrgsKeys) {
  const std::string acme_admin = MakeKey(R"(,"admin":true)", "acme");
  const std::string globex = MakeKey("", "globex");
  auto own = Create(R"({"org_id":"acme","name":"worker"})", acme_admin);
  ASSERT_EQ(own.status, 201) << own.body;
  auto other = Create(R"({"org_id":"globex","name":"worker"})", acme_admin);
  EXPECT_EQ(other.status, 403) << other.body;
  EXPECT_EQ(Create(R"({"org_id":"default","name":"root","admin":true})", acme_admin).status, 403);
  // Its listing holds acme's keys only; the default org's admin sees all.
  auto listed = Call("GET", "/api/v1/admin/api-keys", "", acme_admin);
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(listed.body.find("globex"), std::string::npos) << listed.body;
  EXPECT_EQ(listed.body.find("\"default\""), std::string::npos) << listed.body;
  EXPECT_NE(listed.body.find(Field(own.body, "/api_key_id")), std::string::npos);
  auto everything = Call("GET", "/api/v1/admin/api-keys");
  EXPECT_NE(everything.body.find("globex"), std::string::npos);
  // Another org's key cannot be revoked by it (404: it does not see it);
  // its own can.
  const std::string globex_id =
      Field(Call("GET", "/api/v1/whoami", "", globex).body, "/api_key_id");
  EXPECT_EQ(Call("DELETE", "/api/v1/admin/api-keys/" + globex_id, "", acme_admin).status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/whoami", "", globex).status, 200);
  EXPECT_EQ(
      Call("DELETE", "/api/v1/admin/api-keys/" + Field(own.body, "/api_key_id"), "", acme_admin)
          .status,
      204);
  // The default org's admin revokes keys of any org.
  EXPECT_EQ(Call("DELETE", "/api/v1/admin/api-keys/" + globex_id).status, 204);
  EXPECT_EQ(Call("GET", "/api/v1/whoami", "", globex).status, 401);
}

TEST_F(KeyScopesTest, TheLastAdminKeyOfOrgDefaultIsNotRevoked) {
  const std::string boot_id = Field(Call("GET", "/api/v1/whoami").body, "/api_key_id");
  // An admin key of another org does not count.
  MakeKey(R"(,"admin":true)", "acme");
  auto refused = Call("DELETE", "/api/v1/admin/api-keys/" + boot_id);
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_EQ(Field(refused.body, "/error/code"), "last_admin_key");
  EXPECT_EQ(Call("GET", "/api/v1/whoami").status, 200) << "the key still works";
  // With a second admin key in org default, the first one goes; then the
  // second is the last.
  const std::string second = MakeKey(R"(,"admin":true)");
  EXPECT_EQ(Call("DELETE", "/api/v1/admin/api-keys/" + boot_id, "", second).status, 204);
  EXPECT_EQ(Call("GET", "/api/v1/whoami").status, 401);
  const std::string second_id =
      Field(Call("GET", "/api/v1/whoami", "", second).body, "/api_key_id");
  EXPECT_EQ(Call("DELETE", "/api/v1/admin/api-keys/" + second_id, "", second).status, 409);
  EXPECT_EQ(Call("GET", "/api/v1/whoami", "", second).status, 200);
}

}  // namespace
}  // namespace eventflow
