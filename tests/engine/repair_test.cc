// Repair of a closed data dir: torn tails, a corrupt sealed segment, a
// corrupt active segment, a segment the server quarantined live, and a
// repair that is run twice.
#include "engine/repair.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <set>

#include "engine/segment_scan.h"
#include "formats/segment_name.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

namespace fs = std::filesystem;
using testing::Draft;
using testing::ReadAll;
using testing::ReadFile;
using testing::TempDir;

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

class RepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    eo_.data_dir = tmp_.path();
    eo_.segment_bytes = 16 << 10;
    auto engine = Engine::Open(eo_);
    ASSERT_TRUE(engine.ok());
    auto s = (*engine)->CreateStream("org", "s", "{}");
    ASSERT_TRUE(s.ok());
    stream_id_ = (*s)->manifest.stream_id;
    dir_ = (*s)->log->dir();
    for (int i = 0; i < 300; i += 3) {
      std::vector<EventDraft> batch;
      for (int j = i; j < i + 3; ++j) {
        batch.push_back(
            Draft("{\"n\":" + std::to_string(j) + ",\"pad\":\"" + std::string(150, 'y') + "\"}"));
      }
      std::promise<void> done;
      (*engine)->Append(*s, std::move(batch), [&](Status st, std::vector<EventAck> acks) {
        EXPECT_TRUE(st.ok());
        for (const auto& a : acks) ids_[a.offset] = a.event_id;
        done.set_value();
      });
      done.get_future().wait();
    }
  }

  std::vector<std::string> Segments() { return testing::SegmentFiles(dir_); }

  // Flips a byte inside the payload of the record with offset `offset`.
  void FlipPayloadByteOf(const std::string& file, uint64_t offset) {
    std::string bytes = ReadFile(file);
    std::optional<uint64_t> at;
    ScanOptions so;
    so.classify_tail = false;
    ScanSegment(bytes.data(), bytes.size(), so, [&](const ScannedRecord& r) {
      if (r.header.offset == offset) at = r.pos + record::kHeaderSize + 20;
    });
    ASSERT_TRUE(at.has_value()) << "offset " << offset << " not in " << file;
    bytes[*at] ^= 0x5a;
    WriteFile(file, bytes);
  }

  // Opens the engine; returns the offsets the stream serves (and checks the
  // index agrees), or nullopt if the stream is not served.
  std::optional<std::set<uint64_t>> Served() {
    auto engine = Engine::Open(eo_);
    EXPECT_TRUE(engine.ok());
    auto s = (*engine)->FindStream(stream_id_);
    if (s == nullptr || !s->serving()) return std::nullopt;
    std::set<uint64_t> out;
    for (const auto& r : ReadAll(*s->log)) out.insert(r.offset);
    for (const auto& [offset, id] : ids_) {
      auto loc = (*engine)->Lookup("org", id);
      EXPECT_EQ(loc.ok() && loc->has_value(), out.count(offset) == 1) << offset;
    }
    return out;
  }

  std::set<uint64_t> AllBut(std::set<uint64_t> missing) {
    std::set<uint64_t> out;
    for (const auto& [offset, id] : ids_) {
      if (!missing.count(offset)) out.insert(offset);
    }
    return out;
  }

  TempDir tmp_;
  EngineOptions eo_;
  Uuid stream_id_;
  std::string dir_;
  std::map<uint64_t, Uuid> ids_;
};

TEST_F(RepairTest, CleanDataDirNeedsNothing) {
  auto report = RepairDataDir(eo_);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->usable());
  EXPECT_TRUE(report->actions.empty());
  EXPECT_EQ(Served(), AllBut({}));
}

