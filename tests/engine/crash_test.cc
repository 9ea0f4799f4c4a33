// Crash test: a child process appends continuously (singles, small batches,
// and batches big enough to go through the flusher thread), up to four
// requests in flight so later rounds are written while earlier ones are
// flushed, with fsync `always`, and reports on a pipe each batch it is about
// to append and each acknowledgement; the parent kills it with SIGKILL at
// random moments.
// After each reopen every acknowledged event is present, byte-identical,
// exactly once, offsets are dense, and no batch is partly present.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

#include "formats/record.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

// Events of big batches carry a longer pad, so a batch of a few hundred
// makes a round over StreamWriter::kMinPipelinedBytes.
std::string PayloadFor(const Uuid& id, bool big) {
  return "{\"id\":\"" + id.ToString() + "\",\"pad\":\"" +
         (big ? std::string(300, 'p') : std::string("crash")) + "\"}";
}

// The child: appends until killed. Lines on `fd`:
//   "I <id> <id> ...\n"  a batch is about to be appended (intent)
//   "A <offset> <id>\n"   one acknowledged event
int RunChild(const std::string& data_dir, int fd) {
  // Declared before the engine, so they outlive its last callback.
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  bool failed = false;
  EngineOptions eo;
  eo.data_dir = data_dir;
  eo.segment_bytes = 256 << 10;
  auto engine = Engine::Open(eo);
  if (!engine.ok()) return 3;
  auto streams = (*engine)->ListStreams();
  if (streams.size() != 1) return 4;
  auto stream = streams[0];
  std::mt19937 rng(static_cast<unsigned>(getpid()));
  FILE* out = fdopen(fd, "w");
  std::setvbuf(out, nullptr, _IOLBF, 0);
  while (true) {
    const unsigned kind = rng() % 8;
    const bool big = kind == 0;
    const int n = big         ? 200 + static_cast<int>(rng() % 200)
                  : kind <= 2 ? 1 + static_cast<int>(rng() % 50)
                              : 1;
    std::vector<EventDraft> batch;
    std::string intent = "I";
    for (int i = 0; i < n; ++i) {
      EventDraft d;
      d.event_id = Uuid::Random();
      d.members = ",\"payload\":" + PayloadFor(d.event_id, big);
      intent += " " + d.event_id.ToString();
      batch.push_back(std::move(d));
    }
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight < 4 || failed; });
      if (failed) return 5;
      ++in_flight;
    }
    std::fprintf(out, "%s\n", intent.c_str());
    (*engine)->Append(stream, std::move(batch), [&](Status s, std::vector<EventAck> acks) {
      for (const auto& a : acks) {  // one write per line: whole lines reach the pipe
        std::fprintf(out, "A %llu %s\n", static_cast<unsigned long long>(a.offset),
                     a.event_id.ToString().c_str());
      }
      std::lock_guard lock(mu);
      failed = failed || !s.ok();
      --in_flight;
      cv.notify_one();
    });
  }
}

TEST(Crash, KillNineNeverLosesAnAcknowledgedEvent) {
  testing::TempDir tmp;
  EngineOptions eo;
  eo.data_dir = tmp.path();
  eo.segment_bytes = 256 << 10;
  {
    auto engine = Engine::Open(eo);
    ASSERT_TRUE(engine.ok());
    ASSERT_TRUE((*engine)->CreateStream("org", "crash", "{}").ok());
  }
  std::map<std::string, uint64_t> acked;  // event id -> offset
  std::vector<std::vector<std::string>> intents;
  std::mt19937 rng(12345);
  constexpr int kCycles = 20;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      const std::string fd = std::to_string(fds[1]);
      ::execl("/proc/self/exe", "crash_test", "--crash-child", tmp.path().c_str(), fd.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    ::usleep(static_cast<useconds_t>(150000 + rng() % 350000));
    ::kill(pid, SIGKILL);
    int wstatus = 0;
    ::waitpid(pid, &wstatus, 0);
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited early with " << WEXITSTATUS(wstatus);
    FILE* in = fdopen(fds[0], "r");
    char* line = nullptr;
    size_t cap = 0;
    while (getline(&line, &cap, in) > 0) {
      std::istringstream ls(line);
      std::string kind;
      ls >> kind;
      if (kind == "I") {
        intents.emplace_back();
        for (std::string id; ls >> id;) intents.back().push_back(id);
      } else if (kind == "A") {
        uint64_t off;
        std::string id;
        if (ls >> off >> id) acked[id] = off;
      }
    }
    std::free(line);
    std::fclose(in);

    // Reopen and check everything.
    auto engine = Engine::Open(eo);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    auto stream = (*engine)->ListStreams().at(0);
    ASSERT_TRUE(stream->serving()) << stream->open_status.ToString();
    std::map<std::string, uint64_t> present;
    uint64_t expect_offset = 0;
    // As consumers read them: each stored event turned back into its JSON.
    Status s = stream->log->ReadEvents(
        0, stream->manifest.stream_id, [&](const RecordView& r, std::string_view event) {
          EXPECT_EQ(r.offset, expect_offset++) << "offsets are not dense";
          EXPECT_TRUE(r.flags & record::kCompactEvent);
          auto id = PeekEventId(event);
          EXPECT_TRUE(id.has_value());
          const std::string key = id->ToString();
          EXPECT_TRUE(present.emplace(key, r.offset).second) << "event stored twice: " << key;
          EXPECT_TRUE(
              event.find(",\"payload\":" + PayloadFor(*id, false) + ",") != std::string::npos ||
              event.find(",\"payload\":" + PayloadFor(*id, true) + ",") != std::string::npos)
              << "stored bytes differ from what was appended: " << event;
          EXPECT_NE(event.find(",\"offset\":" + std::to_string(r.offset) + ","), std::string::npos)
              << event;
          return true;
        });
    ASSERT_TRUE(s.ok()) << s.ToString();
    for (const auto& [id, off] : acked) {
      auto it = present.find(id);
      ASSERT_NE(it, present.end()) << "cycle " << cycle << ": acknowledged event lost: " << id;
      EXPECT_EQ(it->second, off);
    }
    for (const auto& batch : intents) {
      size_t have = 0;
      for (const auto& id : batch) have += present.count(id);
      EXPECT_TRUE(have == 0 || have == batch.size())
          << "a batch of " << batch.size() << " is partly present (" << have << ")";
    }
    // The index agrees with the log after re-indexing.
    for (const auto& [id, off] : present) {
      auto loc = (*engine)->Lookup("org", *Uuid::Parse(id));
      ASSERT_TRUE(loc.ok() && loc->has_value()) << id;
      EXPECT_EQ((*loc)->offset, off);
    }
  }
  EXPECT_GT(acked.size(), 100u) << "the child acknowledged too little to prove anything";
  int big_batches_acked = 0;
  for (const auto& batch : intents) {
    big_batches_acked += batch.size() >= 200 && acked.count(batch.front()) > 0 ? 1 : 0;
  }
  EXPECT_GT(big_batches_acked, 0)
      << "no big round was acknowledged: the flusher thread went untested";
}

}  // namespace
}  // namespace eventflow

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--crash-child") {
    return eventflow::RunChild(argv[2], std::atoi(argv[3]));
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
