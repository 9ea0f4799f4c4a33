// Tail recovery: a log cut at any byte of its last record reopens with
// exactly the records before it; damage followed by valid records is
// reported as corruption, never truncated away.
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "engine/segment_scan.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::AppendSync;
using testing::Draft;
using testing::LogFixture;
using testing::ReadAll;
using testing::ReadFile;
using testing::TempDir;
namespace fs = std::filesystem;

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Writes `n` single-event appends and returns the segment bytes up to the
// end of the data (without the preallocated zeros).
std::string MakeLog(LogFixture& f, int n) {
  for (int i = 0; i < n; ++i) {
    auto out = AppendSync(*f.writer, {Draft("{\"i\":" + std::to_string(i) + "}")});
    EXPECT_TRUE(out.status.ok());
  }
  const uint64_t end = f.log->segments()->back()->committed_bytes();
  f.Close();
  return ReadFile(testing::SegmentFiles(f.dir).back()).substr(0, end);
}

TEST(Recovery, TruncatedAtEveryByteOfTheLastRecordKeepsThePrefix) {
  TempDir tmp;
  LogFixture f(tmp.path());
  const std::string full = MakeLog(f, 5);
  const std::string seg = testing::SegmentFiles(f.dir).back();
  record::Header h;
  // Find where the last record starts.
  uint64_t last_start = 0;
  ScanSegment(full.data(), full.size(), {}, [&](const ScannedRecord& r) { last_start = r.pos; });
  (void)h;
  for (size_t cut = last_start; cut < full.size(); ++cut) {
    WriteFile(seg, full.substr(0, cut));
    ASSERT_TRUE(f.Reopen().ok()) << "cut at " << cut;
    const auto records = ReadAll(*f.log);
    ASSERT_EQ(records.size(), 4u) << "cut at " << cut;
    EXPECT_EQ(records.back().offset, 3u);
    EXPECT_EQ(f.log->next_offset(), 4u);
    EXPECT_EQ(f.recovery.truncated_bytes > 0, cut > last_start) << "cut at " << cut;
    f.Close();
  }
  // The whole record back: all five.
  WriteFile(seg, full);
  ASSERT_TRUE(f.Reopen().ok());
  EXPECT_EQ(ReadAll(*f.log).size(), 5u);
}

TEST(Recovery, GarbageTailIsTruncatedAndAppendsContinue) {
  TempDir tmp;
  LogFixture f(tmp.path());
  std::string full = MakeLog(f, 3);
  const std::string seg = testing::SegmentFiles(f.dir).back();
  WriteFile(seg, full + std::string("\x13\x37garbage-after-the-end", 23));
  ASSERT_TRUE(f.Reopen().ok());
  EXPECT_EQ(ReadAll(*f.log).size(), 3u);
  EXPECT_GT(f.recovery.truncated_bytes, 0u);
  auto out = AppendSync(*f.writer, {Draft("{\"after\":true}")});
  ASSERT_TRUE(out.status.ok());
  EXPECT_EQ(out.acks[0].offset, 3u);
  f.Close();
  ASSERT_TRUE(f.Reopen().ok());
  EXPECT_EQ(ReadAll(*f.log).size(), 4u);
}

TEST(Recovery, CorruptedRecordInTheMiddleIsCorruptionNotATornTail) {
  TempDir tmp;
  LogFixture f(tmp.path());
  std::string full = MakeLog(f, 5);
  const std::string seg = testing::SegmentFiles(f.dir).back();
  std::vector<uint64_t> starts;
  ScanSegment(full.data(), full.size(), {},
              [&](const ScannedRecord& r) { starts.push_back(r.pos); });
  ASSERT_EQ(starts.size(), 5u);
  full[starts[2] + record::kHeaderSize + 3] ^= 0x20;  // a payload byte of record 2
  WriteFile(seg, full);
  const uint64_t size_before = fs::file_size(seg);
  Status s = f.Reopen();
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("byte " + std::to_string(starts[2])), std::string::npos)
      << s.message();
  EXPECT_EQ(fs::file_size(seg), size_before) << "corruption must not be truncated away";
}

