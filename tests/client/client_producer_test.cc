// Producer against the real server (and a scripted fake one for 503 and
// timeouts): publish, batch, duplicates, retries and no-retry on 4xx.
#include <gtest/gtest.h>

#include <future>
#include <set>

#include "client/producer.h"
#include "tests/client/test_server.h"

namespace eventflow::client {
namespace {

using testing::FakeServer;
using testing::Field;
using testing::TestServer;

Event TaskEvent(const std::string& task_id) {
  Event e;
  e.event_type = "TaskCreated";
  e.payload_json = R"({"taskId":")" + task_id + R"("})";
  e.key = "org-1";
  return e;
}

class ProducerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<TestServer>(testing::TempDir("producer"));
    ASSERT_GT(server_->port(), 0) << "server did not start: " << testing::EventflowBinary();
    key_ = server_->CreateKey();
    ASSERT_FALSE(key_.empty());
    ASSERT_EQ(server_->CreateStream(key_, R"({"name":"tasks","schema":{"type":"object",
        "required":["taskId"],"properties":{"taskId":{"type":"string"}}}})"),
              201);
  }
  ClientOptions Options() const {
    ClientOptions o = server_->Options(key_);
    o.backoff = Backoff{std::chrono::milliseconds(20), std::chrono::milliseconds(200)};
    return o;
  }

  std::unique_ptr<TestServer> server_;
  std::string key_;
};

TEST_F(ProducerTest, PublishesOneEventWithAClientMadeUuidV4) {
  auto producer = Producer::Open(Options());
  ASSERT_TRUE(producer.ok());
  auto ack = (*producer)->Publish("tasks", TaskEvent("t-1"));
  ASSERT_TRUE(ack.ok()) << ack.error().ToString();
  EXPECT_FALSE(ack->duplicate);
  EXPECT_EQ(ack->offset, 0);
  ASSERT_EQ(ack->event_id.size(), 36u);
  EXPECT_EQ(ack->event_id[14], '4') << "not a version-4 UUID: " << ack->event_id;
  EXPECT_EQ(server_->StreamEventIds(key_, "tasks"), std::vector<std::string>{ack->event_id});
}

TEST_F(ProducerTest, SameEventIdPublishedTwiceIsStoredOnce) {
  auto producer = Producer::Open(Options());
  ASSERT_TRUE(producer.ok());
  Event e = TaskEvent("t-1");
  e.event_id = "5b7c1c2e-8f1a-4c1e-9a3b-2f6d8e9a0b1c";
  auto first = (*producer)->Publish("tasks", e);
  auto second = (*producer)->Publish("tasks", e);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_FALSE(first->duplicate);
  EXPECT_TRUE(second->duplicate);
  EXPECT_EQ(second->offset, first->offset);
  // And in a batch, next to a new event.
  auto batch = (*producer)->PublishBatch("tasks", {e, TaskEvent("t-2")});
  ASSERT_TRUE(batch.ok()) << batch.error().ToString();
  EXPECT_EQ(batch->accepted, 1);
  EXPECT_EQ(batch->duplicates, 1);
  EXPECT_EQ(server_->StreamEventIds(key_, "tasks").size(), 2u);
}

TEST_F(ProducerTest, BatchPublishesInOrder) {
  auto producer = Producer::Open(Options());
  ASSERT_TRUE(producer.ok());
  std::vector<Event> events;
  for (int i = 0; i < 100; ++i) events.push_back(TaskEvent("t-" + std::to_string(i)));
  auto ack = (*producer)->PublishBatch("tasks", events);
  ASSERT_TRUE(ack.ok()) << ack.error().ToString();
  ASSERT_EQ(ack->results.size(), 100u);
  EXPECT_EQ(ack->accepted, 100);
  std::vector<std::string> ids;
  for (const auto& r : ack->results) ids.push_back(r.event_id);
  EXPECT_EQ(server_->StreamEventIds(key_, "tasks"), ids);
}

