// Consumer against the real server: handling and commits, nack with growing
// delays up to the DLQ, settled redeliveries, the idempotency store, graceful
// stop.
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "client/consumer.h"
#include "client/producer.h"
#include "tests/client/test_server.h"

namespace eventflow::client {
namespace {

using testing::Field;
using testing::TestServer;

class ConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<TestServer>(testing::TempDir("consumer"));
    ASSERT_GT(server_->port(), 0) << "server did not start: " << testing::EventflowBinary();
    key_ = server_->CreateKey();
    ASSERT_FALSE(key_.empty());
    ASSERT_EQ(server_->CreateStream(key_, R"({"name":"tasks","max_deliveries":3})"), 201);
  }

  // Publishes `n` events with payload {"n": i}; returns their ids in order.
  std::vector<std::string> Produce(int n) {
    auto producer = Producer::Open(server_->Options(key_));
    std::vector<Event> events;
    for (int i = 0; i < n; ++i) {
      Event e;
      e.event_type = "Counted";
      e.payload_json = R"({"n":)" + std::to_string(i) + "}";
      events.push_back(e);
    }
    auto ack = (*producer)->PublishBatch("tasks", events);
    std::vector<std::string> ids;
    if (ack.ok()) {
      for (const auto& r : ack->results) ids.push_back(r.event_id);
    }
    return ids;
  }

  ConsumerOptions Options(const std::string& group) const {
    ConsumerOptions o;
    o.stream = "tasks";
    o.group = group;
    o.poll_timeout = std::chrono::milliseconds(200);
    o.nack_backoff = Backoff{std::chrono::milliseconds(100), std::chrono::milliseconds(1000)};
    return o;
  }

  std::string Group(const std::string& group) const {
    return server_->Request("GET", "/api/v1/streams/tasks/consumer-groups/" + group, "", key_).body;
  }

  std::unique_ptr<TestServer> server_;
  std::string key_;
};

TEST_F(ConsumerTest, HandlesEveryEventInOrderAndCommitsPerBatch) {
  const auto ids = Produce(50);
  ASSERT_EQ(ids.size(), 50u);
  std::vector<std::string> seen;
  auto opts = Options("audit");
  opts.max_events = 20;
  auto consumer = Consumer::Open(server_->Options(key_), opts, [&](const ReceivedEvent& e) {
    seen.push_back(e.event_id);
    EXPECT_EQ(e.event_type, "Counted");
    EXPECT_EQ(e.payload_json, R"({"n":)" + std::to_string(e.offset) + "}");
    return Status::Ok();
  });
  ASSERT_TRUE(consumer.ok());
  for (int i = 0; i < 3; ++i) {
    auto n = (*consumer)->PollOnce();
    ASSERT_TRUE(n.ok()) << n.error().ToString();
  }
  EXPECT_EQ(seen, ids);
  EXPECT_EQ((*consumer)->stats().commits, 3u);  // batches of 20, 20, 10
  EXPECT_EQ(Field(Group("audit"), "/committed_offset"), "49");
  EXPECT_EQ(Field(Group("audit"), "/lag"), "0");
  // Nothing more to deliver: the commits held.
  auto n = (*consumer)->PollOnce();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0);
}

TEST_F(ConsumerTest, CommitEveryNEvents) {
  Produce(10);
  auto opts = Options("g");
  opts.commit_every = 3;
  auto consumer =
      Consumer::Open(server_->Options(key_), opts, [](const ReceivedEvent&) { return Status(); });
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE((*consumer)->PollOnce().ok());
  EXPECT_EQ((*consumer)->stats().commits, 4u);  // after 3, 6, 9 and the last one
  EXPECT_EQ(Field(Group("g"), "/committed_offset"), "9");
}