TEST(Recovery, UnfinishedBatchIsDroppedWhole) {
  TempDir tmp;
  LogFixture f(tmp.path());
  ASSERT_TRUE(AppendSync(*f.writer, {Draft("{\"single\":1}")}).status.ok());
  ASSERT_TRUE(AppendSync(*f.writer, {Draft("{\"b\":1}"), Draft("{\"b\":2}"), Draft("{\"b\":3}")})
                  .status.ok());
  const uint64_t end = f.log->segments()->back()->committed_bytes();
  f.Close();
  const std::string seg = testing::SegmentFiles(f.dir).back();
  const std::string full = ReadFile(seg).substr(0, end);
  std::vector<uint64_t> starts;
  ScanSegment(full.data(), full.size(), {},
              [&](const ScannedRecord& r) { starts.push_back(r.pos); });
  ASSERT_EQ(starts.size(), 4u);
  // Cut after the batch's second record: its first two records are intact
  // but the batch never ended.
  WriteFile(seg, full.substr(0, starts[3]));
  ASSERT_TRUE(f.Reopen().ok());
  const auto records = ReadAll(*f.log);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(f.log->next_offset(), 1u);
}

TEST(Recovery, ZeroedHoleBeforeValidRecordsIsCorruption) {
  TempDir tmp;
  LogFixture f(tmp.path());
  std::string full = MakeLog(f, 4);
  std::vector<uint64_t> starts;
  ScanSegment(full.data(), full.size(), {},
              [&](const ScannedRecord& r) { starts.push_back(r.pos); });
  std::fill(full.begin() + static_cast<long>(starts[1]),
            full.begin() + static_cast<long>(starts[2]), '\0');
  WriteFile(testing::SegmentFiles(f.dir).back(), full);
  EXPECT_TRUE(f.Reopen().IsCorruption());
}

// Rule 8.9: pages of one write reach the disk in any order, so a power loss
// before a round's flush can leave a hole of zeros inside its batch with
// later pages of the batch intact. Under --fsync always nothing past the
// last completed flush was acknowledged: the batch is torn, not corrupt.
// (At ae72254 this stream was not served: "zeroed bytes inside the log".)
TEST(Recovery, HoleInTheLastBatchIsATornTailNotCorruption) {
  TempDir tmp;
  LogFixture f(tmp.path());
  ASSERT_TRUE(AppendSync(*f.writer, {Draft("{\"first\":1}")}).status.ok());
  std::vector<EventDraft> batch;
  for (int i = 0; i < 1000; ++i) {
    batch.push_back(
        Draft("{\"i\":" + std::to_string(i) + ",\"pad\":\"" + std::string(40, 'p') + "\"}"));
  }
  ASSERT_TRUE(AppendSync(*f.writer, std::move(batch)).status.ok());
  const uint64_t end = f.log->segments()->back()->committed_bytes();
  f.Close();
  const std::string seg = testing::SegmentFiles(f.dir).back();
  std::string bytes = ReadFile(seg);
  std::vector<ScannedRecord> records;
  ScanSegment(bytes.data(), end, {}, [&](const ScannedRecord& r) { records.push_back(r); });
  ASSERT_EQ(records.size(), 1001u);
  // Each batch's first record carries the durable frontier: the batch after
  // an acknowledged one says everything before it was synced.
  EXPECT_EQ(records[1].header.synced_before(), 1u);
  EXPECT_EQ(records[2].header.synced_before(), std::nullopt);
  // A 4 KiB page in the middle of the batch never reached the disk.
  const uint64_t hole = (records[500].pos + 4095) & ~uint64_t{4095};
  ASSERT_LT(hole + 4096, end);
  std::fill(bytes.begin() + static_cast<long>(hole), bytes.begin() + static_cast<long>(hole + 4096),
            '\0');
  WriteFile(seg, bytes);
  ASSERT_TRUE(f.Reopen().ok());
  // The batch is gone whole; the event before it stays; appends go on.
  const auto kept = ReadAll(*f.log);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].offset, 0u);
  EXPECT_GT(f.recovery.truncated_bytes, 0u);
  EXPECT_GT(f.recovery.dropped.count, 400u);  // the batch's records after the hole
  EXPECT_EQ(f.recovery.dropped.last_offset, 1000u);
  EXPECT_EQ(fs::file_size(seg), records[1].pos);
  ASSERT_TRUE(AppendSync(*f.writer, {Draft("{\"after\":1}")}).status.ok());
}

