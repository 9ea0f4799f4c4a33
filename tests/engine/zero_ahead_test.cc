// Zero-ahead (Segment::EnableZeroAhead): small appends find the space ahead
// of them already written as zeros, large ones get plain preallocation, the
// zeros never land on records, and seals cut them off.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "formats/segment_name.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::AppendSync;
using testing::Draft;
using testing::LogFixture;
using testing::ReadAll;
using testing::TempDir;

// Forwards to the POSIX file operations and keeps the order of writes: a
// record write when it starts, a write of zeros once it is done.
class WriteRecorder final : public testing::ForwardingFileOps {
 public:
  struct Entry {
    uint64_t pos, len;
    bool zeros;
  };
  std::vector<Entry> entries() const {
    std::lock_guard lock(mu_);
    return entries_;
  }
  uint64_t zero_bytes() const {
    uint64_t n = 0;
    for (const Entry& e : entries()) n += e.zeros ? e.len : 0;
    return n;
  }

  Status Write(int fd, const void* data, size_t n, uint64_t pos, const std::string& path) override {
    const char* bytes = static_cast<const char*>(data);
    const bool zeros = std::all_of(bytes, bytes + n, [](char c) { return c == 0; });
    if (!zeros) Add({pos, n, false});
    Status s = base_->Write(fd, data, n, pos, path);
    if (zeros && s.ok()) Add({pos, n, true});
    return s;
  }

 private:
  void Add(Entry e) {
    std::lock_guard lock(mu_);
    entries_.push_back(e);
  }
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

// Appends `n` requests of one event whose payload is a string of `bytes`.
std::vector<std::string> AppendMany(LogFixture& f, int n, size_t bytes) {
  std::vector<std::string> payloads;
  for (int i = 0; i < n; ++i) {
    payloads.push_back("\"" + std::to_string(i) + std::string(bytes, 'p') + "\"");
    auto out = AppendSync(*f.writer, {Draft(payloads.back())});
    EXPECT_TRUE(out.status.ok()) << out.status.ToString();
  }
  return payloads;
}

void ExpectAllThere(const StreamLog& log, const std::vector<std::string>& payloads) {
  const auto records = ReadAll(log);
  ASSERT_EQ(records.size(), payloads.size());
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].offset, i);
    EXPECT_NE(records[i].payload.find(",\"payload\":" + payloads[i] + "}"), std::string::npos)
        << "record " << i;
  }
}

// A log over a WriteRecorder, reopened with `zero_ahead` as asked.
struct RecordedLog {
  RecordedLog(uint64_t segment_bytes, bool zero_ahead) : f(tmp.path(), segment_bytes, &recorder) {
    f.options.zero_ahead = zero_ahead;
    EXPECT_TRUE(f.Reopen().ok());
  }
  TempDir tmp;
  WriteRecorder recorder;
  LogFixture f;
};

TEST(ZeroAhead, SmallAppendsWriteIntoSpaceZeroedBeforeThem) {
  RecordedLog log(64 << 20, /*zero_ahead=*/true);
  LogFixture& f = log.f;
  const WriteRecorder& recorder = log.recorder;
  // ~3.3 MB in 8 KB appends: past the first (preallocated) step of 1 MiB.
  const auto payloads = AppendMany(f, 400, 8000);
  const auto entries = recorder.entries();
  uint64_t records_past_first_step = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (e.zeros || e.pos < (1u << 20)) continue;
    ++records_past_first_step;
    // Every record beyond the first step went into space whose zeros were
    // written (completely) before it.
    auto zeroed_before = [&](uint64_t at) {
      return std::any_of(
          entries.begin(), entries.begin() + static_cast<ptrdiff_t>(i),
          [&](const auto& z) { return z.zeros && z.pos <= at && at < z.pos + z.len; });
    };
    EXPECT_TRUE(zeroed_before(e.pos) && zeroed_before(e.pos + e.len - 1))
        << "record write at " << e.pos;
  }
  EXPECT_GT(records_past_first_step, 100u);
  EXPECT_GE(recorder.zero_bytes(), 2u << 20);
  // No zeros over a record: everything reads back, also after a restart.
  ExpectAllThere(*f.log, payloads);
  ASSERT_TRUE(f.Reopen().ok());
  ExpectAllThere(*f.log, payloads);
  auto more = AppendSync(*f.writer, {Draft("{\"after\":1}")});
  ASSERT_TRUE(more.status.ok());
  EXPECT_EQ(more.acks[0].offset, payloads.size());
}

