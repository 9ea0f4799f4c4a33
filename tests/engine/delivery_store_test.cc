// DeliveryStore on a real index: records and entries round-trip through a
// reopen, commits settle the acked event and passed dead markers only,
// retry and discard move entries, and drops remove a group's or a stream's
// state without touching others.
#include "engine/delivery_store.h"

#include <gtest/gtest.h>

#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::TempDir;

const Uuid kStream = *Uuid::Parse("11111111-1111-4111-8111-111111111111");
const Uuid kOther = *Uuid::Parse("22222222-2222-4222-8222-222222222222");

Delivery Parked(uint64_t offset, uint32_t attempts, int64_t due_ms) {
  Delivery d;
  d.offset = offset;
  d.event_id = "e" + std::to_string(offset);
  d.attempts = attempts;
  d.due_ms = due_ms;
  d.reason = "boom \"quoted\"";
  return d;
}

DlqEntry Entry(uint64_t offset, std::string group, uint32_t attempts) {
  return DlqEntry{.event_id = "e" + std::to_string(offset),
                  .offset = offset,
                  .stage = "consumer",
                  .group = std::move(group),
                  .reason = "bad",
                  .attempts = attempts,
                  .failed_at_ms = 1764000000123,
                  .event_json = R"({"event_id":"x","payload":{"a":1}})"};
}

class DeliveryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    store_.reset();
    index_.reset();
    auto index = Index::Open(tmp_.path() + "/index", {});
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    index_ = std::move(*index);
    store_ = std::make_unique<DeliveryStore>(index_.get());
  }
  std::vector<Delivery> Records(const Uuid& stream, const std::string& group) {
    auto r = store_->Deliveries(stream, group);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<Delivery>{};
  }
  std::vector<DlqEntry> Dlq(const Uuid& stream, DlqFilter f = {}) {
    auto r = store_->ListDlq(stream, f);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<DlqEntry>{};
  }
  TempDir tmp_;
  std::unique_ptr<Index> index_;
  std::unique_ptr<DeliveryStore> store_;
};

TEST_F(DeliveryStoreTest, RecordsComeBackInOffsetOrderAfterReopen) {
  ASSERT_TRUE(store_->Put(kStream, "g", Parked(12, 2, 500)).ok());
  ASSERT_TRUE(store_->Put(kStream, "g", Parked(3, 1, 900)).ok());
  ASSERT_TRUE(store_->Put(kStream, "g2", Parked(7, 1, 0)).ok());  // another group
  Open();
  auto records = Records(kStream, "g");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].offset, 3u);
  EXPECT_EQ(records[1].offset, 12u);
  EXPECT_EQ(records[1].attempts, 2u);
  EXPECT_EQ(records[1].due_ms, 500);
  EXPECT_EQ(records[1].reason, "boom \"quoted\"");
  EXPECT_TRUE(records[1].DueAt(500));
  EXPECT_FALSE(records[1].DueAt(499));
  auto one = store_->Get(kStream, "g", 3);
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ((*one)->event_id, "e3");
  EXPECT_FALSE(store_->Get(kStream, "g", 4)->has_value());
}

TEST_F(DeliveryStoreTest, DeadLetterWritesMarkerAndEntryThatListWithFilters) {
  ASSERT_TRUE(store_->DeadLetter(kStream, "g", Parked(5, 3, 100), Entry(5, "g", 3)).ok());
  ASSERT_TRUE(store_->DeadLetter(kStream, "h", Parked(5, 3, 100), Entry(5, "h", 3)).ok());
  ASSERT_TRUE(store_->DeadLetter(kStream, "g", Parked(2, 3, 100), Entry(2, "g", 3)).ok());
  Open();
  auto marker = store_->Get(kStream, "g", 5);
  ASSERT_TRUE(marker.ok() && marker->has_value());
  EXPECT_EQ((*marker)->state, Delivery::State::kDead);
  EXPECT_FALSE((*marker)->Pending());
  EXPECT_FALSE((*marker)->DueAt(INT64_MAX));
  auto all = Dlq(kStream);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].offset, 2u);  // offset order
  EXPECT_EQ(all[1].event_json, R"({"event_id":"x","payload":{"a":1}})");
  EXPECT_EQ(all[1].failed_at_ms, 1764000000123);
  EXPECT_NE(all[1].ToJson().find("\"failed_at\":\"2025-11-24T16:00:00.123Z\""), std::string::npos)
      << all[1].ToJson();
  DlqFilter by_group;
  by_group.group = "h";
  EXPECT_EQ(Dlq(kStream, by_group).size(), 1u);
  DlqFilter by_event;
  by_event.event_id = "e5";
  by_event.offset = 5;
  EXPECT_EQ(Dlq(kStream, by_event).size(), 2u);
  DlqFilter processing;
  processing.stage = "processing";
  EXPECT_TRUE(Dlq(kStream, processing).empty());
  DlqFilter limited;
  limited.limit = 1;
  EXPECT_EQ(Dlq(kStream, limited).size(), 1u);
  EXPECT_TRUE(Dlq(kOther).empty());
  auto counts = store_->CountDlq();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[std::make_pair(kStream.ToString(), std::string("consumer"))], 3u);
}