// The same hole, but a later batch was acknowledged after the torn one's
// flush: its mark says the bytes were durable, so they were damaged later.
TEST(Recovery, HoleBelowTheSyncedMarkIsCorruption) {
  TempDir tmp;
  LogFixture f(tmp.path());
  ASSERT_TRUE(AppendSync(*f.writer, {Draft("{\"first\":1}")}).status.ok());
  std::vector<EventDraft> batch;
  for (int i = 0; i < 200; ++i)
    batch.push_back(Draft("{\"pad\":\"" + std::string(40, 'p') + "\"}"));
  ASSERT_TRUE(AppendSync(*f.writer, std::move(batch)).status.ok());
  ASSERT_TRUE(AppendSync(*f.writer, {Draft("{\"last\":1}")}).status.ok());
  const uint64_t end = f.log->segments()->back()->committed_bytes();
  f.Close();
  const std::string seg = testing::SegmentFiles(f.dir).back();
  std::string bytes = ReadFile(seg).substr(0, end);
  std::vector<ScannedRecord> records;
  ScanSegment(bytes.data(), end, {}, [&](const ScannedRecord& r) { records.push_back(r); });
  ASSERT_EQ(records.size(), 202u);
  EXPECT_EQ(records[201].header.synced_before(), 201u);
  std::fill(bytes.begin() + static_cast<long>(records[100].pos),
            bytes.begin() + static_cast<long>(records[101].pos), '\0');
  WriteFile(seg, bytes);
  const Status s = f.Reopen();
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_EQ(fs::file_size(seg), end) << "corruption must not be truncated away";
}

// Appends single events until the log has `segments` files; returns how
// many events it took.
int FillSegments(LogFixture& f, size_t segments) {
  int n = 0;
  while (testing::SegmentFiles(f.dir).size() < segments) {
    auto out = AppendSync(*f.writer, {Draft("{\"i\":" + std::to_string(n++) + "}")});
    EXPECT_TRUE(out.status.ok()) << out.status.ToString();
    if (!out.status.ok()) break;
  }
  return n;
}

// What a crash leaves when a roll's cut of the sealed segment never reached
// the disk: the file keeps its preallocated zeros after the records.
void ExtendWithZeros(const std::string& path, uint64_t bytes) {
  fs::resize_file(path, fs::file_size(path) + bytes);
}

TEST(Recovery, ZeroTailOfARecentlySealedSegmentIsCutAtOpen) {
  TempDir tmp;
  LogFixture f(tmp.path(), 4096, FileOps::Posix(), *FsyncPolicy::Parse("never"));
  const int n = FillSegments(f, 3);
  f.Close();
  const std::string sealed = testing::SegmentFiles(f.dir)[1];  // the newest sealed one
  const uint64_t size = fs::file_size(sealed);
  ExtendWithZeros(sealed, 12288);
  ASSERT_TRUE(f.Reopen().ok());
  EXPECT_EQ(fs::file_size(sealed), size);
  // Every record is readable, nothing was set aside, and appends go on.
  EXPECT_EQ(ReadAll(*f.log).size(), static_cast<size_t>(n));
  EXPECT_EQ(testing::SegmentFiles(f.dir).size(), 3u);
  EXPECT_FALSE(fs::exists(sealed + ".quarantined"));
  auto out = AppendSync(*f.writer, {Draft("{\"after\":1}")});
  ASSERT_TRUE(out.status.ok());
  EXPECT_EQ(out.acks[0].offset, static_cast<uint64_t>(n));
}