TEST(ZeroAhead, LargeAppendsGetPlainPreallocation) {
  RecordedLog log(64 << 20, /*zero_ahead=*/true);
  LogFixture& f = log.f;
  const WriteRecorder& recorder = log.recorder;
  // ~6 MB in 150 KB appends: steps of 1, 2 and 4 MiB after the first.
  const auto payloads = AppendMany(f, 40, 150000);
  // Only the step zeroed at the first append, before the appends' size was
  // known; after that they are too large to be worth it.
  EXPECT_LE(recorder.zero_bytes(), 1u << 20);
  ExpectAllThere(*f.log, payloads);
}

TEST(ZeroAhead, EmptyStreamPreallocatedTwoMebibytes) {
  RecordedLog log(64 << 20, /*zero_ahead=*/true);
  const std::string dir = log.f.dir;
  auto disk_bytes = [&] {
    uint64_t bytes = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() == ".seg") bytes += std::filesystem::file_size(e.path());
    }
    return bytes;
  };
  // Nothing allocated or zeroed until the first append (it was a fallocated
  // MiB and a MiB of zeros per stream, ~20 GB for 10,000 empty streams).
  EXPECT_EQ(disk_bytes(), 0u);
  EXPECT_EQ(log.recorder.zero_bytes(), 0u);
  ASSERT_TRUE(log.f.Reopen().ok());
  EXPECT_EQ(disk_bytes(), 0u);
  const auto payloads = AppendMany(log.f, 3, 100);
  EXPECT_GE(disk_bytes(), 1u << 20);  // the first step, then zeros ahead of it
  ExpectAllThere(*log.f.log, payloads);
}

TEST(ZeroAhead, IsOffUnlessAsked) {
  RecordedLog log(64 << 20, /*zero_ahead=*/false);
  AppendMany(log.f, 200, 8000);
  EXPECT_EQ(log.recorder.zero_bytes(), 0u);
}

TEST(ZeroAhead, SealedSegmentsEndAtTheirLastRecord) {
  RecordedLog log(3 << 20, /*zero_ahead=*/true);
  LogFixture& f = log.f;
  const WriteRecorder& recorder = log.recorder;
  // ~10 MB into 3 MiB segments: three rolls, each with zeros ahead of the
  // writer that the seal must cut off.
  const auto payloads = AppendMany(f, 1200, 8000);
  const auto segments = *f.log->segments();
  ASSERT_GE(segments.size(), 4u);
  EXPECT_GE(recorder.zero_bytes(), 3u << 20);
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    EXPECT_EQ(std::filesystem::file_size(segments[i]->path()), segments[i]->committed_bytes())
        << segments[i]->path();
  }
  ExpectAllThere(*f.log, payloads);
  ASSERT_TRUE(f.Reopen().ok());
  ExpectAllThere(*f.log, payloads);
}

// Fails, once, the first sync that follows writes of zeros on the same
// descriptor: a writeback error that the kernel reports once per open file
// description, taken by whoever syncs that description first.
class ZeroSyncFails final : public testing::ForwardingFileOps {
 public:
  Status Write(int fd, const void* data, size_t n, uint64_t pos, const std::string& path) override {
    const char* bytes = static_cast<const char*>(data);
    const bool zeros = std::all_of(bytes, bytes + n, [](char c) { return c == 0; });
    {
      std::lock_guard lock(mu_);
      zeros_pending_[fd] = zeros;
    }
    return base_->Write(fd, data, n, pos, path);
  }
  Status Sync(int fd, const std::string& path) override {
    {
      std::lock_guard lock(mu_);
      if (zeros_pending_[fd] && !failed_) {
        failed_ = true;
        zeros_pending_[fd] = false;
        return Status::FromErrno(EIO, "fdatasync", path);
      }
      zeros_pending_[fd] = false;
    }
    return base_->Sync(fd, path);
  }
  bool failed() const {
    std::lock_guard lock(mu_);
    return failed_;
  }

 private:
  mutable std::mutex mu_;
  std::map<int, bool> zeros_pending_;
  bool failed_ = false;
};