TEST_F(ConsumerTest, FailingEventIsNackedWithGrowingDelaysThenDeadLettered) {
  const auto ids = Produce(5);
  const std::string poison = ids[2];
  std::map<std::string, int> calls;
  auto consumer =
      Consumer::Open(server_->Options(key_), Options("billing"), [&](const ReceivedEvent& e) {
        ++calls[e.event_id];
        if (e.event_id == poison) return Status(MakeError(0, "handler", "cannot bill"));
        return Status::Ok();
      });
  ASSERT_TRUE(consumer.ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((*consumer)->stats().dead_lettered == 0 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE((*consumer)->PollOnce().ok());
  }
  const ConsumerStats stats = (*consumer)->stats();
  EXPECT_EQ(stats.dead_lettered, 1u);
  EXPECT_EQ(calls[poison], 3);  // max_deliveries
  for (const auto& id : ids) {
    if (id != poison) {
      EXPECT_EQ(calls[id], 1) << id;
    }
  }
  ASSERT_EQ(stats.nack_delays_ms.size(), 3u);
  // In [c/2, c] for ceilings 100, 200, 400: each longer than the one before.
  EXPECT_GE(stats.nack_delays_ms[0], 50);
  EXPECT_LE(stats.nack_delays_ms[0], 100);
  EXPECT_GE(stats.nack_delays_ms[1], 100);
  EXPECT_GE(stats.nack_delays_ms[2], 200);
  EXPECT_LE(stats.nack_delays_ms[2], 400);
  const auto dlq =
      server_->Request("GET", "/api/v1/streams/tasks/dlq?group_id=billing", "", key_).body;
  EXPECT_EQ(Field(dlq, "/entries/0/event_id"), poison);
  EXPECT_NE(Field(dlq, "/entries/0/reason").find("cannot bill"), std::string::npos);
  EXPECT_EQ(Field(Group("billing"), "/committed_offset"), "4");
}

TEST_F(ConsumerTest, EventThatFailsOnceIsRedeliveredHandledAndSettled) {
  const auto ids = Produce(3);
  std::map<std::string, int> calls;
  auto consumer = Consumer::Open(server_->Options(key_), Options("g"), [&](const ReceivedEvent& e) {
    if (++calls[e.event_id] == 1 && e.event_id == ids[0]) {
      return Status(MakeError(0, "handler", "transient"));
    }
    return Status::Ok();
  });
  ASSERT_TRUE(consumer.ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (calls[ids[0]] < 2 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE((*consumer)->PollOnce().ok());
  }
  EXPECT_EQ(calls[ids[0]], 2);
  // Settled: a second of waiting brings no further delivery of it.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*consumer)->PollOnce().ok());
  EXPECT_EQ(calls[ids[0]], 2);
  EXPECT_EQ(calls[ids[1]], 1);
  EXPECT_EQ(calls[ids[2]], 1);
  EXPECT_EQ((*consumer)->stats().dead_lettered, 0u);
}

TEST_F(ConsumerTest, ProcessedStoreSkipsRedeliveredEvents) {
  Produce(10);
  InMemoryProcessedStore store;
  int handled = 0;
  auto opts = Options("g");
  opts.processed = &store;
  auto handler = [&](const ReceivedEvent&) {
    ++handled;
    return Status::Ok();
  };
  auto first = Consumer::Open(server_->Options(key_), opts, handler);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*first)->PollOnce().ok());
  EXPECT_EQ(handled, 10);
  // Rewind the group: everything is delivered again, and skipped.
  ASSERT_EQ(server_
                ->Request("POST", "/api/v1/streams/tasks/consumer-groups/g/seek",
                          R"({"position":"earliest"})", key_)
                .status,
            200);
  auto second = Consumer::Open(server_->Options(key_), opts, handler);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE((*second)->PollOnce().ok());
  EXPECT_EQ(handled, 10);
  EXPECT_EQ((*second)->stats().skipped, 10u);
  EXPECT_EQ(Field(Group("g"), "/committed_offset"), "9");
}

TEST_F(ConsumerTest, SqliteProcessedStoreSurvivesReopen) {
  const std::string path = testing::TempDir("store") + "/processed.db";
  {
    auto store = SqliteProcessedStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.error().ToString();
    EXPECT_FALSE((*store)->Contains("a"));
    ASSERT_TRUE((*store)->Add("a").ok());
    ASSERT_TRUE((*store)->Add("a").ok());
  }
  auto store = SqliteProcessedStore::Open(path);
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->Contains("a"));
  EXPECT_FALSE((*store)->Contains("b"));
}

TEST_F(ConsumerTest, StopInTheMiddleOfABatchCommitsWhatWasProcessed) {
  const auto ids = Produce(30);
  std::unique_ptr<Consumer> consumer;
  int handled = 0;
  auto opened = Consumer::Open(server_->Options(key_), Options("g"), [&](const ReceivedEvent&) {
    if (++handled == 12) consumer->Stop();
    return Status::Ok();
  });
  ASSERT_TRUE(opened.ok());
  consumer = std::move(*opened);
  std::thread runner([&] { EXPECT_TRUE(consumer->Run().ok()); });
  runner.join();
  EXPECT_EQ(handled, 12);
  EXPECT_EQ(Field(Group("g"), "/committed_offset"), "11");
  // A new consumer of the group starts right after.
  std::vector<std::string> rest;
  auto next = Consumer::Open(server_->Options(key_), Options("g"), [&](const ReceivedEvent& e) {
    rest.push_back(e.event_id);
    return Status::Ok();
  });
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE((*next)->PollOnce().ok());
  EXPECT_EQ(rest, std::vector<std::string>(ids.begin() + 12, ids.end()));
}