TEST_F(ProducerTest, ManyInFlightAsyncPublishesAllLand) {
  auto producer = Producer::Open(Options());
  ASSERT_TRUE(producer.ok());
  constexpr int kEvents = 500;
  std::atomic<int> done{0}, failed{0};
  std::promise<void> all;
  for (int i = 0; i < kEvents; ++i) {
    (*producer)->PublishAsync("tasks", TaskEvent("t"), [&](Result<PublishAck> r) {
      if (!r.ok()) ++failed;
      if (++done == kEvents) all.set_value();
    });
  }
  all.get_future().wait();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(server_->StreamEventIds(key_, "tasks").size(), size_t{kEvents});
  EXPECT_LE((*producer)->http().stats().connections_opened, 64u);
}

TEST_F(ProducerTest, ValidationErrorIsNotRetriedAndCarriesTheServerDetails) {
  auto producer = Producer::Open(Options());
  ASSERT_TRUE(producer.ok());
  Event bad = TaskEvent("t");
  bad.payload_json = R"({"title":"no task id"})";
  auto ack = (*producer)->Publish("tasks", bad);
  ASSERT_FALSE(ack.ok());
  EXPECT_EQ(ack.error().http_status, 422);
  EXPECT_EQ(ack.error().code, "schema_validation_failed");
  EXPECT_NE(ack.error().details.find("/taskId"), std::string::npos) << ack.error().details;

  Event not_object = TaskEvent("t");
  not_object.payload_json = "[1]";
  ack = (*producer)->Publish("tasks", not_object);
  ASSERT_FALSE(ack.ok());
  EXPECT_EQ(ack.error().http_status, 400);
  EXPECT_EQ(ack.error().code, "invalid_event");
  EXPECT_FALSE(ack.error().retryable());
  const HttpStats stats = (*producer)->http().stats();
  EXPECT_EQ(stats.requests, 2u);
  EXPECT_EQ(stats.attempts, 2u) << "a 4xx was retried";
  EXPECT_TRUE(server_->StreamEventIds(key_, "tasks").empty());
}

TEST_F(ProducerTest, BatchWithABadEventIsRefusedWholeAndNamesItsIndex) {
  auto producer = Producer::Open(Options());
  ASSERT_TRUE(producer.ok());
  Event bad = TaskEvent("t");
  bad.payload_json = R"({"taskId":7})";
  auto ack = (*producer)->PublishBatch("tasks", {TaskEvent("a"), bad, TaskEvent("c")});
  ASSERT_FALSE(ack.ok());
  EXPECT_EQ(ack.error().http_status, 422);
  EXPECT_NE(ack.error().details.find("\"index\":1"), std::string::npos) << ack.error().details;
  EXPECT_EQ((*producer)->http().stats().attempts, 1u);
  EXPECT_TRUE(server_->StreamEventIds(key_, "tasks").empty());
}

TEST_F(ProducerTest, RateLimited429IsRetriedAfterRetryAfter) {
  const std::string slow_key = server_->CreateKey(R"(,"rate_limit_per_s":1,"burst":1)");
  ASSERT_FALSE(slow_key.empty());
  ClientOptions o = Options();
  o.api_key = slow_key;
  auto producer = Producer::Open(o);
  ASSERT_TRUE(producer.ok());
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    auto ack = (*producer)->Publish("tasks", TaskEvent("t"));
    ASSERT_TRUE(ack.ok()) << ack.error().ToString();
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE((*producer)->http().stats().retries_429, 2u);
  // Three requests at one per second: at least two Retry-After waits.
  EXPECT_GE(elapsed, std::chrono::milliseconds(1500));
  EXPECT_EQ(server_->StreamEventIds(key_, "tasks").size(), 3u);

  // Without retries the same call fails with the server's 429.
  o.max_attempts = 1;
  auto once = Producer::Open(o);
  ASSERT_TRUE(once.ok());
  (void)(*once)->Publish("tasks", TaskEvent("t"));
  auto ack = (*once)->Publish("tasks", TaskEvent("t"));
  ASSERT_FALSE(ack.ok());
  EXPECT_EQ(ack.error().http_status, 429);
  EXPECT_EQ(ack.error().code, "rate_limited");
}

