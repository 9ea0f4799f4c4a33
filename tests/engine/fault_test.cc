// ENOSPC and EIO injected at each file operation of append and roll: the
// failed append is refused, nothing of it is visible after reopen, all that
// was acknowledged is, and appends work again once the fault clears.
#include <gtest/gtest.h>

#include <cerrno>

#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::AppendSync;
using testing::Draft;
using testing::LogFixture;
using testing::ReadAll;
using testing::TempDir;

struct FaultCase {
  FileOp op;
  int err;
  bool needs_roll;  // the op only happens when a segment rolls
};

class FaultTest : public ::testing::TestWithParam<FaultCase> {};

TEST_P(FaultTest, FailedAppendLeavesNoTraceAndWriterRecovers) {
  const FaultCase c = GetParam();
  TempDir tmp;
  FaultInjectingFileOps faults(FileOps::Posix());
  // Segments of 16 KiB; each event ~1 KiB so a roll comes quickly.
  LogFixture f(tmp.path(), 16 << 10, &faults);
  const std::string payload = "{\"pad\":\"" + std::string(1000, 'z') + "\"}";
  std::vector<Uuid> acked;
  auto append = [&](int n) {
    std::vector<EventDraft> batch;
    for (int i = 0; i < n; ++i) batch.push_back(Draft(payload));
    return AppendSync(*f.writer, std::move(batch));
  };
  for (int i = 0; i < 5; ++i) {
    auto ok = append(1);
    ASSERT_TRUE(ok.status.ok());
    acked.push_back(ok.acks[0].event_id);
  }
  faults.Arm(c.op, c.err);
  // A batch big enough to need the rest of the segment and a roll.
  auto failed = append(c.needs_roll ? 14 : 2);
  ASSERT_FALSE(failed.status.ok()) << FileOpName(c.op);
  EXPECT_EQ(failed.status.code(), c.err == ENOSPC ? Status::Code::kNoSpace : Status::Code::kIOError)
      << failed.status.ToString();
  // While the fault lasts, appends keep failing cleanly.
  EXPECT_FALSE(append(c.needs_roll ? 14 : 1).status.ok());
  faults.Clear();
  // The fault cleared: appends work again, with dense offsets.
  auto after = append(1);
  ASSERT_TRUE(after.status.ok()) << after.status.ToString();
  EXPECT_EQ(after.acks[0].offset, acked.size());
  acked.push_back(after.acks[0].event_id);
  EXPECT_TRUE(f.writer->healthy());

  f.Close();
  ASSERT_TRUE(f.Reopen().ok());
  auto records = ReadAll(*f.log);
  ASSERT_EQ(records.size(), acked.size()) << "a failed append became visible";
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].offset, i);
    EXPECT_EQ(PeekEventId(records[i].payload), acked[i]);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AppendAndRoll, FaultTest,
    ::testing::Values(FaultCase{FileOp::kWrite, EIO, false},
                      FaultCase{FileOp::kWrite, ENOSPC, false},
                      FaultCase{FileOp::kSync, EIO, false}, FaultCase{FileOp::kSync, ENOSPC, false},
                      FaultCase{FileOp::kAllocate, ENOSPC, true},
                      FaultCase{FileOp::kTruncate, EIO, true},  // sealing the full segment
                      FaultCase{FileOp::kOpen, EMFILE, true},   // creating the next one
                      FaultCase{FileOp::kOpen, ENOSPC, true},
                      FaultCase{FileOp::kSyncDir, EIO, true}, FaultCase{FileOp::kMap, ENOMEM, true},
                      FaultCase{FileOp::kSync, EIO, true}),
    [](const auto& info) {
      return std::string(FileOpName(info.param.op)) + "_" + std::to_string(info.param.err) +
             (info.param.needs_roll ? "_roll" : "");
    });

TEST(Faults, FailedSyncIsNeverRetriedIntoAnAck) {
  // The write reached the page cache, the flush failed: the bytes must be
  // cut from the file, not flushed again later and shown.
  TempDir tmp;
  FaultInjectingFileOps faults(FileOps::Posix());
  LogFixture f(tmp.path(), 1 << 20, &faults);
  ASSERT_TRUE(AppendSync(*f.writer, {Draft("{\"a\":1}")}).status.ok());
  faults.Arm(FileOp::kSync, EIO);
  EXPECT_FALSE(AppendSync(*f.writer, {Draft("{\"lost\":1}")}).status.ok());
  faults.Clear();
  f.Close();
  ASSERT_TRUE(f.Reopen().ok());
  auto records = ReadAll(*f.log);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].payload.find("lost"), std::string::npos);
}

}  // namespace
}  // namespace eventflow
