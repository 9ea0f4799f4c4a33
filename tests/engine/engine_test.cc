// Engine: streams survive restarts, the index is caught up past its
// checkpoint, a rebuild from segments gives the same lookups, LOCK is held.
#include <gtest/gtest.h>

#include <filesystem>
#include <future>

#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::AppendNow;
using testing::Draft;
using testing::TempDir;

TEST(Engine, SecondOpenOfTheDataDirIsRefused) {
  TempDir tmp;
  EngineOptions eo;
  eo.data_dir = tmp.path();
  auto first = Engine::Open(eo);
  ASSERT_TRUE(first.ok());
  auto second = Engine::Open(eo);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kBusy);
  EXPECT_NE(second.status().message().find("LOCK"), std::string::npos);
}

TEST(Engine, IndexRebuildGivesTheSameLookups) {
  TempDir tmp;
  EngineOptions eo;
  eo.data_dir = tmp.path();
  eo.segment_bytes = 64 << 10;
  std::map<std::string, std::pair<std::string, uint64_t>> expected;  // id -> (stream, offset)
  {
    auto engine = Engine::Open(eo);
    ASSERT_TRUE(engine.ok());
    for (const char* name : {"a", "b"}) {
      auto s = (*engine)->CreateStream("org", name, "{}");
      ASSERT_TRUE(s.ok());
      for (int i = 0; i < 40; ++i) {
        std::vector<EventDraft> batch;
        for (int k = 0; k < 10; ++k) batch.push_back(Draft("{\"k\":" + std::to_string(k) + "}"));
        for (const auto& a : AppendNow(**engine, *s, std::move(batch))) {
          expected[a.event_id.ToString()] = {(*s)->manifest.stream_id.ToString(), a.offset};
        }
      }
    }
  }
  auto check = [&](Engine& engine) {
    for (const auto& [id, want] : expected) {
      auto loc = engine.Lookup("org", *Uuid::Parse(id));
      ASSERT_TRUE(loc.ok() && loc->has_value()) << id;
      EXPECT_EQ((*loc)->stream_id.ToString(), want.first);
      EXPECT_EQ((*loc)->offset, want.second);
      EXPECT_FALSE(engine.Lookup("other-org", *Uuid::Parse(id))->has_value());
    }
    EXPECT_EQ(*engine.index().CountEvents(), expected.size());
  };
  // Lose the index entirely, rebuild from segments + manifests.
  std::filesystem::remove_all(tmp.path() + "/index");
  auto rebuilt = Engine::RebuildIndex(eo);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  EXPECT_EQ(*rebuilt, expected.size());
  auto engine = Engine::Open(eo);
  ASSERT_TRUE(engine.ok());
  check(**engine);
  // Appends continue after the highest offset.
  auto s = (*engine)->FindStreamByName("org", "a");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(AppendNow(**engine, s, {Draft("{}")})[0].offset, 400u);
}

TEST(Engine, OpenReindexesEventsPastTheCheckpoint) {
  TempDir tmp;
  EngineOptions eo;
  eo.data_dir = tmp.path();
  std::vector<EventAck> acks;
  Uuid stream_id;
  {
    auto engine = Engine::Open(eo);
    auto s = (*engine)->CreateStream("org", "s", "{}");
    stream_id = (*s)->manifest.stream_id;
    acks = AppendNow(**engine, *s, {Draft("{}"), Draft("{}"), Draft("{}")});
  }
  // The index lags behind the log, as after a crash before its memtable
  // reached disk: only the first event and a checkpoint at offset 0.
  {
    auto index = Index::Open(tmp.path() + "/index", {});
    ASSERT_TRUE(index.ok());
    ASSERT_TRUE((*index)->DeleteStreamEvents("org", stream_id).ok());
    ASSERT_TRUE(
        (*index)
            ->PutEvents("org", stream_id,
                        {IndexedEvent{acks[0].event_id, {stream_id, 0, acks[0].created_at_ms}}}, 0)
            .ok());
    ASSERT_FALSE((*index)->GetEvent("org", acks[2].event_id)->has_value());
  }
  auto engine = Engine::Open(eo);
  ASSERT_TRUE(engine.ok());
  for (const auto& a : acks) {
    auto loc = (*engine)->Lookup("org", a.event_id);
    ASSERT_TRUE(loc.ok() && loc->has_value());
    EXPECT_EQ((*loc)->offset, a.offset);
  }
}

