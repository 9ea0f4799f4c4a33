// Processing rules over real HTTP: every filter op and transform op as
// consumers see it, ?raw=true, invalid rules refused, a failing event
// retried and dead-lettered while later events flow, the processing-stage
// retry, rules patched onto a live stream, long-polls on the processed
// frontier, and kill -9 in the middle of processing.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <future>
#include <set>
#include <thread>

#include "tests/e2e/admin_server_test.h"

namespace eventflow {
namespace {

using testing::Field;
using testing::HttpReply;
using Clock = std::chrono::steady_clock;

// The events of a poll or replay answer, minified, in order.
std::vector<std::string> Events(const std::string& json) {
  std::vector<std::string> out;
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  simdjson::dom::array a;
  if (parser.parse(json).get(e) || e["events"].get(a)) return {"<bad answer: " + json + ">"};
  for (auto ev : a) out.push_back(simdjson::minify(ev));
  return out;
}

// One member of each event, as Field shows it.
std::vector<std::string> Column(const std::string& json, const char* pointer) {
  std::vector<std::string> out;
  for (const std::string& e : Events(json)) out.push_back(Field(e, pointer));
  return out;
}

class ProcessingTest : public testing::AdminServerTest {
 protected:
  void CreateStream(const std::string& name, const std::string& rules,
                    const std::string& processing_extra = "") {
    auto r = Call(
        "POST", "/api/v1/streams",
        "{\"name\":\"" + name + "\",\"processing\":{\"rules\":" + rules + processing_extra + "}}");
    ASSERT_EQ(r.status, 201) << r.body;
  }
  std::string Produce(const std::string& stream, const std::string& payload,
                      const std::string& extra = "") {
    auto r = Call("POST", "/api/v1/streams/" + stream + "/events",
                  "{\"event_type\":\"T\",\"payload\":" + payload + extra + "}");
    EXPECT_EQ(r.status, 202) << r.body;
    return Field(r.body, "/event_id");
  }
  // Polls `group` until `n` events came (or 20 s), committing as it goes.
  std::vector<std::string> Consume(const std::string& stream, const std::string& group, size_t n) {
    std::vector<std::string> got;
    const auto until = Clock::now() + std::chrono::seconds(20);
    while (got.size() < n && Clock::now() < until) {
      auto r = Call("GET", "/api/v1/streams/" + stream + "/consumer-groups/" + group +
                               "/events?limit=1000&timeout=1000");
      EXPECT_EQ(r.status, 200) << r.body;
      auto events = Events(r.body);
      got.insert(got.end(), events.begin(), events.end());
      if (!events.empty()) {
        auto c =
            Call("POST", "/api/v1/streams/" + stream + "/consumer-groups/" + group + "/offsets",
                 "{\"last_event_id\":\"" + Field(r.body, "/next_offset") + "\"}");
        EXPECT_EQ(c.status, 200) << c.body;
      }
    }
    return got;
  }
};

std::string FilterRule(const std::string& op, const std::string& value) {
  return R"([{"type":"filter","where":{"field":"/payload/v","op":")" + op + "\"" +
         (value.empty() ? "" : ",\"value\":" + value) + "}}]";
}

TEST_F(ProcessingTest, EveryFilterOpDeliversExactlyTheMatchingEvents) {
  // Each op on its own stream, over the same five events.
  const std::vector<std::string> payloads = {R"({"v":5})", R"({"v":10})", R"({"v":"ab-1"})",
                                             R"({"w":1})", R"({"v":"b"})"};
  struct Case {
    std::string name, rules;
    std::vector<std::string> delivered;  // the payloads' v (or <missing>)
  };
  const std::vector<Case> cases = {
      {"eq", FilterRule("eq", "10"), {"10"}},
      {"ne", FilterRule("ne", "10"), {"5", "ab-1", "b"}},
      {"in", FilterRule("in", R"([5,"b"])"), {"5", "b"}},
      {"prefix", FilterRule("prefix", "\"ab\""), {"ab-1"}},
      {"exists", FilterRule("exists", ""), {"5", "10", "ab-1", "b"}},
      {"not_exists", FilterRule("not_exists", ""), {"<missing>"}},
      {"any",
       R"([{"type":"filter","where":{"any":[{"field":"/payload/v","op":"eq","value":5},)"
       R"({"field":"/payload/w","op":"exists"}]}}])",
       {"5", "<missing>"}},
      {"all",
       R"([{"type":"filter","where":{"all":[{"field":"/payload/v","op":"exists"},)"
       R"({"field":"/payload/v","op":"ne","value":"b"}]}}])",
       {"5", "10", "ab-1"}},
  };
  for (const Case& c : cases) CreateStream(c.name, c.rules);
  for (const Case& c : cases) {
    for (const std::string& p : payloads) Produce(c.name, p);
  }
  for (const Case& c : cases) {
    auto got = Consume(c.name, "g", c.delivered.size());
    std::vector<std::string> vs;
    for (const std::string& e : got) vs.push_back(Field(e, "/payload/v"));
    EXPECT_EQ(vs, c.delivered) << c.name;
    // Nothing more comes: the rest were filtered.
    auto more = Call("GET", "/api/v1/streams/" + c.name + "/consumer-groups/g/events");
    EXPECT_TRUE(Events(more.body).empty()) << c.name << ": " << more.body;
  }
}

TEST_F(ProcessingTest, OrderingOpsOnNumbersAndStrings) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"gt", {"11"}}, {"gte", {"10", "11"}}, {"lt", {"9"}}, {"lte", {"9", "10"}}};
  for (const auto& [op, want] : cases) {
    CreateStream(op, FilterRule(op, "10"));
    for (int v : {9, 10, 11}) Produce(op, "{\"v\":" + std::to_string(v) + "}");
  }
  for (const auto& [op, want] : cases) {
    std::vector<std::string> vs;
    for (const std::string& e : Consume(op, "g", want.size())) vs.push_back(Field(e, "/payload/v"));
    EXPECT_EQ(vs, want) << op;
  }
  // Strings compare bytewise: RFC 3339 times order as time does.
  CreateStream("since", FilterRule("gte", "\"2026-06-01T00:00:00.000Z\""));
  Produce("since", R"({"v":"2026-05-31T23:59:59.999Z"})");
  Produce("since", R"({"v":"2026-06-01T00:00:00.000Z"})");
  auto got = Consume("since", "g", 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(Field(got[0], "/payload/v"), "2026-06-01T00:00:00.000Z");
}