TEST_F(RepairTest, CorruptSealedSegmentKeepsEveryWholeBatchWithItsOffsets) {
  const auto files = Segments();
  ASSERT_GE(files.size(), 3u);
  // A record in the middle of the second segment, inside a batch of three
  // (batches start at multiples of 3 and never span segments).
  const uint64_t base = *segment_name::Parse(fs::path(files[1]).filename().string());
  ASSERT_EQ(base % 3, 0u);
  const uint64_t victim = base + 4;
  FlipPayloadByteOf(files[1], victim);
  auto report = RepairDataDir(eo_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->usable());
  ASSERT_FALSE(report->actions.empty());
  EXPECT_NE(report->actions[0].find("salvaged"), std::string::npos) << report->actions[0];
  EXPECT_TRUE(fs::exists(dir_ + "/" +
                         segment_name::MakeWithSuffix(base, segment_name::kQuarantinedSuffix)));
  // Its batch goes with it (rule 8.9): never part of a batch.
  EXPECT_NE(report->actions[0].find("2 valid record(s) of batches not found whole"),
            std::string::npos)
      << report->actions[0];
  EXPECT_EQ(Served(), AllBut({victim - 1, victim, victim + 1}));
  // Appends continue past the highest offset ever written.
  auto engine = Engine::Open(eo_);
  auto s = (*engine)->FindStream(stream_id_);
  std::promise<uint64_t> next;
  (*engine)->Append(s, {Draft("{}")},
                    [&](Status, std::vector<EventAck> acks) { next.set_value(acks[0].offset); });
  EXPECT_EQ(next.get_future().get(), 300u);
}

TEST_F(RepairTest, CorruptActiveSegmentIsServedAgainAfterRepair) {
  const auto files = Segments();
  const uint64_t base = *segment_name::Parse(fs::path(files.back()).filename().string());
  FlipPayloadByteOf(files.back(), base + 1);
  EXPECT_EQ(Served(), std::nullopt);  // corruption before valid records: not served
  auto report = RepairDataDir(eo_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->usable());
  EXPECT_EQ(Served(), AllBut({base, base + 1, base + 2}));
}

TEST_F(RepairTest, TornTailIsTruncated) {
  const std::string active = Segments().back();
  std::string bytes = ReadFile(active);
  // Garbage after the last record, where zeros were.
  ScanOptions so;
  const ScanResult scan = ScanSegment(bytes.data(), bytes.size(), so);
  ASSERT_FALSE(scan.bad_pos.has_value());
  bytes.replace(scan.valid_end, 13, "not a record!");
  WriteFile(active, bytes);
  auto report = RepairDataDir(eo_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->usable());
  ASSERT_EQ(report->actions.size(), 2u);
  EXPECT_NE(report->actions[0].find("torn tail"), std::string::npos) << report->actions[0];
  EXPECT_EQ(Served(), AllBut({}));
}

TEST_F(RepairTest, SegmentQuarantinedLiveIsSalvagedAndRepairIsIdempotent) {
  const auto files = Segments();
  const uint64_t base = *segment_name::Parse(fs::path(files[0]).filename().string());
  FlipPayloadByteOf(files[0], base + 7);
  {
    // A read through the server's code path quarantines the segment live.
    auto engine = Engine::Open(eo_);
    auto s = (*engine)->FindStream(stream_id_);
    Status st = s->log->Read(0, [](const RecordView&) { return true; });
    EXPECT_TRUE(st.IsCorruption());
  }
  EXPECT_FALSE(fs::exists(files[0]));
  auto report = RepairDataDir(eo_);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->usable());
  EXPECT_TRUE(fs::exists(files[0]));
  // base + 7 and the rest of its batch of three.
  EXPECT_EQ(Served(), AllBut({base + 6, base + 7, base + 8}));
  auto again = RepairDataDir(eo_);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->actions.empty()) << again->actions[0];
  EXPECT_EQ(Served(), AllBut({base + 6, base + 7, base + 8}));
}

TEST_F(RepairTest, RefusesADataDirInUse) {
  auto engine = Engine::Open(eo_);
  ASSERT_TRUE(engine.ok());
  auto report = RepairDataDir(eo_);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), Status::Code::kBusy);
}

}  // namespace
}  // namespace eventflow
