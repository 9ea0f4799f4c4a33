// The writer's wait for a round's worth of requests under fsync always
// (StreamWriter::LingerForLastRoundsCount): producers answered together that
// come back one by one share the next round instead of the first of them
// starting one alone, and a request that comes back alone still goes.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/writer_observer.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::AppendLater;
using testing::AppendOutcome;
using testing::Draft;
using testing::LogFixture;
using testing::TempDir;

// Every flush takes 150 ms, so the writer's wait (a third of the last
// flush, at most 20 ms) is long next to the test's own steps.
class SlowSync final : public testing::ForwardingFileOps {
 public:
  explicit SlowSync(FileOps* base) : ForwardingFileOps(base) {}
  Status Sync(int fd, const std::string& path) override {
    ++started_;
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    return base_->Sync(fd, path);
  }
  int syncs_started() const { return started_.load(); }

 private:
  std::atomic<int> started_{0};
};

// The number of requests of each completed round, in order.
class RoundRecorder final : public WriterObserver {
 public:
  void OnRound(uint64_t requests, uint64_t, uint64_t) override {
    std::lock_guard lock(mu_);
    rounds_.push_back(requests);
  }
  void OnFlush(double) override {}
  std::vector<uint64_t> rounds() {
    std::lock_guard lock(mu_);
    return rounds_;
  }

 private:
  std::mutex mu_;
  std::vector<uint64_t> rounds_;
};

class LingerTest : public ::testing::Test {
 protected:
  LingerTest() : fops_(FileOps::Posix()), f_(tmp_.path(), 1 << 20, &fops_) {
    f_.writer->SetObserver(&recorder_);
  }
  ~LingerTest() override { f_.Close(); }

  // Ends with a completed round of four requests: one request's round is
  // flushing while four more queue behind it.
  void RoundOfFour() {
    const int syncs = fops_.syncs_started();
    auto lone = AppendLater(*f_.writer, {Draft("{\"n\":0}")});
    ASSERT_TRUE(testing::Eventually([&] { return fops_.syncs_started() > syncs; }))
        << "the first round's flush never started";
    std::vector<std::future<AppendOutcome>> four;
    for (int i = 0; i < 4; ++i) four.push_back(AppendLater(*f_.writer, {Draft("{\"n\":1}")}));
    ASSERT_TRUE(lone.get().status.ok());
    for (auto& f : four) ASSERT_TRUE(f.get().status.ok());
    ASSERT_EQ(recorder_.rounds().back(), 4u) << "the four did not share a round";
  }

  TempDir tmp_;
  SlowSync fops_;
  LogFixture f_;
  RoundRecorder recorder_;
};

TEST_F(LingerTest, RequestsComingBackOneByOneShareTheNextRound) {
  RoundOfFour();
  // The four come back: one, then the rest 2 ms later. The first waits
  // for the rest instead of starting a round alone.
  std::vector<std::future<AppendOutcome>> again;
  again.push_back(AppendLater(*f_.writer, {Draft("{\"n\":2}")}));
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  for (int i = 0; i < 3; ++i) again.push_back(AppendLater(*f_.writer, {Draft("{\"n\":3}")}));
  for (auto& f : again) ASSERT_TRUE(f.get().status.ok());
  EXPECT_EQ(recorder_.rounds().back(), 4u)
      << "rounds: " << ::testing::PrintToString(recorder_.rounds());
}

TEST_F(LingerTest, ARequestComingBackAloneStillGoes) {
  RoundOfFour();
  // Only one of the four comes back: the wait for more ends and it is stored.
  const size_t rounds_before = recorder_.rounds().size();
  auto alone = AppendLater(*f_.writer, {Draft("{\"n\":4}")});
  ASSERT_EQ(alone.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "a lone request waited for requests that never came";
  EXPECT_TRUE(alone.get().status.ok());
  EXPECT_EQ(recorder_.rounds().size(), rounds_before + 1);
  EXPECT_EQ(recorder_.rounds().back(), 1u);
}

}  // namespace
}  // namespace eventflow