TEST_F(ProcessingTest, TransformedEventsAreDeliveredTransformedAndRawStaysReadable) {
  CreateStream(
      "orders",
      R"([{"type":"filter","where":{"field":"/payload/amount","op":"gte","value":100}},)"
      R"({"type":"transform","set":{"/payload/currency":"EUR"},"remove":["/payload/card"],)"
      R"("rename":{"/payload/amount":"/payload/total"}}])");
  auto stream = Call("GET", "/api/v1/streams/orders");
  EXPECT_EQ(Field(stream.body, "/processing/rules/1/set/~1payload~1currency"), "EUR");
  const std::string small = Produce("orders", R"({"amount":50,"card":"4111"})");
  const std::string big =
      Produce("orders", R"({"amount":150.50,"card":"4111","note":"a\"b"})", R"(,"key":"cust-1")");
  auto got = Consume("orders", "g", 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(Field(got[0], "/event_id"), big);
  EXPECT_EQ(Field(got[0], "/payload"), R"({"note":"a\"b","currency":"EUR","total":150.5})");
  EXPECT_EQ(Field(got[0], "/key"), "cust-1");
  // The processed view everywhere, the log as written with ?raw=true.
  auto replay = Call("GET", "/api/v1/streams/orders/events?from_offset=0");
  EXPECT_EQ(Column(replay.body, "/event_id"), std::vector<std::string>{big});
  EXPECT_EQ(Field(replay.body, "/next_from_offset"), "2");
  auto raw = Call("GET", "/api/v1/streams/orders/events?from_offset=0&raw=true");
  EXPECT_EQ(Column(raw.body, "/payload/card"), (std::vector<std::string>{"4111", "4111"}));
  auto filtered = Call("GET", "/api/v1/streams/orders/events/" + small);
  EXPECT_EQ(filtered.status, 404);
  EXPECT_EQ(Field(filtered.body, "/error/code"), "event_not_delivered");
  auto filtered_raw = Call("GET", "/api/v1/streams/orders/events/" + small + "?raw=true");
  EXPECT_EQ(filtered_raw.status, 200);
  EXPECT_EQ(Field(filtered_raw.body, "/payload/amount"), "50");
  auto transformed = Call("GET", "/api/v1/streams/orders/events/" + big);
  // Untouched values keep their exact text (Field would re-print the number).
  EXPECT_NE(transformed.body.find(R"("payload":{"note":"a\"b","currency":"EUR","total":150.50})"),
            std::string::npos)
      << transformed.body;
  EXPECT_NE(replay.body.find(R"("total":150.50})"), std::string::npos) << replay.body;
  EXPECT_EQ(Call("GET", "/api/v1/streams/orders/events/" + big + "?raw=yes").status, 400);
}

