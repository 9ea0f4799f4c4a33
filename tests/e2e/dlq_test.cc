// Nack, redelivery and the consumer-stage dead-letter queue over real HTTP:
// delayed redelivery while other events flow (time bounds generous, only
// "not before the delay" is checked), attempts, dead-lettering at
// max_deliveries, the DLQ's list/retry/discard, long-polls woken by a due
// redelivery, and attempts and entries surviving SIGTERM and kill -9.
#include <gtest/gtest.h>

#include <simdjson.h>
#include <cstring>

#include <chrono>
#include <future>
#include <thread>

#include <openssl/hmac.h>

#include "engine/index.h"
#include "formats/key_hash.h"
#include "formats/timestamp.h"
#include "formats/uuid.h"
#include "tests/e2e/admin_server_test.h"

namespace eventflow {
namespace {

using testing::Field;
using testing::HttpReply;
using Clock = std::chrono::steady_clock;

// The event ids of a poll's answer, in order.
std::vector<std::string> EventIds(const std::string& json) {
  std::vector<std::string> ids;
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  simdjson::dom::array a;
  if (parser.parse(json).get(e) || e["events"].get(a)) return {"<bad answer>"};
  for (auto ev : a) ids.emplace_back(std::string_view(ev["event_id"]));
  return ids;
}

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

class DlqTest : public testing::AdminServerTest {
 protected:
  void CreateStream(const std::string& extra = "") {
    ASSERT_EQ(Call("POST", "/api/v1/streams", "{\"name\":\"s\"" + extra + "}").status, 201);
  }
  std::vector<std::string> Produce(int n, const std::string& stream = "s") {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      auto r = Call("POST", "/api/v1/streams/" + stream + "/events",
                    "{\"event_type\":\"T\",\"payload\":{\"i\":" + std::to_string(i) + "}}");
      EXPECT_EQ(r.status, 202) << r.body;
      ids.push_back(Field(r.body, "/event_id"));
    }
    return ids;
  }
  HttpReply Poll(const std::string& group, const std::string& params = "") {
    return Call("GET", kGroups + group + "/events" + params);
  }
  HttpReply Nack(const std::string& group, const std::string& id, int delay_ms = 0,
                 const std::string& reason = "handler failed") {
    return Call("POST", kGroups + group + "/nack",
                "{\"event_id\":\"" + id + "\",\"reason\":\"" + reason +
                    "\",\"delay_ms\":" + std::to_string(delay_ms) + "}");
  }
  HttpReply Commit(const std::string& group, const std::string& id) {
    return Call("POST", kGroups + group + "/offsets", "{\"last_event_id\":\"" + id + "\"}");
  }
  HttpReply Dlq(const std::string& params = "") {
    return Call("GET", "/api/v1/streams/s/dlq" + params);
  }
  const std::string kGroups = "/api/v1/streams/s/consumer-groups/";
};

TEST_F(DlqTest, NackedEventComesBackAfterItsDelayWhileOthersFlow) {
  CreateStream();
  auto ids = Produce(5);
  ASSERT_EQ(EventIds(Poll("g").body).size(), 5u);
  const auto nacked_at = Clock::now();
  auto nack = Nack("g", ids[1], 3000);
  ASSERT_EQ(nack.status, 200) << nack.body;
  EXPECT_EQ(Field(nack.body, "/event_id"), ids[1]);
  EXPECT_EQ(Field(nack.body, "/attempts"), "1");
  EXPECT_EQ(Field(nack.body, "/dead_lettered"), "false");
  // The others flow meanwhile, in order, without the parked one.
  auto others = Poll("g");
  if (SecondsSince(nacked_at) < 2.5) {
    EXPECT_EQ(EventIds(others.body), (std::vector<std::string>{ids[0], ids[2], ids[3], ids[4]}));
  }
  // A commit past the parked event does not lose it.
  auto commit = Commit("g", ids[4]);
  ASSERT_EQ(commit.status, 200) << commit.body;
  EXPECT_EQ(Field(commit.body, "/committed_offset"), "4");
  // A long-poll wakes when the redelivery falls due, well before its timeout.
  const auto polled_at = Clock::now();
  auto back = Poll("g", "?timeout=20000");
  EXPECT_EQ(EventIds(back.body), std::vector<std::string>{ids[1]}) << back.body;
  EXPECT_GE(SecondsSince(nacked_at), 2.9) << "redelivered before its delay";
  EXPECT_LT(SecondsSince(polled_at), 15.0) << "the long-poll was not woken by the due redelivery";
  // Until its commit it keeps coming; the commit settles it and leaves the
  // position where it was.
  EXPECT_EQ(EventIds(Poll("g").body), std::vector<std::string>{ids[1]});
  auto settle = Commit("g", ids[1]);
  ASSERT_EQ(settle.status, 200) << settle.body;
  EXPECT_EQ(Field(settle.body, "/committed_offset"), "4");
  EXPECT_TRUE(EventIds(Poll("g").body).empty());
  EXPECT_EQ(Commit("g", ids[1]).status, 409);  // settled: an ordinary regression now
}

TEST_F(DlqTest, AttemptsCountUpToMaxDeliveriesThenTheGroupNeverSeesItAgain) {
  CreateStream(",\"max_deliveries\":3");
  auto ids = Produce(3);
  EXPECT_EQ(Field(Nack("g", ids[0]).body, "/attempts"), "1");
  // Delay 0: due at once, delivered again first.
  EXPECT_EQ(EventIds(Poll("g", "?limit=1").body), std::vector<std::string>{ids[0]});
  EXPECT_EQ(Field(Nack("g", ids[0]).body, "/attempts"), "2");
  auto last = Nack("g", ids[0], 0, "poison message");
  ASSERT_EQ(last.status, 200) << last.body;
  EXPECT_EQ(Field(last.body, "/attempts"), "3");
  EXPECT_EQ(Field(last.body, "/dead_lettered"), "true");
  EXPECT_EQ(EventIds(Poll("g").body), (std::vector<std::string>{ids[1], ids[2]}));
  // Other groups still get it.
  EXPECT_EQ(EventIds(Poll("other").body), ids);
  auto again = Nack("g", ids[0]);
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(Field(again.body, "/error/code"), "event_dead_lettered");
  // The group's position passes it when its commits reach it.
  ASSERT_EQ(Commit("g", ids[2]).status, 200);
  EXPECT_TRUE(EventIds(Poll("g").body).empty());

  auto dlq = Dlq();
  ASSERT_EQ(dlq.status, 200) << dlq.body;
  EXPECT_EQ(Field(dlq.body, "/entries/0/event_id"), ids[0]);
  EXPECT_EQ(Field(dlq.body, "/entries/0/offset"), "0");
  EXPECT_EQ(Field(dlq.body, "/entries/0/stage"), "consumer");
  EXPECT_EQ(Field(dlq.body, "/entries/0/group_id"), "g");
  EXPECT_EQ(Field(dlq.body, "/entries/0/reason"), "poison message");
  EXPECT_EQ(Field(dlq.body, "/entries/0/attempts"), "3");
  EXPECT_NE(Field(dlq.body, "/entries/0/failed_at"), "<missing>");
  EXPECT_EQ(Field(dlq.body, "/entries/0/event/event_id"), ids[0]);
  EXPECT_EQ(Field(dlq.body, "/entries/0/event/payload"), "{\"i\":0}");
  EXPECT_EQ(Field(dlq.body, "/entries/1"), "<missing>");

  // Counted, and logged as a warning with its ids.
  auto metrics = Call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("eventflow_dead_lettered_events_total{org=\"default\",stage=\"consumer\","
                         "stream=\"s\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(
      metrics.find("eventflow_dlq_entries{org=\"default\",stage=\"consumer\",stream=\"s\"} 1"),
      std::string::npos);
  EXPECT_NE(
      metrics.find("eventflow_dlq_entries{org=\"default\",stage=\"processing\",stream=\"s\"} 0"),
      std::string::npos);
  const std::string log = ServerLog();
  const size_t at = log.find("\"msg\":\"event dead-lettered\"");
  ASSERT_NE(at, std::string::npos) << log;
  const size_t begin = log.rfind('\n', at) + 1;  // npos + 1: the first line
  const std::string line = log.substr(begin, log.find('\n', at) - begin);
  EXPECT_NE(line.find("\"level\":\"warn"), std::string::npos) << line;
  for (const std::string& want :
       {"\"event_id\":\"" + ids[0] + "\"", std::string("\"stage\":\"consumer\""),
        std::string("\"group\":\"g\""), std::string("\"reason\":\"poison message\""),
        std::string("\"stream\":\"s\""), std::string("\"correlation_id\":"),
        std::string("\"trace_id\":")}) {
    EXPECT_NE(line.find(want), std::string::npos) << want << " missing in " << line;
  }
}

TEST_F(DlqTest, BadNacksAndUnknownEntries) {
  CreateStream();
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"t"})").status, 201);
  auto ids = Produce(3);
  auto other = Produce(1, "t");
  const std::string nack = kGroups + "g/nack";
  EXPECT_EQ(Call("POST", nack, R"({"reason":"x"})").status, 400);
  EXPECT_EQ(Call("POST", nack, "{\"event_id\":\"" + ids[0] + "\",\"extra\":1}").status, 400);
  EXPECT_EQ(Call("POST", nack, "{\"event_id\":\"" + ids[0] + "\",\"delay_ms\":-1}").status, 400);
  EXPECT_EQ(Call("POST", nack, "{\"event_id\":\"" + ids[0] + "\",\"delay_ms\":86400001}").status,
            400);
  EXPECT_EQ(Call("POST", nack, "{\"event_id\":\"" + ids[0] + "\",\"reason\":7}").status, 400);
  EXPECT_EQ(Call("POST", nack, R"({"event_id":"not-a-uuid"})").status, 400);
  EXPECT_EQ(Call("POST", nack, "[1]").status, 400);
  EXPECT_EQ(Call("POST", nack, "{\"event_id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\"}").status,
            404);
  auto foreign = Call("POST", nack, "{\"event_id\":\"" + other[0] + "\"}");
  EXPECT_EQ(foreign.status, 404) << foreign.body;
  EXPECT_EQ(Field(foreign.body, "/error/code"), "event_not_found");
  ASSERT_EQ(Commit("g", ids[1]).status, 200);
  auto committed = Nack("g", ids[1]);
  EXPECT_EQ(committed.status, 409) << committed.body;
  EXPECT_EQ(Field(committed.body, "/error/code"), "event_already_committed");
  EXPECT_EQ(Nack("g", ids[0]).status, 409);
  EXPECT_EQ(Nack("g", ids[2]).status, 200);
  EXPECT_EQ(Call("POST", "/api/v1/streams/nope/consumer-groups/g/nack",
                 "{\"event_id\":\"" + ids[0] + "\"}")
                .status,
            404);
  // None of them dead-lettered anything.
  EXPECT_EQ(Dlq().body, "{\"entries\":[]}");

  const std::string entry = "/api/v1/streams/s/dlq/" + ids[2];
  EXPECT_EQ(Call("POST", entry + "/retry").status, 404);
  EXPECT_EQ(Call("DELETE", entry).status, 404);
  EXPECT_EQ(Call("DELETE", "/api/v1/streams/s/dlq/not-a-uuid").status, 404);
  EXPECT_EQ(Field(Call("DELETE", entry).body, "/error/code"), "dlq_entry_not_found");
  EXPECT_EQ(Dlq("?stage=elsewhere").status, 400);
  EXPECT_EQ(Dlq("?limit=0").status, 400);
  EXPECT_EQ(Dlq("?group_id=bad/name").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/streams/nope/dlq").status, 404);
}