TEST_F(ProducerTest, ConnectionErrorsAreRetriedUntilTheServerIsBack) {
  ClientOptions o = Options();
  o.max_attempts = 100;  // up to ~10 s: a restart under ASan takes a while
  auto producer = Producer::Open(o);
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE((*producer)->Publish("tasks", TaskEvent("before")).ok());
  server_->Kill();
  auto pending = std::async(std::launch::async,
                            [&] { return (*producer)->Publish("tasks", TaskEvent("during")); });
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  ASSERT_TRUE(server_->Start());
  auto ack = pending.get();
  ASSERT_TRUE(ack.ok()) << ack.error().ToString();
  EXPECT_GE((*producer)->http().stats().retries_transport, 1u);
  EXPECT_EQ(server_->StreamEventIds(key_, "tasks").size(), 2u);
}

TEST_F(ProducerTest, GivesUpWithConnectionFailedWhenTheServerStaysDown) {
  ClientOptions o = Options();
  o.max_attempts = 3;
  auto producer = Producer::Open(o);
  ASSERT_TRUE(producer.ok());
  server_->Kill();
  auto ack = (*producer)->Publish("tasks", TaskEvent("t"));
  ASSERT_FALSE(ack.ok());
  EXPECT_EQ(ack.error().http_status, 0);
  EXPECT_EQ(ack.error().code, "connection_failed");
  EXPECT_EQ((*producer)->http().stats().attempts, 3u);
}

TEST(ProducerFakeServerTest, Retries503AndTimeoutsWithTheSameEventId) {
  const std::string accepted =
      FakeServer::Json(202, R"({"event_id":"x","status":"ACCEPTED","offset":0,"received_at":"t"})");
  FakeServer fake(
      {FakeServer::Json(503, R"({"error":{"code":"unavailable","message":"m"}})"), "", accepted});
  ClientOptions o;
  o.port = static_cast<uint16_t>(fake.port());
  o.api_key = "k";
  o.request_timeout = std::chrono::milliseconds(300);
  o.backoff = Backoff{std::chrono::milliseconds(10), std::chrono::milliseconds(50)};
  auto producer = Producer::Open(o);
  ASSERT_TRUE(producer.ok());
  auto ack = (*producer)->Publish("tasks", TaskEvent("t"));
  ASSERT_TRUE(ack.ok()) << ack.error().ToString();
  const HttpStats stats = (*producer)->http().stats();
  EXPECT_EQ(stats.attempts, 3u);
  EXPECT_EQ(stats.retries_5xx, 1u);
  EXPECT_EQ(stats.retries_transport, 1u);  // the timeout
  EXPECT_EQ(fake.requests(), 3);
}

TEST(ProducerFakeServerTest, GivesUpOn503AfterMaxAttemptsWithTheServerCode) {
  FakeServer fake({FakeServer::Json(503, R"({"error":{"code":"storage_full","message":"m"}})")});
  ClientOptions o;
  o.port = static_cast<uint16_t>(fake.port());
  o.max_attempts = 4;
  o.backoff = Backoff{std::chrono::milliseconds(1), std::chrono::milliseconds(5)};
  auto producer = Producer::Open(o);
  ASSERT_TRUE(producer.ok());
  auto ack = (*producer)->Publish("tasks", TaskEvent("t"));
  ASSERT_FALSE(ack.ok());
  EXPECT_EQ(ack.error().http_status, 503);
  EXPECT_EQ(ack.error().code, "storage_full");
  EXPECT_EQ(fake.requests(), 4);
}

TEST(BackoffTest, FullJitterStaysUnderTheCappedCeiling) {
  Backoff b{std::chrono::milliseconds(100), std::chrono::milliseconds(1000)};
  EXPECT_EQ(b.Ceiling(1).count(), 100);
  EXPECT_EQ(b.Ceiling(2).count(), 200);
  EXPECT_EQ(b.Ceiling(4).count(), 800);
  EXPECT_EQ(b.Ceiling(5).count(), 1000);
  EXPECT_EQ(b.Ceiling(40).count(), 1000);
  std::set<int64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto d = b.Delay(3).count();
    ASSERT_GE(d, 0);
    ASSERT_LE(d, 400);
    seen.insert(d);
  }
  EXPECT_GT(seen.size(), 50u) << "no jitter";
}

}  // namespace
}  // namespace eventflow::client