// Under fsync never/interval a roll seals without waiting for the sync.
// If the sealed segment then loses records (its last page never written)
// the next segment's batches come after a hole: none of them was covered
// by a completed sync, so they go too and the log stays a prefix of whole
// batches (rule 8.9).
// Holds every Sync while held (the seal sync of a roll, under never).
class SyncHold final : public testing::ForwardingFileOps {
 public:
  void Hold() {
    std::lock_guard lock(mu_);
    hold_ = true;
  }
  void Release() {
    std::lock_guard lock(mu_);
    hold_ = false;
    cv_.notify_all();
  }
  bool Waiting() {
    std::lock_guard lock(mu_);
    return waiting_ > 0;
  }
  Status Sync(int fd, const std::string& path) override {
    {
      std::unique_lock lock(mu_);
      ++waiting_;
      cv_.wait(lock, [&] { return !hold_; });
      --waiting_;
    }
    return base_->Sync(fd, path);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  int waiting_ = 0;
};

TEST(Recovery, RecordsLostFromAnUnsyncedSealedSegmentDropTheSegmentsAfterIt) {
  TempDir tmp;
  SyncHold hold;
  LogFixture f(tmp.path(), 4096, &hold, *FsyncPolicy::Parse("never"));
  FillSegments(f, 3);
  // The next roll's seal sync does not finish before the new segment takes
  // a record: that record's mark cannot cover the sealed segment.
  hold.Hold();
  FillSegments(f, 4);
  ASSERT_TRUE(testing::Eventually([&] { return hold.Waiting(); }));
  ASSERT_TRUE(AppendSync(*f.writer, {Draft("{\"late\":1}")}).status.ok());
  hold.Release();
  f.Close();
  auto files = testing::SegmentFiles(f.dir);
  ASSERT_EQ(files.size(), 4u);
  // The newest sealed segment loses its last record: a power loss left
  // zeros where it was, and the cut to its length was not durable either.
  std::string sealed = ReadFile(files[2]);
  std::vector<ScannedRecord> records;
  ScanSegment(sealed.data(), sealed.size(), {},
              [&](const ScannedRecord& r) { records.push_back(r); });
  ASSERT_GE(records.size(), 2u);
  const uint64_t lost = records.back().header.offset;
  WriteFile(files[2], sealed.substr(0, records.back().pos) + std::string(8192, '\0'));
  ASSERT_TRUE(f.Reopen().ok());
  EXPECT_EQ(testing::SegmentFiles(f.dir).size(), 3u);  // the last one is gone
  const auto kept = ReadAll(*f.log);
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(kept.back().offset, lost - 1);
  EXPECT_EQ(f.log->next_offset(), lost);
  EXPECT_GE(f.recovery.dropped.count, 1u);  // what the removed segment held
  EXPECT_GT(f.recovery.dropped.first_offset, lost);
  for (size_t i = 0; i < kept.size(); ++i) EXPECT_EQ(kept[i].offset, i);  // no hole
  ASSERT_TRUE(AppendSync(*f.writer, {Draft("{\"after\":1}")}).status.ok());
}

TEST(Recovery, ZeroTailOfAnOlderSealedSegmentIsStillDamage) {
  // Only the newest kMaxUnsyncedSealed sealed segments can be waiting for
  // their sync; zeros at the end of an older one mean lost bytes.
  TempDir tmp;
  LogFixture f(tmp.path(), 4096, FileOps::Posix(), *FsyncPolicy::Parse("never"));
  FillSegments(f, StreamLog::kMaxUnsyncedSealed + 3);
  f.Close();
  const std::string oldest = testing::SegmentFiles(f.dir)[0];
  const uint64_t size = fs::file_size(oldest);
  ExtendWithZeros(oldest, 12288);
  ASSERT_TRUE(f.Reopen().ok());
  EXPECT_EQ(fs::file_size(oldest), size + 12288);  // left as found
  Status read = f.log->Read(0, [](const RecordView&) { return true; });
  EXPECT_TRUE(read.IsCorruption()) << read.ToString();
}

}  // namespace
}  // namespace eventflow