TEST(ZeroAhead, SyncOfTheWritersDescriptorHidTheWritebackError) {
  TempDir tmp;
  ZeroSyncFails faults;
  LogFixture f(tmp.path(), 64 << 20, &faults);
  f.options.zero_ahead = true;
  ASSERT_TRUE(f.Reopen().ok());
  // The first append starts the first zero-ahead job (an empty segment has
  // none); its sync may fail before or after this append's own sync.
  auto first = AppendSync(*f.writer, {Draft("{\"a\":0}")});
  for (int i = 0; i < 500 && !faults.failed(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(faults.failed()) << "the zero-ahead job never synced";
  // The job's sync failed: no acknowledgement past it.
  auto out = first.status.ok() ? AppendSync(*f.writer, {Draft("{\"a\":1}")}) : first;
  EXPECT_FALSE(out.status.ok()) << "acknowledged past a failed sync of the segment";
  EXPECT_EQ(out.status.code(), Status::Code::kIOError) << out.status.ToString();
  // The writer rewinds from what is known durable and takes appends again.
  testing::AppendOutcome again;
  for (int i = 0; i < 100; ++i) {  // Unavailable while it rewinds
    again = AppendSync(*f.writer, {Draft("{\"a\":2}")});
    if (again.status.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(again.status.ok()) << again.status.ToString();
  ASSERT_TRUE(f.Reopen().ok());
  const auto records = ReadAll(*f.log);
  ASSERT_EQ(records.size(), first.status.ok() ? 2u : 1u);
  if (first.status.ok()) {
    EXPECT_NE(records[0].payload.find("{\"a\":0}"), std::string::npos);
  }
  EXPECT_NE(records.back().payload.find("{\"a\":2}"), std::string::npos);
}

// Once `path` is sealed (cut to its records: a Truncate), holds its syncs
// until released; notes which files were synced (when a sync starts) and
// which got zeros.
class SyncOrder final : public testing::ForwardingFileOps {
 public:
  void HoldAfterSeal(const std::string& path) {
    std::lock_guard lock(mu_);
    held_ = path;
  }
  void Release() {
    std::lock_guard lock(mu_);
    held_.clear();
    cv_.notify_all();
  }
  bool Synced(const std::string& path) const {
    std::lock_guard lock(mu_);
    return synced_.count(path) > 0;
  }
  bool Zeroed(const std::string& path) const {
    std::lock_guard lock(mu_);
    return zeroed_.count(path) > 0;
  }
  Status Write(int fd, const void* data, size_t n, uint64_t pos, const std::string& path) override {
    Status s = base_->Write(fd, data, n, pos, path);
    const char* bytes = static_cast<const char*>(data);
    if (s.ok() && std::all_of(bytes, bytes + n, [](char c) { return c == 0; })) {
      std::lock_guard lock(mu_);
      zeroed_.insert(path);
    }
    return s;
  }
  Status Truncate(int fd, uint64_t size, const std::string& path) override {
    {
      std::lock_guard lock(mu_);
      truncated_.insert(path);
    }
    return base_->Truncate(fd, size, path);
  }
  Status Sync(int fd, const std::string& path) override {
    {
      std::unique_lock lock(mu_);
      synced_.insert(path);
      cv_.wait(lock, [&] { return held_ != path || truncated_.count(path) == 0; });
    }
    return base_->Sync(fd, path);
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string held_;
  std::set<std::string> synced_, zeroed_, truncated_;
};

TEST(ZeroAhead, ZeroAheadSyncMadeANewSegmentDurableBeforeTheSealedOne) {
  // Under interval a roll seals in the background. The zero-ahead job of
  // the next segment syncs that file, and with it the records already in
  // it: it must wait for the sealed segment's sync, or a power loss could
  // keep the later records and lose earlier ones (rule 8.9).
  TempDir tmp;
  SyncOrder order;
  LogFixture f(tmp.path(), 2 << 20, &order, *FsyncPolicy::Parse("interval:50"));
  f.options.zero_ahead = true;
  ASSERT_TRUE(f.Reopen().ok());
  order.HoldAfterSeal(f.dir + "/" + segment_name::Make(0));
  // ~4 MB in 8 KB appends: past the roll at 2 MiB. Appended by a thread of
  // its own: an ack may wait for the held sync.
  std::atomic<bool> stop{false};
  auto appends = std::async(std::launch::async, [&] {
    for (int i = 0; i < 500 && !stop; ++i) {
      if (!AppendSync(*f.writer, {Draft("\"" + std::string(8000, 'p') + "\"")}).status.ok()) {
        return false;
      }
    }
    return true;
  });
  std::string second;
  ASSERT_TRUE(testing::Eventually([&] {
    const auto files = testing::SegmentFiles(f.dir);
    if (files.size() > 1) second = files[1];
    return !second.empty() && order.Zeroed(second);  // its zero-ahead job started
  })) << "the log never rolled";
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(order.Synced(second)) << "the new segment was synced before the sealed one";
  order.Release();
  stop = true;
  EXPECT_TRUE(appends.get());
  EXPECT_TRUE(testing::Eventually([&] { return order.Synced(second); }));
  ASSERT_TRUE(f.log->AwaitSealSyncs().ok());
}

}  // namespace
}  // namespace eventflow