TEST_F(DeliveryStoreTest, CommitSettlesTheAckedEventAndPassedDeadMarkersOnly) {
  ASSERT_TRUE(store_->Put(kStream, "g", Parked(1, 1, 0)).ok());
  ASSERT_TRUE(store_->Put(kStream, "g", Parked(4, 1, 0)).ok());
  ASSERT_TRUE(store_->DeadLetter(kStream, "g", Parked(2, 5, 0), Entry(2, "g", 5)).ok());
  ASSERT_TRUE(store_->DeadLetter(kStream, "g", Parked(9, 5, 0), Entry(9, "g", 5)).ok());
  // A commit of offset 4 moves the position to 4: 4 is acked, the dead
  // marker at 2 is passed, the parked 1 is still owed, the dead 9 is ahead.
  auto writes = store_->SettleOnCommit(kStream, "g", Records(kStream, "g"), 4, 4);
  ASSERT_TRUE(index_->ApplyState(writes).ok());
  auto left = Records(kStream, "g");
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].offset, 1u);
  EXPECT_EQ(left[1].offset, 9u);
  // The DLQ entries are untouched by commits.
  EXPECT_EQ(Dlq(kStream).size(), 2u);
}

TEST_F(DeliveryStoreTest, RetryReplacesTheEntryByARedeliveryAndDiscardOnlyRemoves) {
  ASSERT_TRUE(store_->DeadLetter(kStream, "g", Parked(6, 5, 0), Entry(6, "g", 5)).ok());
  ASSERT_TRUE(store_->DeadLetter(kStream, "h", Parked(6, 5, 0), Entry(6, "h", 5)).ok());
  ASSERT_TRUE(store_->RetryConsumer(kStream, Entry(6, "g", 5)).ok());
  auto g = store_->Get(kStream, "g", 6);
  ASSERT_TRUE(g.ok() && g->has_value());
  EXPECT_EQ((*g)->state, Delivery::State::kRetried);
  EXPECT_EQ((*g)->attempts, 0u);
  EXPECT_TRUE((*g)->DueAt(0));
  ASSERT_TRUE(store_->Discard(kStream, {Entry(6, "h", 5)}).ok());
  EXPECT_TRUE(Dlq(kStream).empty());
  auto h = store_->Get(kStream, "h", 6);
  ASSERT_TRUE(h.ok() && h->has_value());
  EXPECT_EQ((*h)->state, Delivery::State::kDead);  // still never delivered to h
}

TEST_F(DeliveryStoreTest, DropGroupAndDropStreamLeaveOthersAlone) {
  ASSERT_TRUE(store_->Put(kStream, "g", Parked(1, 1, 0)).ok());
  ASSERT_TRUE(store_->DeadLetter(kStream, "g", Parked(2, 5, 0), Entry(2, "g", 5)).ok());
  ASSERT_TRUE(store_->DeadLetter(kStream, "h", Parked(2, 5, 0), Entry(2, "h", 5)).ok());
  ASSERT_TRUE(store_->DeadLetter(kOther, "g", Parked(2, 5, 0), Entry(2, "g", 5)).ok());
  ASSERT_TRUE(store_->DropGroup(kStream, "g").ok());
  EXPECT_TRUE(Records(kStream, "g").empty());
  ASSERT_EQ(Dlq(kStream).size(), 1u);
  EXPECT_EQ(Dlq(kStream)[0].group, "h");
  EXPECT_EQ(Records(kOther, "g").size(), 1u);
  ASSERT_TRUE(store_->DropStream(kStream).ok());
  EXPECT_TRUE(Records(kStream, "h").empty());
  EXPECT_TRUE(Dlq(kStream).empty());
  EXPECT_EQ(Dlq(kOther).size(), 1u);
}

}  // namespace
}  // namespace eventflow