TEST_F(ConsumerTest, RunKeepsGoingAcrossAServerRestart) {
  Produce(5);
  std::atomic<int> handled{0};
  auto consumer = Consumer::Open(server_->Options(key_), Options("g"), [&](const ReceivedEvent&) {
    ++handled;
    return Status::Ok();
  });
  ASSERT_TRUE(consumer.ok());
  std::thread runner([&] { EXPECT_TRUE((*consumer)->Run().ok()); });
  while (handled < 5) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  server_->Kill();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(server_->Start());
  Produce(5);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (handled < 10 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  (*consumer)->Stop();
  runner.join();
  EXPECT_EQ(handled, 10);
  EXPECT_EQ(Field(Group("g"), "/committed_offset"), "9");
}

TEST_F(ConsumerTest, DeadLetteredEventRetriedFromTheDlqReachesOnlyThatGroup) {
  const auto ids = Produce(6);
  const std::string poison = ids[3];
  std::atomic<bool> fixed{false};
  std::map<std::string, int> billing_ok, audit_ok;
  auto billing =
      Consumer::Open(server_->Options(key_), Options("billing"), [&](const ReceivedEvent& e) {
        if (e.event_id == poison && !fixed) return Status(MakeError(0, "handler", "bug"));
        ++billing_ok[e.event_id];
        return Status::Ok();
      });
  auto audit =
      Consumer::Open(server_->Options(key_), Options("audit"), [&](const ReceivedEvent& e) {
        ++audit_ok[e.event_id];
        return Status::Ok();
      });
  ASSERT_TRUE(billing.ok() && audit.ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((*billing)->stats().dead_lettered == 0 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE((*billing)->PollOnce().ok());
  }
  ASSERT_EQ((*billing)->stats().dead_lettered, 1u);
  ASSERT_TRUE((*audit)->PollOnce().ok());
  EXPECT_EQ(billing_ok.size(), 5u);  // the others flowed on
  EXPECT_EQ(billing_ok.count(poison), 0u);
  EXPECT_EQ(audit_ok.size(), 6u);
  // The handler is fixed; the DLQ entry is retried for billing only.
  fixed = true;
  ASSERT_EQ(server_
                ->Request("POST", "/api/v1/streams/tasks/dlq/" + poison + "/retry?group_id=billing",
                          "", key_)
                .status,
            202);
  ASSERT_TRUE((*billing)->PollOnce().ok());
  EXPECT_EQ(billing_ok[poison], 1);
  ASSERT_TRUE((*audit)->PollOnce().ok());
  EXPECT_EQ(audit_ok.size(), 6u);
  for (const auto& [id, n] : audit_ok) EXPECT_EQ(n, 1) << id;
  // Settled by the consumer's commit of that id: no further redelivery.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*billing)->PollOnce().ok());
  EXPECT_EQ(billing_ok[poison], 1);
  const auto dlq = server_->Request("GET", "/api/v1/streams/tasks/dlq", "", key_).body;
  EXPECT_EQ(Field(dlq, "/entries"), "[]");
}

TEST_F(ConsumerTest, StoppedConsumerCatchesUpOnABacklogAndItsLagReturnsToZero) {
  for (int i = 0; i < 10; ++i) ASSERT_EQ(Produce(1000).size(), 1000u);
  auto opts = Options("slow");
  opts.max_events = 500;
  int handled = 0;
  auto consumer = Consumer::Open(server_->Options(key_), opts, [&](const ReceivedEvent&) {
    ++handled;
    return Status::Ok();
  });
  ASSERT_TRUE(consumer.ok());
  const auto metrics_lag = [&] {
    const auto body = server_->Request("GET", "/metrics", "", "").body;
    const auto at = body.find("eventflow_consumer_lag_events{");
    if (at == std::string::npos) return std::string("<none>");
    const auto line = body.substr(at, body.find('\n', at) - at);
    return line.find("group=\"slow\"") == std::string::npos ? std::string("<none>")
                                                            : line.substr(line.rfind(' ') + 1);
  };
  while (handled < 10000) {
    auto n = (*consumer)->PollOnce();
    ASSERT_TRUE(n.ok()) << n.error().ToString();
    ASSERT_GT(*n, 0);
  }
  EXPECT_EQ(handled, 10000);
  EXPECT_EQ(Field(Group("slow"), "/lag"), "0");
  EXPECT_EQ(metrics_lag(), "0");
}

TEST_F(ConsumerTest, CommitBehindAnotherMemberOfTheGroupIsToleratedNotFatal) {
  const auto ids = Produce(10);
  auto opts = Options("shared");
  opts.max_events = 5;
  bool moved = false;
  auto consumer = Consumer::Open(server_->Options(key_), opts, [&](const ReceivedEvent&) {
    if (!moved) {  // another member of the group commits further meanwhile
      moved = true;
      EXPECT_EQ(server_
                    ->Request("POST", "/api/v1/streams/tasks/consumer-groups/shared/offsets",
                              R"({"last_event_id":")" + ids[9] + "\"}", key_)
                    .status,
                200);
    }
    return Status::Ok();
  });
  ASSERT_TRUE(consumer.ok());
  auto n = (*consumer)->PollOnce();
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ((*consumer)->stats().conflicts, 1u);  // its commit of ids[4] was a 409
  EXPECT_EQ(Field(Group("shared"), "/committed_offset"), "9");
}

}  // namespace
}  // namespace eventflow::client
