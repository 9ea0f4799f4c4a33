// Producing and reading events over real HTTP: single and batch appends,
// duplicates, conflicts, validation order, limits, replay and get-by-id,
// payloads kept as written, and acknowledged events surviving kill -9.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <set>
#include <thread>

#include "tests/e2e/server_process.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::Field;
using testing::HttpReply;
using testing::ServerProcess;
using testing::TempDir;

constexpr char kAdmin[] = "admin-secret-for-tests";

class ProduceTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void Start() {
    server_ = std::make_unique<ServerProcess>(
        tmp_.path(),
        std::vector<std::string>{"--bootstrap-key", kAdmin, "--segment-bytes", "1048576",
                                 "--max-event-bytes", "65536", "--max-batch-events", "100"});
    ASSERT_TRUE(server_->ok()) << server_->first_line();
  }
  HttpReply Call(const std::string& method, const std::string& target, const std::string& body = "",
                 const std::string& extra = "") {
    return server_->Request(method, target, body,
                            std::string("X-API-Key: ") + kAdmin + "\r\n" + extra);
  }
  std::string MakeStream(const std::string& name) {
    auto r = Call("POST", "/api/v1/streams", "{\"name\":\"" + name + "\"}");
    EXPECT_EQ(r.status, 201) << r.body;
    return Field(r.body, "/stream_id");
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ProduceTest, SingleEventIsAcceptedStoredAndReadBackAsWritten) {
  const std::string sid = MakeStream("orders");
  const std::string body =
      "{ \"event_type\": \"TaskCreated\", \"key\": \"org-42\",\n"
      "  \"payload\": {\"taskId\": \"t-1\", \"amount\": 1.50, \"big\": 12345678901234567890,"
      " \"z\": 1, \"a\": [1, 2]},\n"
      "  \"occurred_at\": \"2026-11-24T10:00:00.000Z\", \"source\": \"workflow-service\"}";
  auto r = Call("POST", "/api/v1/streams/orders/events", body,
                "X-Correlation-ID: corr-1\r\n"
                "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(Field(r.body, "/status"), "ACCEPTED");
  EXPECT_EQ(Field(r.body, "/offset"), "0");
  const std::string id = Field(r.body, "/event_id");
  EXPECT_EQ(id.size(), 36u);
  auto got = Call("GET", "/api/v1/streams/" + sid + "/events/" + id);
  ASSERT_EQ(got.status, 200) << got.body;
  // Minified, otherwise exactly as sent: number text and key order kept.
  EXPECT_NE(got.body.find("\"payload\":{\"taskId\":\"t-1\",\"amount\":1.50,"
                          "\"big\":12345678901234567890,\"z\":1,\"a\":[1,2]}"),
            std::string::npos)
      << got.body;
  EXPECT_EQ(Field(got.body, "/event_id"), id);
  EXPECT_EQ(Field(got.body, "/stream_id"), sid);
  EXPECT_EQ(Field(got.body, "/offset"), "0");
  EXPECT_EQ(Field(got.body, "/key"), "org-42");
  EXPECT_EQ(Field(got.body, "/metadata/event_type"), "TaskCreated");
  EXPECT_EQ(Field(got.body, "/metadata/event_version"), "v1");
  EXPECT_EQ(Field(got.body, "/metadata/source"), "workflow-service");
  EXPECT_EQ(Field(got.body, "/metadata/occurred_at"), "2026-11-24T10:00:00.000Z");
  EXPECT_EQ(Field(got.body, "/metadata/context/correlation_id"), "corr-1");
  EXPECT_EQ(Field(got.body, "/metadata/context/trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(Field(got.body, "/created_at"), Field(r.body, "/received_at"));
  auto stats = Call("GET", "/api/v1/streams/orders");
  EXPECT_EQ(Field(stats.body, "/event_count"), "1");
  EXPECT_EQ(Field(stats.body, "/last_offset"), "0");
}

TEST_F(ProduceTest, DuplicatesConflictsAndIdsInAnyCase) {
  MakeStream("a");
  MakeStream("b");
  const std::string id = "0F8FAD5B-D9CB-469F-A165-70867728950E";
  const std::string ev = "{\"event_type\":\"T\",\"payload\":{},\"event_id\":\"" + id + "\"}";
  auto first = Call("POST", "/api/v1/streams/a/events", ev);
  ASSERT_EQ(first.status, 202);
  EXPECT_EQ(Field(first.body, "/event_id"), "0f8fad5b-d9cb-469f-a165-70867728950e");
  auto dup = Call("POST", "/api/v1/streams/a/events",
                  "{\"event_type\":\"Other\",\"payload\":{\"x\":1},\"event_id\":\"" + id + "\"}");
  EXPECT_EQ(dup.status, 200);
  EXPECT_EQ(Field(dup.body, "/status"), "DUPLICATE");
  EXPECT_EQ(Field(dup.body, "/offset"), Field(first.body, "/offset"));
  EXPECT_EQ(Field(dup.body, "/received_at"), Field(first.body, "/received_at"));
  auto conflict = Call("POST", "/api/v1/streams/b/events", ev);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(Field(Call("GET", "/api/v1/streams/b").body, "/event_count"), "0");
  EXPECT_EQ(Field(Call("GET", "/api/v1/streams/a").body, "/event_count"), "1");
}

TEST_F(ProduceTest, BadEventsGetClearErrorsAndStoreNothing) {
  MakeStream("s");
  struct Case {
    std::string body;
    int status;
    std::string code;
  };
  const std::vector<Case> cases = {
      {"{\"event_type\":\"T\",\"payload\":{}", 400, "invalid_json"},
      {"{\"event_type\":\"T\",\"payload\":{\"a\":\"\xc3\x28\"}}", 400, "invalid_json"},
      {"{\"event_type\":\"T\",\"payload\":{\"a\":1,\"a\":2}}", 400, "invalid_json"},
      {"{\"event_type\":\"T\",\"payload\":" + std::string(70, '[') + std::string(70, ']') + "}",
       400, "invalid_json"},
      {"{\"payload\":{}}", 400, "invalid_event"},
      {"{\"event_type\":\"\",\"payload\":{}}", 400, "invalid_event"},
      {"{\"event_type\":\"T\"}", 400, "invalid_event"},
      {"{\"event_type\":\"T\",\"payload\":[1]}", 400, "invalid_event"},
      {"{\"event_type\":\"T\",\"payload\":{},\"event_id\":\"nope\"}", 400, "invalid_event"},
      {"{\"event_type\":\"T\",\"payload\":{},\"key\":7}", 400, "invalid_event"},
      {"{\"event_type\":\"T\",\"payload\":{},\"key\":\"" + std::string(1025, 'k') + "\"}", 400,
       "invalid_event"},
      {"{\"event_type\":\"T\",\"payload\":{},\"occurred_at\":\"yesterday\"}", 400, "invalid_event"},
      {"{\"event_type\":\"T\",\"payload\":{},\"colour\":1}", 400, "invalid_event"},
      {"{\"event_type\":\"T\",\"payload\":{},\"context\":{\"x\":\"y\"}}", 400, "invalid_event"},
      {"{\"event_type\":\"T\",\"payload\":{\"p\":\"" + std::string(70000, 'p') + "\"}}", 413,
       "event_too_large"},
  };
  for (const auto& c : cases) {
    auto r = Call("POST", "/api/v1/streams/s/events", c.body);
    EXPECT_EQ(r.status, c.status) << c.body.substr(0, 80) << " -> " << r.body.substr(0, 200);
    EXPECT_EQ(Field(r.body, "/error/code"), c.code) << c.body.substr(0, 80);
  }
  EXPECT_EQ(
      Call("POST", "/api/v1/streams/nope/events", "{\"event_type\":\"T\",\"payload\":{}}").status,
      404);
  EXPECT_EQ(Field(Call("GET", "/api/v1/streams/s").body, "/event_count"), "0");
}

TEST_F(ProduceTest, BatchIsAllOrNothing) {
  MakeStream("s");
  const std::string id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
  std::string events;
  for (int i = 0; i < 5; ++i) {
    events += (i ? "," : "") + std::string("{\"event_type\":\"T\",\"payload\":{\"i\":") +
              std::to_string(i) + "}" + (i == 1 || i == 3 ? ",\"event_id\":\"" + id + "\"" : "") +
              "}";
  }
  auto r = Call("POST", "/api/v1/streams/s/events/batch", "{\"events\":[" + events + "]}");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(Field(r.body, "/accepted"), "4");
  EXPECT_EQ(Field(r.body, "/duplicates"), "1");
  EXPECT_EQ(Field(r.body, "/results/3/status"), "DUPLICATE");
  EXPECT_EQ(Field(r.body, "/results/3/offset"), Field(r.body, "/results/1/offset"));
  // One bad event among many: the whole batch is refused, the index named.
  std::string mixed;
  for (int i = 0; i < 50; ++i) {
    mixed += (i ? "," : "") +
             std::string(i == 37 ? "{\"payload\":{}}" : "{\"event_type\":\"T\",\"payload\":{}}");
  }
  auto bad = Call("POST", "/api/v1/streams/s/events/batch", "{\"events\":[" + mixed + "]}");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(Field(bad.body, "/error/details/0/index"), "37");
  auto too_many = Call(
      "POST", "/api/v1/streams/s/events/batch", "{\"events\":[" + [] {
        std::string s;
        for (int i = 0; i < 101; ++i)
          s += (i ? "," : "") + std::string("{\"event_type\":\"T\",\"payload\":{}}");
        return s;
      }() + "]}");
  EXPECT_EQ(too_many.status, 413);
  EXPECT_EQ(Call("POST", "/api/v1/streams/s/events/batch", "{\"events\":[]}").status, 400);
  // A batch of duplicates only: 200.
  auto dups =
      Call("POST", "/api/v1/streams/s/events/batch",
           "{\"events\":[{\"event_type\":\"T\",\"payload\":{},\"event_id\":\"" + id + "\"}]}");
  EXPECT_EQ(dups.status, 200);
  EXPECT_EQ(Field(Call("GET", "/api/v1/streams/s").body, "/event_count"), "4");
}

TEST_F(ProduceTest, ReplayFromOffsetAndTime) {
  MakeStream("s");
  std::vector<std::string> created;
  for (int i = 0; i < 30; ++i) {
    auto r = Call("POST", "/api/v1/streams/s/events",
                  "{\"event_type\":\"T\",\"payload\":{\"i\":" + std::to_string(i) + "}}");
    ASSERT_EQ(r.status, 202);
    created.push_back(Field(r.body, "/received_at"));
  }
  auto page = Call("GET", "/api/v1/streams/s/events?from_offset=10&limit=5");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(Field(page.body, "/events/0/offset"), "10");
  EXPECT_EQ(Field(page.body, "/events/4/payload/i"), "14");
  EXPECT_EQ(Field(page.body, "/events/5"), "<missing>");
  EXPECT_EQ(Field(page.body, "/next_from_offset"), "15");
  auto end = Call("GET", "/api/v1/streams/s/events?from_offset=30");
  EXPECT_EQ(Field(end.body, "/events"), "[]");
  EXPECT_EQ(Field(end.body, "/next_from_offset"), "30");
  auto by_time = Call("GET", "/api/v1/streams/s/events?limit=1&from_time=" + created[20]);
  ASSERT_EQ(by_time.status, 200) << by_time.body;
  const int first = std::stoi(Field(by_time.body, "/events/0/offset"));
  EXPECT_LE(first, 20);
  EXPECT_EQ(Field(by_time.body, "/events/0/created_at"), created[first]);
  EXPECT_EQ(Call("GET", "/api/v1/streams/s/events?limit=0").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/streams/s/events?from_time=soon").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/streams/s/events/7c9e6679-7425-40de-944b-e07fc1f90ae7").status,
            404);
}

TEST_F(ProduceTest, ConcurrentProducersKillNineLosesNothingAcknowledged) {
  MakeStream("s");
  std::mutex mu;
  std::set<std::string> acked;
  std::atomic<bool> stop{false};
  std::vector<std::thread> producers;
  for (int t = 0; t < 8; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        auto r = Call("POST", "/api/v1/streams/s/events",
                      "{\"event_type\":\"T\",\"payload\":{\"t\":" + std::to_string(t) +
                          ",\"i\":" + std::to_string(i) + "}}");
        if (r.status == 202) {
          std::lock_guard lock(mu);
          acked.insert(Field(r.body, "/event_id"));
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  server_->Kill();
  stop = true;
  for (auto& t : producers) t.join();
  ASSERT_GT(acked.size(), 20u);
  server_.reset();
  Start();
  std::multiset<std::string> present;
  for (uint64_t from = 0;;) {
    auto page =
        Call("GET", "/api/v1/streams/s/events?limit=1000&from_offset=" + std::to_string(from));
    ASSERT_EQ(page.status, 200);
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(page.body);
    size_t n = 0;
    for (simdjson::dom::element e : doc["events"].get_array()) {
      EXPECT_EQ(static_cast<uint64_t>(int64_t(e["offset"])), from + n) << "offsets not dense";
      present.insert(std::string(std::string_view(e["event_id"])));
      ++n;
    }
    if (n == 0) break;
    from += n;
  }
  for (const auto& id : acked) EXPECT_EQ(present.count(id), 1u) << id;
}

}  // namespace
}  // namespace eventflow
