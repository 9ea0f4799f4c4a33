// Run entries of the event index: the ids the writer gives a request's
// events follow each other, the index keeps each run as one entry, and
// lookups, duplicate checks, rebuilds and deletions behave as if every
// event had an entry of its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::AppendNow;
using testing::Draft;
using testing::ServerDraft;
using testing::TempDir;

std::vector<EventDraft> ServerBatch(int n) {
  std::vector<EventDraft> batch;
  for (int i = 0; i < n; ++i) batch.push_back(ServerDraft("{\"i\":" + std::to_string(i) + "}"));
  return batch;
}

void ExpectFound(const Engine& engine, const std::vector<EventAck>& acks, const Uuid& stream) {
  for (const EventAck& a : acks) {
    auto loc = engine.Lookup("org", a.event_id);
    ASSERT_TRUE(loc.ok() && loc->has_value()) << a.event_id.ToString();
    EXPECT_EQ((*loc)->stream_id, stream);
    EXPECT_EQ((*loc)->offset, a.offset);
    EXPECT_EQ((*loc)->created_at_ms, a.created_at_ms);
    EXPECT_FALSE(engine.Lookup("other-org", a.event_id)->has_value());
  }
}

// An engine with one stream "s" of org "org".
class IndexRunsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions eo;
    eo.data_dir = tmp_.path();
    auto engine = Engine::Open(eo);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    auto s = engine_->CreateStream("org", "s", "{}");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    stream_ = *s;
  }
  TempDir tmp_;
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<Stream> stream_;
};

TEST_F(IndexRunsTest, ServerIdsOfARequestFollowEachOtherAndTakeOneEntry) {
  const Uuid stream = stream_->manifest.stream_id;
  const auto acks = AppendNow(*engine_, stream_, ServerBatch(1000));
  ASSERT_EQ(acks.size(), 1000u);
  for (size_t i = 1; i < acks.size(); ++i) {
    ASSERT_EQ(acks[i - 1].event_id.Successor(), acks[i].event_id) << i;
    ASSERT_EQ(acks[i].offset, acks[i - 1].offset + 1);
  }
  EXPECT_EQ(*engine_->index().CountEvents(), 1000u);
  EXPECT_EQ(*engine_->index().CountEventEntries(), 1u);
  ExpectFound(*engine_, acks, stream);
  // The id after the run was never given out.
  EXPECT_FALSE(engine_->Lookup("org", *acks.back().event_id.Successor())->has_value());

  // A client id inside a request ends the run; the server's ids after it
  // start another.
  std::vector<EventDraft> mixed = ServerBatch(2);
  mixed.push_back(Draft("{}"));
  mixed.push_back(ServerDraft("{}"));
  mixed.push_back(ServerDraft("{}"));
  const auto more = AppendNow(*engine_, stream_, std::move(mixed));
  ASSERT_EQ(more.size(), 5u);
  EXPECT_EQ(more[0].event_id.Successor(), more[1].event_id);
  EXPECT_EQ(more[3].event_id.Successor(), more[4].event_id);
  EXPECT_EQ(*engine_->index().CountEvents(), 1005u);
  // The first two start a run of their own (a run never goes on into the
  // next request); the client id has its own entry, and the last two are a
  // run again.
  EXPECT_NE(acks.back().event_id.Successor(), more[0].event_id);
  EXPECT_EQ(*engine_->index().CountEventEntries(), 4u);
  ExpectFound(*engine_, more, stream);
}

TEST_F(IndexRunsTest, ClientIdEqualToAServerIdIsADuplicate) {
  const auto acks = AppendNow(*engine_, stream_, ServerBatch(100));
  // A producer re-sends an event it read back, with the id the server gave it.
  EventDraft again = Draft("{\"i\":5}");
  again.event_id = acks[5].event_id;
  const auto dup = AppendNow(*engine_, stream_, {again, Draft("{}")});
  ASSERT_EQ(dup.size(), 2u);
  EXPECT_TRUE(dup[0].duplicate);
  EXPECT_EQ(dup[0].offset, acks[5].offset);
  EXPECT_EQ(dup[0].created_at_ms, acks[5].created_at_ms);
  EXPECT_FALSE(dup[1].duplicate);
  EXPECT_EQ(dup[1].offset, 100u);
  // The same id in another stream of the org is refused, not stored twice.
  auto other = engine_->CreateStream("org", "t", "{}");
  ASSERT_TRUE(other.ok());
  auto refused = testing::AppendSync(*(*other)->writer, {again});
  EXPECT_EQ(refused.status.code(), Status::Code::kConflict) << refused.status.ToString();
}

TEST(IndexRuns, RebuildFromTheSegmentsFormsTheSameRuns) {
  TempDir tmp;
  EngineOptions eo;
  eo.data_dir = tmp.path();
  eo.segment_bytes = 64 << 10;  // several segments
  std::vector<EventAck> acks;
  Uuid stream;
  uint64_t entries = 0;
  {
    auto engine = Engine::Open(eo);
    ASSERT_TRUE(engine.ok());
    auto s = (*engine)->CreateStream("org", "s", "{}");
    ASSERT_TRUE(s.ok());
    stream = (*s)->manifest.stream_id;
    for (int round = 0; round < 20; ++round) {
      for (const auto& a : AppendNow(**engine, *s, ServerBatch(50))) acks.push_back(a);
    }
    entries = *(*engine)->index().CountEventEntries();
    EXPECT_EQ(entries, 20u);  // a run per request
  }
  std::filesystem::remove_all(tmp.path() + "/index");
  auto rebuilt = Engine::RebuildIndex(eo);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  EXPECT_EQ(*rebuilt, 1000u);
  auto engine = Engine::Open(eo);
  ASSERT_TRUE(engine.ok());
  // The rebuild forms the same runs (or fewer, where two happen to meet).
  EXPECT_LE(*(*engine)->index().CountEventEntries(), entries);
  ExpectFound(**engine, acks, stream);
}