TEST(Engine, IndexEntriesPastTheLogAreDroppedAndOffsetsNotReused) {
  TempDir tmp;
  EngineOptions eo;
  eo.data_dir = tmp.path();
  Uuid stream_id;
  std::vector<EventAck> acks;
  {
    auto engine = Engine::Open(eo);
    auto s = (*engine)->CreateStream("org", "s", "{}");
    stream_id = (*s)->manifest.stream_id;
    acks = AppendNow(**engine, *s, {Draft("{}")});
    auto more = AppendNow(**engine, *s, {Draft("{}"), Draft("{}")});
    acks.insert(acks.end(), more.begin(), more.end());
  }
  // As if a power loss took the last batch from the log but not the index:
  // empty the segment file.
  const std::string seg =
      testing::SegmentFiles(tmp.path() + "/streams/" + stream_id.ToString()).front();
  std::filesystem::resize_file(seg, 0);
  auto engine = Engine::Open(eo);
  ASSERT_TRUE(engine.ok());
  auto s = (*engine)->FindStream(stream_id);
  ASSERT_TRUE(s->serving());
  for (const auto& a : acks) {
    EXPECT_FALSE((*engine)->Lookup("org", a.event_id)->has_value())
        << "the index still answers for an event the log lost";
  }
  // A resent id is stored again, at a new offset past everything seen.
  EventDraft resent;
  resent.event_id = acks[2].event_id;
  resent.members = ",\"payload\":{}";
  auto again = AppendNow(**engine, s, {resent});
  EXPECT_FALSE(again[0].duplicate);
  EXPECT_EQ(again[0].offset, 3u);
}

TEST(Engine, CorruptStreamIsNotServedOthersAre) {
  TempDir tmp;
  EngineOptions eo;
  eo.data_dir = tmp.path();
  std::string bad_dir;
  {
    auto engine = Engine::Open(eo);
    auto bad = (*engine)->CreateStream("org", "bad", "{}");
    auto good = (*engine)->CreateStream("org", "good", "{}");
    for (int i = 0; i < 5; ++i) {
      AppendNow(**engine, *bad, {Draft("{\"i\":" + std::to_string(i) + "}")});
      AppendNow(**engine, *good, {Draft("{}")});
    }
    bad_dir = (*bad)->log->dir();
  }
  // Flip a payload byte of the second record of "bad".
  const std::string seg = testing::SegmentFiles(bad_dir).front();
  FILE* f = std::fopen(seg.c_str(), "r+b");
  ASSERT_NE(f, nullptr);
  std::fseek(f, static_cast<long>(record::EncodedSize(0)) + 200, SEEK_SET);
  const int c = std::fgetc(f);
  std::fseek(f, -1, SEEK_CUR);
  std::fputc(c ^ 0x01, f);
  std::fclose(f);
  auto engine = Engine::Open(eo);
  ASSERT_TRUE(engine.ok());
  auto bad = (*engine)->FindStreamByName("org", "bad");
  auto good = (*engine)->FindStreamByName("org", "good");
  ASSERT_NE(bad, nullptr);
  ASSERT_NE(good, nullptr);
  EXPECT_FALSE(bad->serving());
  EXPECT_TRUE(bad->open_status.IsCorruption());
  EXPECT_TRUE(good->serving());
  EXPECT_EQ(AppendNow(**engine, good, {Draft("{}")})[0].offset, 5u);
}

}  // namespace
}  // namespace eventflow

namespace eventflow {
namespace {

// Stream directories under `data_dir` (with `manifest`: those holding one).
size_t StreamDirCount(const std::string& data_dir, bool manifest = false) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(data_dir + "/streams")) {
    n += e.is_directory() && (!manifest || std::filesystem::exists(e.path() / "MANIFEST.json"));
  }
  return n;
}

TEST(StreamLifecycle, CreateThatFailedWith503LeftAGhostStream) {
  TempDir tmp;
  FaultInjectingFileOps faults(FileOps::Posix());
  EngineOptions eo;
  eo.data_dir = tmp.path();
  eo.fops = &faults;
  {
    auto engine = Engine::Open(eo);
    ASSERT_TRUE(engine.ok());
    // Every step of a create can fail: the first segment's file, the
    // manifest's sync, the directory syncs after it.
    for (FileOp op : {FileOp::kOpen, FileOp::kSync, FileOp::kRename, FileOp::kSyncDir}) {
      for (int skip = 0; skip < 3; ++skip) {
        faults.Arm(op, ENOSPC, skip);
        auto made = (*engine)->CreateStream("org", "orders", "{}");
        faults.Clear();
        if (made.ok()) {
          ASSERT_TRUE((*engine)->DeleteStream((*made)->manifest.stream_id).ok());
          continue;
        }
        EXPECT_EQ(made.status().code(), Status::Code::kNoSpace) << FileOpName(op) << " " << skip;
        // The fault still holds while the create cleans up, so a directory
        // may stay, but never with a manifest (the next start removes it).
        EXPECT_EQ(StreamDirCount(tmp.path(), /*manifest=*/true), 0u)
            << FileOpName(op) << " " << skip;
        EXPECT_EQ((*engine)->ListStreams().size(), 0u);
      }
    }
    // The retry that succeeds is the one stream of that name.
    ASSERT_TRUE((*engine)->CreateStream("org", "orders", "{}").ok());
  }
  auto engine = Engine::Open(eo);
  ASSERT_TRUE(engine.ok());
  ASSERT_EQ((*engine)->ListStreams().size(), 1u);
  EXPECT_EQ((*engine)->ListStreams()[0]->manifest.name, "orders");
  EXPECT_EQ(StreamDirCount(tmp.path()), 1u);
}

