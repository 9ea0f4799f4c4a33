// The crash model of crash_state.h, rule by rule, on hand-made logs: what a
// state may hold at a position must follow from the syncs before it.
#include "tests/crash/crash_state.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "tests/engine/test_util.h"

namespace eventflow::crash {
namespace {

Op Create(uint64_t inode, std::string path, FileClass c = FileClass::kEventFlow) {
  Op op;
  op.kind = OpKind::kCreate;
  op.inode = inode;
  op.path = std::move(path);
  op.file_class = c;
  return op;
}
Op Write(uint64_t inode, uint64_t pos, std::string data, FileClass c = FileClass::kEventFlow) {
  Op op;
  op.kind = OpKind::kWrite;
  op.inode = inode;
  op.pos = pos;
  op.data = std::move(data);
  op.file_class = c;
  return op;
}
Op Of(OpKind kind, uint64_t inode, std::string path = "") {
  Op op;
  op.kind = kind;
  op.inode = inode;
  op.path = std::move(path);
  return op;
}

class CrashStateTest : public ::testing::Test {
 protected:
  // The file `rel` in the state of `choice`, or "<none>".
  std::string Read(const CrashState& state, const Choice& choice, const std::string& rel) {
    const std::string root = tmp_.path() + "/state";
    EXPECT_TRUE(state.Materialize(choice, root).ok());
    if (!std::filesystem::exists(root + "/" + rel)) return "<none>";
    return testing::ReadFile(root + "/" + rel);
  }
  testing::TempDir tmp_;
};

TEST_F(CrashStateTest, SyncedBytesSurviveEveryChoice) {
  const std::vector<Op> ops = {Create(1, "data/f"), Of(OpKind::kSyncDir, 0, "data"),
                               Write(1, 0, "hello"), Of(OpKind::kSync, 1), Write(1, 5, " world")};
  CrashState state(ops, ops.size());
  ASSERT_EQ(state.Combinations(), 2u);  // the one unsynced page, or not
  EXPECT_EQ(Read(state, state.Enumerated(0), "data/f"), "hello");
  EXPECT_EQ(Read(state, state.Enumerated(1), "data/f"), "hello world");
}

TEST_F(CrashStateTest, AnUnwrittenPageReadsAsZerosBeforeALaterOne) {
  std::string two_pages(2 * CrashState::kPage, 'a');
  two_pages.replace(CrashState::kPage, CrashState::kPage, CrashState::kPage, 'b');
  const std::vector<Op> ops = {Create(1, "data/f"), Of(OpKind::kSyncDir, 0, "data"),
                               Write(1, 0, two_pages)};
  CrashState state(ops, ops.size());
  ASSERT_EQ(state.pending_pieces(), 2u);
  Choice second_only = state.NothingPending();
  second_only.pages = {false, true};
  const std::string got = Read(state, second_only, "data/f");
  ASSERT_EQ(got.size(), two_pages.size());
  EXPECT_EQ(got.substr(0, CrashState::kPage), std::string(CrashState::kPage, '\0'));
  EXPECT_EQ(got.substr(CrashState::kPage), std::string(CrashState::kPage, 'b'));
}

TEST_F(CrashStateTest, AWriteInsideAllocatedSpaceNeedsTheAllocation) {
  Op allocate = Of(OpKind::kSetSize, 1);
  allocate.pos = 8192;
  allocate.grow_only = true;
  const std::vector<Op> ops = {Create(1, "data/f"), Of(OpKind::kSyncDir, 0, "data"), allocate,
                               Write(1, 0, "abc")};
  CrashState state(ops, ops.size());
  ASSERT_EQ(state.pending_pieces(), 2u);  // the allocation, the page
  Choice page_only = state.NothingPending();
  page_only.pages = {false, true};
  EXPECT_EQ(Read(state, page_only, "data/f"), "") << "the size never grew: nothing is seen";
  Choice both = state.NothingPending();
  both.pages = {true, true};
  EXPECT_EQ(Read(state, both, "data/f"), "abc" + std::string(8192 - 3, '\0'));
}

TEST_F(CrashStateTest, ANewFileNeedsItsDirectorySynced) {
  const std::vector<Op> ops = {Create(1, "data/f"), Write(1, 0, "x"), Of(OpKind::kSync, 1)};
  CrashState state(ops, ops.size());
  ASSERT_EQ(state.pending_dir_ops(), 1u);
  EXPECT_EQ(Read(state, state.NothingPending(), "data/f"), "<none>");
  Choice with_entry = state.NothingPending();
  with_entry.dir_prefix = 1;
  EXPECT_EQ(Read(state, with_entry, "data/f"), "x");
}

TEST_F(CrashStateTest, AFailedSyncLosesThePagesItCovered) {
  const std::vector<Op> ops = {Create(1, "data/f"), Of(OpKind::kSyncDir, 0, "data"),
                               Write(1, 0, "old"),  Of(OpKind::kSync, 1),
                               Write(1, 0, "new"),  Of(OpKind::kSyncFailed, 1)};
  CrashState state(ops, ops.size());
  EXPECT_EQ(state.Combinations(), 1u);
  EXPECT_EQ(Read(state, state.Enumerated(0), "data/f"), "old");
}

TEST_F(CrashStateTest, RocksFilesKeepAPrefixOfTheirAppends) {
  const std::vector<Op> ops = {Create(1, "data/wal", FileClass::kRocks),
                               Of(OpKind::kSyncDir, 0, "data"), Write(1, 0, "a", FileClass::kRocks),
                               Write(1, 1, "b", FileClass::kRocks),
                               Write(1, 2, "c", FileClass::kRocks)};
  CrashState state(ops, ops.size());
  ASSERT_EQ(state.Combinations(), 4u);  // "", "a", "ab", "abc": never "ac"
  std::set<std::string> seen;
  for (uint64_t k = 0; k < 4; ++k) seen.insert(Read(state, state.Enumerated(k), "data/wal"));
  EXPECT_EQ(seen, (std::set<std::string>{"", "a", "ab", "abc"}));
}

TEST_F(CrashStateTest, SyncfsMakesEverythingDurable) {
  const std::vector<Op> ops = {Create(1, "data/f"), Write(1, 0, "x"), Of(OpKind::kSyncAll, 0)};
  CrashState state(ops, ops.size());
  EXPECT_EQ(state.Combinations(), 1u);
  EXPECT_EQ(Read(state, state.Enumerated(0), "data/f"), "x");
}

}  // namespace
}  // namespace eventflow::crash