TEST_F(IndexRunsTest, NextRequestsIdsCouldBePredictedFromAnAck) {
  // 200 producers of one event each, all in flight at once: the writer
  // takes them in a few rounds, within a few milliseconds. A run used to go
  // on across requests while the millisecond lasted, so a client that saw
  // its own id X knew the next request would get X+1 and could claim it
  // first. Now each request's first id is fresh.
  std::vector<std::future<testing::AppendOutcome>> pending;
  for (int i = 0; i < 200; ++i) {
    pending.push_back(testing::AppendLater(*stream_->writer, {ServerDraft("{}")}));
  }
  std::vector<EventAck> acks;
  for (auto& p : pending) {
    auto outcome = p.get();
    ASSERT_TRUE(outcome.status.ok()) << outcome.status.ToString();
    acks.push_back(outcome.acks.at(0));
  }
  std::sort(acks.begin(), acks.end(),
            [](const EventAck& a, const EventAck& b) { return a.offset < b.offset; });
  for (size_t i = 1; i < acks.size(); ++i) {
    EXPECT_NE(acks[i - 1].event_id.Successor(), acks[i].event_id) << "offset " << acks[i].offset;
    // Same millisecond or not, the random bits share nothing.
    EXPECT_NE(
        std::memcmp(acks[i - 1].event_id.bytes.data() + 9, acks[i].event_id.bytes.data() + 9, 4),
        0);
  }
  EXPECT_EQ(*engine_->index().CountEvents(), 200u);
  EXPECT_EQ(*engine_->index().CountEventEntries(), 200u);
  ExpectFound(*engine_, acks, stream_->manifest.stream_id);
}

// Ten events in one run, as PutEvents gets them from the writer.
std::vector<IndexedEvent> TenInARun(const Uuid& stream, uint64_t first_offset) {
  std::vector<IndexedEvent> run;
  Uuid id = Uuid::TimeOrdered();
  for (uint64_t i = 0; i < 10; ++i) {
    run.push_back(IndexedEvent{id, EventLocation{stream, first_offset + i, 1234}});
    id = *id.Successor();
  }
  return run;
}

TEST(IndexRuns, DeletingIdsInsideARunKeepsTheRest) {
  TempDir tmp;
  auto index = Index::Open(tmp.path(), {});
  ASSERT_TRUE(index.ok());
  const Uuid stream = Uuid::Random();
  const auto run = TenInARun(stream, 100);
  ASSERT_TRUE((*index)->PutEvents("org", stream, run, 109).ok());
  ASSERT_EQ(*(*index)->CountEventEntries(), 1u);
  // Compaction drops events 0, 4, 5 and 9 of it (and an id it never held).
  const std::vector<Uuid> gone = {run[0].event_id, run[4].event_id, run[5].event_id,
                                  run[9].event_id, Uuid::TimeOrdered()};
  for (int pass = 0; pass < 2; ++pass) {  // deleting again changes nothing
    ASSERT_TRUE((*index)->DeleteEvents("org", gone).ok());
    EXPECT_EQ(*(*index)->CountEvents(), 6u);
    for (size_t i = 0; i < run.size(); ++i) {
      auto loc = (*index)->GetEvent("org", run[i].event_id);
      ASSERT_TRUE(loc.ok());
      const bool deleted = i == 0 || i == 4 || i == 5 || i == 9;
      ASSERT_EQ(loc->has_value(), !deleted) << "event " << i << ", pass " << pass;
      if (!deleted) {
        EXPECT_EQ((*loc)->offset, 100 + i);
      }
    }
    std::vector<std::optional<EventLocation>> found;
    ASSERT_TRUE((*index)
                    ->GetEvents("org", {run[3].event_id, run[4].event_id, run[8].event_id}, &found)
                    .ok());
    EXPECT_EQ(found[0]->offset, 103u);
    EXPECT_FALSE(found[1].has_value());
    EXPECT_EQ(found[2]->offset, 108u);
  }
}

TEST(IndexRuns, EntriesPastTheLogCutARunShortAndStreamDeletionRemovesOnlyItsRuns) {
  TempDir tmp;
  auto index = Index::Open(tmp.path(), {});
  ASSERT_TRUE(index.ok());
  const Uuid stream = Uuid::Random(), other = Uuid::Random();
  const auto run = TenInARun(stream, 0);
  const auto later = TenInARun(stream, 10);
  const auto others = TenInARun(other, 0);
  ASSERT_TRUE((*index)->PutEvents("org", stream, run, 9).ok());
  ASSERT_TRUE((*index)->PutEvents("org", stream, later, 19).ok());
  ASSERT_TRUE((*index)->PutEvents("org", other, others, 9).ok());
  // A crash took offsets 7 and up from the log.
  ASSERT_TRUE((*index)->DeleteStreamEventsFrom("org", stream, 7).ok());
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ((*index)->GetEvent("org", run[i].event_id)->has_value(), i < 7) << i;
    EXPECT_FALSE((*index)->GetEvent("org", later[i].event_id)->has_value()) << i;
  }
  EXPECT_EQ(*(*index)->CountEvents(), 17u);
  ASSERT_TRUE((*index)->DeleteStreamEvents("org", stream).ok());
  EXPECT_EQ(*(*index)->CountEvents(), 10u);
  for (const auto& e : others) {
    auto loc = (*index)->GetEvent("org", e.event_id);
    ASSERT_TRUE(loc.ok() && loc->has_value());
    EXPECT_EQ((*loc)->stream_id, other);
  }
}

}  // namespace
}  // namespace eventflow