TEST(StreamLifecycle, DirectoryWithoutAManifestIsRemovedAtOpen) {
  TempDir tmp;
  EngineOptions eo;
  eo.data_dir = tmp.path();
  std::string dir;
  {
    auto engine = Engine::Open(eo);
    ASSERT_TRUE(engine.ok());
    auto s = (*engine)->CreateStream("org", "orders", "{}");
    ASSERT_TRUE(s.ok());
    AppendNow(**engine, *s, {Draft("{}")});
    dir = tmp.path() + "/streams/" + (*s)->manifest.stream_id.ToString();
  }
  // What a create cut before its manifest, or a delete after its first
  // step, leaves behind.
  ASSERT_TRUE(std::filesystem::remove(dir + "/MANIFEST.json"));
  auto engine = Engine::Open(eo);
  ASSERT_TRUE(engine.ok());
  EXPECT_TRUE((*engine)->ListStreams().empty());
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(StreamLifecycle, DeleteCutMidwayStaysDeletedAtTheNextOpen) {
  TempDir tmp;
  FaultInjectingFileOps faults(FileOps::Posix());
  EngineOptions eo;
  eo.data_dir = tmp.path();
  eo.fops = &faults;
  Uuid id, event;
  {
    auto engine = Engine::Open(eo);
    ASSERT_TRUE(engine.ok());
    auto s = (*engine)->CreateStream("org", "orders", "{}");
    ASSERT_TRUE(s.ok());
    id = (*s)->manifest.stream_id;
    event = AppendNow(**engine, *s, {Draft("{}")})[0].event_id;
    // The manifest's removal is synced before anything else goes; here
    // that sync fails, as a power loss would cut the delete there.
    faults.Arm(FileOp::kSyncDir, EIO);
    EXPECT_FALSE((*engine)->DeleteStream(id).ok());
    faults.Clear();
    EXPECT_EQ((*engine)->FindStream(id), nullptr);
  }
  auto engine = Engine::Open(eo);
  ASSERT_TRUE(engine.ok());
  EXPECT_EQ((*engine)->FindStream(id), nullptr);
  EXPECT_TRUE((*engine)->ListStreams().empty());
  EXPECT_EQ(StreamDirCount(tmp.path()), 0u);
  auto loc = (*engine)->Lookup("org", event);
  ASSERT_TRUE(loc.ok());
  EXPECT_FALSE(loc->has_value()) << "the deleted stream's event ids are gone too";
  EXPECT_TRUE((*engine)->index().ScanState(Engine::kDeletingPrefix)->empty());
  // The name can be used again.
  EXPECT_TRUE((*engine)->CreateStream("org", "orders", "{}").ok());
}

TEST(StreamLifecycle, DeleteSyncsTheManifestsRemovalBeforeTheRest) {
  TempDir tmp;
  FaultInjectingFileOps faults(FileOps::Posix());
  EngineOptions eo;
  eo.data_dir = tmp.path();
  eo.fops = &faults;
  auto engine = Engine::Open(eo);
  ASSERT_TRUE(engine.ok());
  auto s = (*engine)->CreateStream("org", "orders", "{}");
  ASSERT_TRUE(s.ok());
  const std::string dir = tmp.path() + "/streams/" + (*s)->manifest.stream_id.ToString();
  faults.Arm(FileOp::kSyncDir, EIO);
  EXPECT_FALSE((*engine)->DeleteStream((*s)->manifest.stream_id).ok());
  // The first directory sync is the stream directory's, right after the
  // manifest went: the segment files are still there.
  EXPECT_FALSE(std::filesystem::exists(dir + "/MANIFEST.json"));
  EXPECT_TRUE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace eventflow