TEST_F(DlqTest, RetryRedeliversToThatGroupOnlyAndDiscardRemoves) {
  CreateStream(",\"max_deliveries\":1");
  auto ids = Produce(3);
  ASSERT_EQ(Field(Nack("g", ids[0], 0, "g failed").body, "/dead_lettered"), "true");
  ASSERT_EQ(Field(Nack("h", ids[0], 0, "h failed").body, "/dead_lettered"), "true");
  ASSERT_EQ(Field(Nack("h", ids[1]).body, "/dead_lettered"), "true");
  ASSERT_EQ(Commit("g", ids[2]).status, 200);
  EXPECT_EQ(Field(Dlq("?group_id=h").body, "/entries/1/event_id"), ids[1]);
  EXPECT_EQ(Field(Dlq("?group_id=g").body, "/entries/1"), "<missing>");
  EXPECT_EQ(Field(Dlq("?limit=1").body, "/entries/1"), "<missing>");
  EXPECT_EQ(Field(Dlq("?stage=processing").body, "/entries/0"), "<missing>");
  EXPECT_EQ(Field(Dlq("?stage=consumer").body, "/entries/2/group_id"), "h");

  auto retry = Call("POST", "/api/v1/streams/s/dlq/" + ids[0] + "/retry?group_id=g");
  ASSERT_EQ(retry.status, 202) << retry.body;
  EXPECT_EQ(Field(retry.body, "/retried/0/event_id"), ids[0]);
  EXPECT_EQ(Field(retry.body, "/retried/0/group_id"), "g");
  EXPECT_EQ(Field(retry.body, "/retried/1"), "<missing>");
  EXPECT_EQ(Field(Dlq("?group_id=g").body, "/entries/0"), "<missing>");
  // g gets the same event again (below its position); h does not.
  auto redelivered = Poll("g");
  EXPECT_EQ(EventIds(redelivered.body), std::vector<std::string>{ids[0]});
  EXPECT_EQ(Field(redelivered.body, "/events/0/offset"), "0");
  EXPECT_EQ(EventIds(Poll("h").body), std::vector<std::string>{ids[2]});
  // Attempts were reset: one more nack dead-letters it again (max 1).
  auto renack = Nack("g", ids[0]);
  EXPECT_EQ(Field(renack.body, "/attempts"), "1") << renack.body;
  ASSERT_EQ(Call("POST", "/api/v1/streams/s/dlq/" + ids[0] + "/retry?group_id=g").status, 202);
  // Its commit, below the committed offset, only settles it.
  auto settle = Commit("g", ids[0]);
  ASSERT_EQ(settle.status, 200) << settle.body;
  EXPECT_EQ(Field(settle.body, "/committed_offset"), "2");
  EXPECT_TRUE(EventIds(Poll("g").body).empty());

  // Discard: h's entries go; h still never gets them.
  EXPECT_EQ(Call("DELETE", "/api/v1/streams/s/dlq/" + ids[0] + "?group_id=h").status, 204);
  EXPECT_EQ(Call("DELETE", "/api/v1/streams/s/dlq/" + ids[0] + "?group_id=h").status, 404);
  EXPECT_EQ(Field(Dlq().body, "/entries/0/event_id"), ids[1]);
  EXPECT_EQ(Call("DELETE", "/api/v1/streams/s/dlq/" + ids[1]).status, 204);
  EXPECT_EQ(Dlq().body, "{\"entries\":[]}");
  EXPECT_EQ(EventIds(Poll("h").body), std::vector<std::string>{ids[2]});
}

