// Retention and compaction on a live engine: which events survive, that
// offsets and the index follow, and that the result survives a restart.
#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <map>
#include <set>

#include "formats/segment_name.h"
#include "formats/timestamp.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::AppendNow;
using testing::Draft;
using testing::ReadAll;
using testing::TempDir;

struct Written {
  Uuid id;
  uint64_t offset;
  std::string key;  // "" = keyless
};

class CleanupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    eo_.data_dir = tmp_.path();
    eo_.segment_bytes = 16 << 10;
    Open();
    auto s = engine_->CreateStream("org", "s", "{}");
    ASSERT_TRUE(s.ok());
    stream_ = *s;
  }
  void Open() {
    auto e = Engine::Open(eo_);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(*e);
  }
  void Restart() {
    const Uuid id = stream_->manifest.stream_id;
    stream_.reset();
    engine_.reset();
    Open();
    stream_ = engine_->FindStream(id);
    ASSERT_NE(stream_, nullptr);
  }
  // `n` events in batches of 5; every third keyless, the rest keyed k0..k(keys-1).
  void Write(int n, int keys) {
    for (int i = 0; i < n; i += 5) {
      std::vector<EventDraft> batch;
      std::vector<std::string> batch_keys;
      for (int j = i; j < i + 5 && j < n; ++j) {
        const std::string key = j % 3 == 0 ? "" : "k" + std::to_string(j % keys);
        batch.push_back(Draft(
            "{\"n\":" + std::to_string(j) + ",\"pad\":\"" + std::string(200, 'x') + "\"}", key));
        batch_keys.push_back(key);
      }
      auto acks = AppendNow(*engine_, stream_, std::move(batch));
      for (size_t k = 0; k < acks.size(); ++k) {
        written_.push_back({acks[k].event_id, acks[k].offset, batch_keys[k]});
      }
    }
  }
  // The offsets present; each event, read as consumers read it, still names
  // its stream and offset (a rewritten segment keeps the stored form).
  std::set<uint64_t> Offsets() {
    std::set<uint64_t> out;
    const Uuid& id = stream_->manifest.stream_id;
    Status s = stream_->log->ReadEvents(0, id, [&](const RecordView& r, std::string_view event) {
      out.insert(r.offset);
      const std::string names =
          "\"stream_id\":\"" + id.ToString() + "\",\"offset\":" + std::to_string(r.offset) + ",";
      EXPECT_NE(event.find(names), std::string_view::npos) << event;
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }
  bool Indexed(const Uuid& id) {
    auto loc = engine_->Lookup("org", id);
    EXPECT_TRUE(loc.ok());
    return loc.ok() && loc->has_value();
  }

  TempDir tmp_;
  EngineOptions eo_;
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<Stream> stream_;
  std::vector<Written> written_;
};

TEST_F(CleanupTest, CompactionKeepsTheNewestEventPerKeyAndEveryKeylessOne) {
  Write(600, 7);
  const uint64_t active_base = stream_->log->segments()->back()->base_offset();
  ASSERT_GT(stream_->log->segments()->size(), 3u);
  CleanupPolicy policy;
  policy.compact = true;
  CleanupReport report;
  ASSERT_TRUE(engine_->CleanUp(stream_, policy, timestamp::NowMs(), &report).ok());
  EXPECT_GT(report.events_removed, 0u);
  EXPECT_LT(report.bytes_after, report.bytes_before);

  std::map<std::string, uint64_t> newest;
  for (const auto& w : written_) {
    if (!w.key.empty()) newest[w.key] = w.offset;
  }
  auto check = [&] {
    const std::set<uint64_t> present = Offsets();
    uint64_t removed = 0;
    for (const auto& w : written_) {
      const bool keep = w.key.empty() || newest[w.key] == w.offset || w.offset >= active_base;
      EXPECT_EQ(present.count(w.offset), keep ? 1u : 0u) << "offset " << w.offset;
      EXPECT_EQ(Indexed(w.id), keep) << "offset " << w.offset;
      removed += keep ? 0 : 1;
    }
    EXPECT_EQ(removed, report.events_removed);
  };
  check();
  // Offsets continue; nothing is reused.
  auto more = AppendNow(*engine_, stream_, {Draft("{}")});
  EXPECT_EQ(more[0].offset, 600u);
  written_.push_back({more[0].event_id, 600, ""});
  Restart();
  check();
  // A second run finds nothing more to drop.
  CleanupReport again;
  ASSERT_TRUE(engine_->CleanUp(stream_, policy, timestamp::NowMs(), &again).ok());
  EXPECT_EQ(again.events_removed, 0u);
}

// Under --fsync never no mark covers the newest sealed segments, so a
// restart scans them and checks each reaches the next one's base. A
// compacted segment ends short of it by design: its last record says where
// it ended before (record::kSegmentEnd). Without that, the restart took the
// removed events for lost ones and deleted every later segment.
class CleanupNeverTest : public CleanupTest {
 protected:
  void SetUp() override {
    eo_.fsync.mode = FsyncPolicy::Mode::kNever;
    CleanupTest::SetUp();
  }
};

TEST_F(CleanupNeverTest, ACompactedSegmentEndingShortIsNotALossAtTheNextStart) {
  // Keyed events last in every batch, so compaction drops segment ends.
  for (int i = 0; i < 400; i += 4) {
    std::vector<EventDraft> batch;
    for (int j = 0; j < 4; ++j)
      batch.push_back(Draft("{\"pad\":\"" + std::string(200, 'x') + "\"}", j == 3 ? "k" : ""));
    auto acks = AppendNow(*engine_, stream_, std::move(batch));
    for (size_t k = 0; k < acks.size(); ++k)
      written_.push_back({acks[k].event_id, acks[k].offset, k == 3 ? "k" : ""});
  }
  ASSERT_GT(stream_->log->segments()->size(), 5u);
  CleanupPolicy policy;
  policy.compact = true;
  CleanupReport report;
  ASSERT_TRUE(engine_->CleanUp(stream_, policy, timestamp::NowMs(), &report).ok());
  ASSERT_GT(report.segments_rewritten, 0u);
  const std::set<uint64_t> before = Offsets();
  Restart();
  EXPECT_EQ(Offsets(), before) << "the restart dropped events compaction had kept";
  EXPECT_EQ(stream_->recovery.dropped.count, 0u);
}

TEST_F(CleanupTest, RetentionByBytesDropsWholeOldSegmentsOnly) {
  Write(400, 1000);
  const uint64_t before = stream_->log->bytes();
  CleanupPolicy policy;
  policy.max_bytes = before / 2;
  CleanupReport report;
  ASSERT_TRUE(engine_->CleanUp(stream_, policy, timestamp::NowMs(), &report).ok());
  EXPECT_GT(report.segments_deleted, 0u);
  EXPECT_LE(stream_->log->bytes(), before / 2);
  const uint64_t first = stream_->log->first_offset();
  EXPECT_GT(first, 0u);
  // Everything from the first retained offset on is there, nothing before.
  const std::set<uint64_t> present = Offsets();
  for (const auto& w : written_) {
    EXPECT_EQ(present.count(w.offset), w.offset >= first ? 1u : 0u);
    EXPECT_EQ(Indexed(w.id), w.offset >= first);
  }
  // A read from offset 0 starts at the first retained event.
  EXPECT_EQ(ReadAll(*stream_->log, 0).front().offset, first);
  Restart();
  EXPECT_EQ(stream_->log->first_offset(), first);
}

TEST_F(CleanupTest, RetentionByBytesCountsSegmentsNotReadSinceOpen) {
  Write(400, 1000);
  const uint64_t before = stream_->log->bytes();
  Restart();  // sealed segments are scanned lazily after a restart
  EXPECT_EQ(stream_->log->bytes(), before);
  CleanupPolicy policy;
  policy.max_bytes = before / 2;
  CleanupReport report;
  ASSERT_TRUE(engine_->CleanUp(stream_, policy, timestamp::NowMs(), &report).ok());
  EXPECT_GT(report.segments_deleted, 0u);
  EXPECT_EQ(report.bytes_before, before);
  EXPECT_LE(report.bytes_after, before / 2);
}

TEST_F(CleanupTest, RetentionByAgeKeepsTheActiveSegment) {
  Write(200, 1000);
  CleanupPolicy policy;
  policy.max_age_ms = 60'000;
  CleanupReport report;
  // Nothing is a minute old yet.
  ASSERT_TRUE(engine_->CleanUp(stream_, policy, timestamp::NowMs(), &report).ok());
  EXPECT_EQ(report.segments_deleted, 0u);
  // An hour later every sealed segment is too old; the active one stays.
  ASSERT_TRUE(engine_->CleanUp(stream_, policy, timestamp::NowMs() + 3'600'000, &report).ok());
  EXPECT_GT(report.segments_deleted, 0u);
  EXPECT_EQ(stream_->log->segments()->size(), 1u);
  EXPECT_EQ(Offsets().size(), written_.size() - report.events_removed);
}

TEST_F(CleanupTest, ALeftoverCompactingFileIsIgnoredAndRemovedAtOpen) {
  Write(200, 3);
  const auto seg = stream_->log->segments()->front();
  const std::string stray =
      stream_->log->dir() + "/" +
      segment_name::MakeWithSuffix(seg->base_offset(), segment_name::kCompactingSuffix);
  std::filesystem::copy_file(seg->path(), stray);
  const auto offsets = Offsets();
  Restart();
  EXPECT_FALSE(std::filesystem::exists(stray));
  EXPECT_EQ(Offsets(), offsets);
}

}  // namespace
}  // namespace eventflow