TEST_F(ProcessingTest, InvalidRulesAreRefusedAndChangeNothing) {
  auto bad = Call("POST", "/api/v1/streams",
                  R"({"name":"x","processing":{"rules":[{"type":"filter","where":)"
                  R"({"field":"/payload/a","op":"between","value":1}}]}})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Field(bad.body, "/error/code"), "invalid_stream");
  EXPECT_NE(Field(bad.body, "/error/message").find("rules[0].where.op"), std::string::npos);
  EXPECT_EQ(Call("GET", "/api/v1/streams/x").status, 404);
  CreateStream("x", "[]");
  auto patch = Call("PATCH", "/api/v1/streams/x",
                    R"({"processing":{"rules":[{"type":"transform","set":{"/offset":1}}]}})");
  EXPECT_EQ(patch.status, 400) << patch.body;
  EXPECT_EQ(Field(Call("GET", "/api/v1/streams/x").body, "/processing/rules"), "[]");
  // A stream that never had rules delivers straight from the log.
  Produce("x", R"({"a":1})");
  EXPECT_EQ(Consume("x", "g", 1).size(), 1u);
}

TEST_F(ProcessingTest, FailingEventIsRetriedThenDeadLetteredWhileLaterEventsFlow) {
  CreateStream("pay",
               R"([{"type":"filter","where":{"field":"/payload/amount","op":"gt","value":0}}])",
               R"(,"max_attempts":3,"backoff_ms":100)");
  const std::string ok1 = Produce("pay", R"({"amount":1})");
  const std::string poison = Call("POST", "/api/v1/streams/pay/events",
                                  R"({"event_type":"T","payload":{"amount":"lots"}})",
                                  "X-Correlation-ID: corr-poison-1\r\n")
                                 .body;
  const std::string poison_id = Field(poison, "/event_id");
  const std::string ok2 = Produce("pay", R"({"amount":2})");
  const auto start = Clock::now();
  std::vector<std::string> ids;
  for (const std::string& e : Consume("pay", "g", 2)) ids.push_back(Field(e, "/event_id"));
  EXPECT_EQ(ids, (std::vector<std::string>{ok1, ok2}));
  // Two backoffs (>= 50 and >= 100 ms with jitter) before it was given up.
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(150));
  auto dlq = Call("GET", "/api/v1/streams/pay/dlq?stage=processing");
  ASSERT_EQ(dlq.status, 200);
  EXPECT_EQ(Field(dlq.body, "/entries/0/event_id"), poison_id);
  EXPECT_EQ(Field(dlq.body, "/entries/0/stage"), "processing");
  EXPECT_EQ(Field(dlq.body, "/entries/0/group_id"), "null");
  EXPECT_EQ(Field(dlq.body, "/entries/0/attempts"), "3");
  EXPECT_NE(Field(dlq.body, "/entries/0/reason").find("gt on /payload/amount"), std::string::npos);
  EXPECT_EQ(Field(dlq.body, "/entries/0/event/payload/amount"), "lots");
  EXPECT_EQ(Call("GET", "/api/v1/streams/pay/events/" + poison_id).status, 404);
  // Logged with the producing request's ids, and counted.
  const std::string log = ServerLog();
  const size_t line = log.find("\"msg\":\"event dead-lettered\"");
  ASSERT_NE(line, std::string::npos) << log;
  const std::string dead_line =
      log.substr(log.rfind('\n', line) + 1, log.find('\n', line) - log.rfind('\n', line));
  EXPECT_NE(dead_line.find("\"correlation_id\":\"corr-poison-1\""), std::string::npos) << dead_line;
  EXPECT_NE(dead_line.find("\"stage\":\"processing\""), std::string::npos) << dead_line;
  EXPECT_NE(dead_line.find("\"trace_id\":"), std::string::npos) << dead_line;
  auto metrics = server_->Request("GET", "/metrics").body;
  EXPECT_NE(metrics.find("eventflow_dead_lettered_events_total{org=\"default\",stage="
                         "\"processing\",stream=\"pay\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("eventflow_processing_failures_total{org=\"default\",stream=\"pay\"} 2"),
            std::string::npos);
  EXPECT_NE(
      metrics.find("eventflow_processing_duration_seconds_count{org=\"default\",stream=\"pay\"} 3"),
      std::string::npos);

  // Fixed rules, then a retry: the raw original flows through them again as
  // a new event that names the one it retries.
  auto patch =
      Call("PATCH", "/api/v1/streams/pay",
           R"({"processing":{"rules":[{"type":"transform","set":{"/payload/fixed":true}}]}})");
  ASSERT_EQ(patch.status, 200) << patch.body;
  auto retry = Call("POST", "/api/v1/streams/pay/dlq/" + poison_id + "/retry");
  ASSERT_EQ(retry.status, 202) << retry.body;
  const std::string retry_id = Field(retry.body, "/retried/0/retry_event_id");
  EXPECT_NE(retry_id, poison_id);
  auto again = Consume("pay", "g", 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(Field(again[0], "/event_id"), retry_id);
  EXPECT_EQ(Field(again[0], "/metadata/retry_of"), poison_id);
  EXPECT_EQ(Field(again[0], "/metadata/context/correlation_id"), "corr-poison-1");
  EXPECT_EQ(Field(again[0], "/payload"), R"({"amount":"lots","fixed":true})");
  EXPECT_EQ(Field(Call("GET", "/api/v1/streams/pay/dlq").body, "/entries"), "[]");
  EXPECT_EQ(Call("POST", "/api/v1/streams/pay/dlq/" + poison_id + "/retry").status, 404);
}

TEST_F(ProcessingTest, TransformGrewEventsPastTheEventLimit) {
  // A transform may add at most what a stream's settings hold (1 MiB); the
  // event it makes may be at most what one produce may store
  // (--max-event-bytes + 64 KiB, 1,114,112 bytes here).
  const std::string pad(950'000, 'x');
  CreateStream("grow", R"([{"type":"transform","set":{"/payload/pad":")" + pad + "\"}}]",
               R"(,"max_attempts":1)");
  const std::string small = Produce("grow", R"({"v":1})");
  const std::string big = Produce("grow", R"({"v":2,"fill":")" + std::string(200'000, 'y') + "\"}");
  const std::string after = Produce("grow", R"({"v":3})");
  std::vector<std::string> ids;
  for (const std::string& e : Consume("grow", "g", 2)) ids.push_back(Field(e, "/event_id"));
  EXPECT_EQ(ids, (std::vector<std::string>{small, after}));
  auto dlq = Call("GET", "/api/v1/streams/grow/dlq?stage=processing");
  ASSERT_EQ(dlq.status, 200);
  EXPECT_EQ(Field(dlq.body, "/entries/0/event_id"), big);
  EXPECT_NE(Field(dlq.body, "/entries/0/reason").find("over the limit of 1114112"),
            std::string::npos)
      << Field(dlq.body, "/entries/0/reason");
}

TEST_F(ProcessingTest, RulesPatchedOntoALiveStreamApplyToNewEventsOnly) {
  CreateStream("live", "[]");
  const std::string before = Produce("live", R"({"v":1})");
  auto patch = Call("PATCH", "/api/v1/streams/live",
                    R"({"processing":{"rules":)" + FilterRule("gt", "100") + "}}");
  ASSERT_EQ(patch.status, 200) << patch.body;
  Produce("live", R"({"v":2})");
  const std::string after = Produce("live", R"({"v":200})");
  auto got = Consume("live", "g", 2);
  std::vector<std::string> ids;
  for (const auto& e : got) ids.push_back(Field(e, "/event_id"));
  EXPECT_EQ(ids, (std::vector<std::string>{before, after}));
  // Rules removed: later events pass; the filtered one stays filtered.
  ASSERT_EQ(Call("PATCH", "/api/v1/streams/live", R"({"processing":{"rules":[]}})").status, 200);
  const std::string last = Produce("live", R"({"v":3})");
  got = Consume("live", "g", 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(Field(got[0], "/event_id"), last);
  EXPECT_EQ(Events(Call("GET", "/api/v1/streams/live/events").body).size(), 3u);
}

TEST_F(ProcessingTest, LongPollWakesOnTheProcessedFrontierNotOnFilteredEvents) {
  CreateStream("lp", FilterRule("gt", "100"));
  auto parked = std::async(std::launch::async, [&] {
    return Call("GET", "/api/v1/streams/lp/consumer-groups/g/events?timeout=20000");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Produce("lp", R"({"v":1})");  // filtered: the poll waits on
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(parked.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  const auto sent = Clock::now();
  const std::string wanted = Produce("lp", R"({"v":500})");
  ASSERT_EQ(parked.wait_for(std::chrono::seconds(15)), std::future_status::ready);
  EXPECT_LT(Clock::now() - sent, std::chrono::seconds(10));
  EXPECT_EQ(Column(parked.get().body, "/event_id"), std::vector<std::string>{wanted});
  // A long-poll that only meets filtered events answers empty at its timeout.
  Produce("lp", R"({"v":2})");
  auto empty = Call("GET", "/api/v1/streams/lp/consumer-groups/g2/events?timeout=1500&limit=1");
  EXPECT_EQ(Column(empty.body, "/payload/v"), std::vector<std::string>{"500"});
  auto none = Call("GET", "/api/v1/streams/lp/consumer-groups/g/events?timeout=1500");
  // g got 500 but never committed it: it comes again; commit, then wait.
  ASSERT_EQ(Column(none.body, "/event_id"), std::vector<std::string>{wanted});
  ASSERT_EQ(Call("POST", "/api/v1/streams/lp/consumer-groups/g/offsets",
                 "{\"last_event_id\":\"" + wanted + "\"}")
                .status,
            200);
  const auto t1 = Clock::now();
  auto waited = Call("GET", "/api/v1/streams/lp/consumer-groups/g/events?timeout=1500");
  EXPECT_TRUE(Events(waited.body).empty()) << waited.body;
  EXPECT_GE(Clock::now() - t1, std::chrono::milliseconds(1400));
}

// Polls remember how far they read through a run the rules filtered out,
// but never past an event the group must still get: a redelivery it
// parked before the run comes back to the group deleted and made again
// under the same name, and a long-poll behind a filtered run still wakes
// for the next kept event.
TEST_F(ProcessingTest, FilteredRunsAreNotReadAgainButParkedEventsAreNeverSkipped) {
  CreateStream("rare", FilterRule("gte", "100"));
  const std::string kept = Produce("rare", R"({"v":150})");
  std::string run = "{\"events\":[";
  for (int i = 0; i < 500; ++i) {
    run += std::string(i > 0 ? "," : "") + R"({"event_type":"T","payload":{"v":1}})";
  }
  run += "]}";
  ASSERT_EQ(Call("POST", "/api/v1/streams/rare/events/batch", run).status, 202);
  const std::string g = "/api/v1/streams/rare/consumer-groups/g";
  auto first = Call("GET", g + "/events?limit=10&timeout=3000");
  ASSERT_EQ(Column(first.body, "/event_id"), std::vector<std::string>{kept}) << first.body;
  auto nack = Call("POST", g + "/nack", "{\"event_id\":\"" + kept + "\",\"delay_ms\":60000}");
  ASSERT_EQ(nack.status, 200) << nack.body;
  // The kept event is parked and the run filtered: nothing, twice.
  for (int i = 0; i < 2; ++i) {
    auto r = Call("GET", g + "/events?limit=10&timeout=1000");
    EXPECT_TRUE(Events(r.body).empty()) << r.body;
  }
  ASSERT_EQ(Call("DELETE", g).status, 204);
  auto again = Call("GET", g + "/events?limit=10&timeout=3000");
  EXPECT_EQ(Column(again.body, "/event_id"), std::vector<std::string>{kept}) << again.body;
  auto c = Call("POST", g + "/offsets", "{\"last_event_id\":\"" + kept + "\"}");
  ASSERT_EQ(c.status, 200) << c.body;
  // Committed past the kept event: only filtered events follow, then a
  // second filtered run arrives, and a long-poll waits out both.
  EXPECT_TRUE(Events(Call("GET", g + "/events?limit=10&timeout=500").body).empty());
  ASSERT_EQ(Call("POST", "/api/v1/streams/rare/events/batch", run).status, 202);
  EXPECT_TRUE(Events(Call("GET", g + "/events?limit=10&timeout=500").body).empty());
  auto parked = std::async(std::launch::async,
                           [&] { return Call("GET", g + "/events?limit=10&timeout=10000"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string last = Produce("rare", R"({"v":300})");
  EXPECT_EQ(Column(parked.get().body, "/event_id"), std::vector<std::string>{last});
}

TEST_F(ProcessingTest, KillNineInTheMiddleOfProcessingLosesAndDoublesNothing) {
  CreateStream("crash",
               R"([{"type":"filter","where":{"field":"/payload/even","op":"eq","value":true}},)"
               R"({"type":"transform","set":{"/payload/seen":1}}])");
  std::set<std::string> kept;
  int produced = 0;
  for (int round = 0; round < 3; ++round) {
    for (int b = 0; b < 4; ++b) {
      std::string body = "{\"events\":[";
      for (int i = 0; i < 500; ++i, ++produced) {
        if (i > 0) body += ",";
        body += "{\"event_type\":\"T\",\"payload\":{\"n\":" + std::to_string(produced) +
                ",\"even\":" + (produced % 2 == 0 ? "true" : "false") + "}}";
      }
      auto r = Call("POST", "/api/v1/streams/crash/events/batch", body + "]}");
      ASSERT_EQ(r.status, 202) << r.body;
      for (int i = 0; i < 500; ++i) {
        const std::string p = "/results/" + std::to_string(i) + "/event_id";
        if ((produced - 500 + i) % 2 == 0) kept.insert(Field(r.body, p.c_str()));
      }
    }
    // Killed at once: the processor is most likely mid-way through them.
    Restart(/*kill9=*/round != 1);
  }
  auto got = Consume("crash", "g", kept.size());
  std::set<std::string> ids;
  int64_t last_n = -1;
  for (const std::string& e : got) {
    EXPECT_TRUE(ids.insert(Field(e, "/event_id")).second) << "twice: " << e;
    EXPECT_EQ(Field(e, "/payload/seen"), "1") << e;
    const int64_t n = std::stoll(Field(e, "/payload/n"));
    EXPECT_GT(n, last_n);  // offset order
    last_n = n;
  }
  EXPECT_EQ(ids, kept);
  EXPECT_EQ(Events(Call("GET", "/api/v1/streams/crash/consumer-groups/g/events").body).size(), 0u);
}

TEST_F(ProcessingTest, DeletingAStreamDropsItsViewAndGroups) {
  CreateStream("tmp", FilterRule("gt", "1"));
  Produce("tmp", R"({"v":5})");
  ASSERT_EQ(Consume("tmp", "g", 1).size(), 1u);
  ASSERT_EQ(Call("DELETE", "/api/v1/streams/tmp").status, 204);
  CreateStream("tmp", "[]");
  Produce("tmp", R"({"v":0})");
  auto groups = Call("GET", "/api/v1/streams/tmp/consumer-groups");
  EXPECT_EQ(Field(groups.body, "/consumer_groups"), "[]");
  EXPECT_EQ(Consume("tmp", "g", 1).size(), 1u);
}

}  // namespace
}  // namespace eventflow