TEST_F(DlqTest, RetryWithoutGroupRetriesEveryEntryOfTheEvent) {
  CreateStream(",\"max_deliveries\":1");
  auto ids = Produce(2);
  ASSERT_EQ(Nack("a", ids[0]).status, 200);
  ASSERT_EQ(Nack("b", ids[0]).status, 200);
  auto retry = Call("POST", "/api/v1/streams/s/dlq/" + ids[0] + "/retry");
  ASSERT_EQ(retry.status, 202) << retry.body;
  EXPECT_EQ(Field(retry.body, "/retried/1/event_id"), ids[0]);
  EXPECT_EQ(Dlq().body, "{\"entries\":[]}");
  EXPECT_EQ(EventIds(Poll("a").body), ids);
  EXPECT_EQ(EventIds(Poll("b").body), ids);
}

TEST_F(DlqTest, AttemptsAndEntriesSurviveSigtermAndKillNine) {
  CreateStream(",\"max_deliveries\":2");
  auto ids = Produce(3);
  ASSERT_EQ(Field(Nack("g", ids[0], 60000).body, "/attempts"), "1");
  ASSERT_EQ(Nack("g", ids[1]).status, 200);
  ASSERT_EQ(Field(Nack("g", ids[1]).body, "/dead_lettered"), "true");
  Restart(/*kill9=*/false);
  // Still parked (its delay is a minute), still dead-lettered.
  EXPECT_EQ(EventIds(Poll("g").body), std::vector<std::string>{ids[2]});
  EXPECT_EQ(Field(Dlq().body, "/entries/0/event_id"), ids[1]);
  auto second = Nack("g", ids[0]);
  EXPECT_EQ(Field(second.body, "/attempts"), "2") << second.body;
  EXPECT_EQ(Field(second.body, "/dead_lettered"), "true");

  // kill -9 right after the 200 of a nack: the attempt is durable.
  ASSERT_EQ(Field(Nack("g", ids[2]).body, "/attempts"), "1");
  Restart(/*kill9=*/true);
  auto after = Nack("g", ids[2]);
  EXPECT_EQ(Field(after.body, "/attempts"), "2") << after.body;
  auto dlq = Dlq();
  EXPECT_EQ(Field(dlq.body, "/entries/2/event_id"), ids[2]) << dlq.body;
}

TEST_F(DlqTest, DeletingAGroupOrTheStreamDropsItsState) {
  CreateStream(",\"max_deliveries\":1");
  auto ids = Produce(2);
  ASSERT_EQ(Nack("g", ids[0]).status, 200);
  ASSERT_EQ(Nack("keep", ids[0]).status, 200);
  ASSERT_EQ(Call("DELETE", kGroups + "g").status, 204);
  EXPECT_EQ(Field(Dlq().body, "/entries/0/group_id"), "keep");
  EXPECT_EQ(Field(Dlq().body, "/entries/1"), "<missing>");
  // The group starts afresh: the event is delivered to it again.
  EXPECT_EQ(EventIds(Poll("g").body), ids);
  // (What a stream deletion removes is checked in delivery_store_test.)
  ASSERT_EQ(Call("DELETE", "/api/v1/streams/s").status, 204);
}

TEST_F(DlqTest, ParkedLongPollWakesWhenARetryMakesAnEventDue) {
  CreateStream(",\"max_deliveries\":1");
  auto ids = Produce(1);
  ASSERT_EQ(Nack("g", ids[0]).status, 200);  // dead-lettered
  auto parked = std::async(std::launch::async, [&] {
    const auto start = Clock::now();
    auto r = Poll("g", "?timeout=20000");
    return std::make_pair(r, SecondsSince(start));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(Call("POST", "/api/v1/streams/s/dlq/" + ids[0] + "/retry").status, 202);
  auto [reply, took] = parked.get();
  EXPECT_EQ(EventIds(reply.body), std::vector<std::string>{ids[0]}) << reply.body;
  EXPECT_LT(took, 15.0);
}

TEST_F(DlqTest, ParkedLongPollWakesWhenANackMakesItsEventDueSooner) {
  CreateStream();
  auto ids = Produce(1);
  ASSERT_EQ(Nack("g", ids[0], 60000).status, 200);  // parked for a minute
  auto parked = std::async(std::launch::async, [&] {
    const auto start = Clock::now();
    auto r = Poll("g", "?timeout=20000");
    return std::make_pair(r, SecondsSince(start));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto sooner = Nack("g", ids[0], 0);
  ASSERT_EQ(sooner.status, 200) << sooner.body;
  EXPECT_EQ(Field(sooner.body, "/attempts"), "2");
  auto [reply, took] = parked.get();
  EXPECT_EQ(EventIds(reply.body), std::vector<std::string>{ids[0]}) << reply.body;
  EXPECT_LT(took, 15.0);
}

TEST_F(DlqTest, RetryIdCouldBeTakenFirstFromTheDlqListing) {
  // Processing dead-letters the event (a type mismatch); its retry is a new
  // event whose id is derived from the DLQ entry.
  CreateStream(R"(,"processing":{"rules":[{"type":"filter","where":{"field":"/payload/amount",)"
               R"("op":"gt","value":0}}],"max_attempts":1})");
  auto produced =
      Call("POST", "/api/v1/streams/s/events", R"({"event_type":"T","payload":{"amount":"lots"}})");
  ASSERT_EQ(produced.status, 202) << produced.body;
  const std::vector<std::string> ids = {Field(produced.body, "/event_id")};
  HttpReply dlq;
  for (int i = 0; i < 100; ++i) {
    dlq = Call("GET", "/api/v1/streams/s/dlq?stage=processing");
    if (Field(dlq.body, "/entries/0/event_id") == ids[0]) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(Field(dlq.body, "/entries/0/event_id"), ids[0]) << dlq.body;
  const auto failed_at = timestamp::Parse(Field(dlq.body, "/entries/0/failed_at"));
  ASSERT_TRUE(failed_at.has_value());
  // What the retry id used to be: a plain hash of what the listing shows.
  const KeyHash h = HashKey("retry\n" + ids[0] + "\n" + std::to_string(*failed_at));
  std::string bytes(16, '\0');
  std::memcpy(bytes.data(), &h.low, 8);
  std::memcpy(bytes.data() + 8, &h.high, 8);
  bytes[6] = static_cast<char>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<char>((bytes[8] & 0x3f) | 0x80);
  const std::string guessed = Uuid::FromBytes(bytes).ToString();
  // Another client of the org takes that id first.
  auto taken = Call("POST", "/api/v1/streams/s/events",
                    R"({"event_id":")" + guessed + R"(","event_type":"T","payload":{"fake":1}})");
  ASSERT_EQ(taken.status, 202) << taken.body;
  // Fixed rules, then the retry: stored under an id nobody could guess.
  ASSERT_EQ(Call("PATCH", "/api/v1/streams/s",
                 R"({"processing":{"rules":[{"type":"transform","set":{"/payload/fixed":true}}]}})")
                .status,
            200);
  auto retry = Call("POST", "/api/v1/streams/s/dlq/" + ids[0] + "/retry");
  ASSERT_EQ(retry.status, 202) << retry.body;
  const std::string retry_id = Field(retry.body, "/retried/0/retry_event_id");
  EXPECT_NE(retry_id, guessed);
  // The retry is a new event: processing reaches it asynchronously.
  HttpReply stored;
  for (int i = 0; i < 100; ++i) {
    stored = Call("GET", "/api/v1/streams/s/events/" + retry_id);
    if (stored.status != 404) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(stored.status, 200) << stored.body;
  EXPECT_EQ(Field(stored.body, "/metadata/retry_of"), ids[0]);
  EXPECT_EQ(Field(stored.body, "/payload/amount"), "lots");
}

TEST_F(DlqTest, ARetryWhoseIdIsHeldByAnotherEventAnswers409AndStays) {
  // A data dir whose retry-id secret this test knows: written into the
  // index while the server is stopped, before any retry made one.
  ASSERT_EQ(server_->Terminate(), 0);
  server_.reset();
  const std::string secret(32, 's');
  {
    auto index = Index::Open(tmp_.path() + "/index", {});
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    ASSERT_TRUE((*index)->PutState("secret/retry-ids", secret).ok());
  }
  Start();
  CreateStream(R"(,"processing":{"rules":[{"type":"filter","where":{"field":"/payload/amount",)"
               R"("op":"gt","value":0}}],"max_attempts":1})");
  auto produced =
      Call("POST", "/api/v1/streams/s/events", R"({"event_type":"T","payload":{"amount":"lots"}})");
  ASSERT_EQ(produced.status, 202) << produced.body;
  const std::string id = Field(produced.body, "/event_id");
  HttpReply dlq;
  for (int i = 0; i < 100; ++i) {
    dlq = Call("GET", "/api/v1/streams/s/dlq?stage=processing");
    if (Field(dlq.body, "/entries/0/event_id") == id) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(Field(dlq.body, "/entries/0/event_id"), id) << dlq.body;
  const auto failed_at = timestamp::Parse(Field(dlq.body, "/entries/0/failed_at"));
  ASSERT_TRUE(failed_at.has_value());
  // The retry's id, as the server derives it (HMAC-SHA256 of the entry).
  const std::string message = "retry\n" + id + "\n" + std::to_string(*failed_at);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  ASSERT_NE(
      HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &mac_len),
      nullptr);
  std::string bytes(reinterpret_cast<const char*>(mac), 16);
  bytes[6] = static_cast<char>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<char>((bytes[8] & 0x3f) | 0x80);
  const std::string retry_id = Uuid::FromBytes(bytes).ToString();
  // Another event holds that id (here the test knows the secret; a client
  // could not).
  auto taken = Call("POST", "/api/v1/streams/s/events",
                    R"({"event_id":")" + retry_id + R"(","event_type":"T","payload":{"fake":1}})");
  ASSERT_EQ(taken.status, 202) << taken.body;
  ASSERT_EQ(Call("PATCH", "/api/v1/streams/s", R"({"processing":{"rules":[]}})").status, 200);
  // The retry is refused, not answered as a duplicate of someone else's event.
  auto retry = Call("POST", "/api/v1/streams/s/dlq/" + id + "/retry");
  EXPECT_EQ(retry.status, 409) << retry.body;
  EXPECT_NE(retry.body.find(retry_id), std::string::npos) << retry.body;
  // The entry stays, and the event held under the id is still the other one.
  EXPECT_EQ(
      Field(Call("GET", "/api/v1/streams/s/dlq?stage=processing").body, "/entries/0/event_id"), id);
  auto held = Call("GET", "/api/v1/streams/s/events/" + retry_id + "?raw=true");
  EXPECT_EQ(Field(held.body, "/payload/fake"), "1") << held.body;
}

}  // namespace
}  // namespace eventflow
