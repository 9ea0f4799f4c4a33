// A full disk against the real binary, on a size-limited tmpfs the test
// mounts under the build directory (root only; one mount per test, removed
// even when the test fails). Appends stop with 503 before the filesystem is
// full, the index keeps its headroom, a disk filled to the last byte by
// someone else costs answers (503), never the process: the stop and the
// start after it are clean, nothing acknowledged is lost, and the service
// comes back by itself once space returns (issue 22, defect 4).
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "tests/e2e/server_process.h"

namespace eventflow {
namespace {

namespace fs = std::filesystem;
using testing::Field;
using testing::ServerProcess;

constexpr char kAdmin[] = "admin-secret-for-tests";
const std::string kKey = std::string("X-API-Key: ") + kAdmin + "\r\n";

// A tmpfs of `megabytes` mounted on a fresh directory under the working
// directory (the build tree), unmounted and removed at scope exit.
class TmpfsMount {
 public:
  explicit TmpfsMount(int megabytes) {
    std::string tmpl = (fs::current_path() / "tmpfs-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return;
    path_ = tmpl;
    const std::string opts = "size=" + std::to_string(megabytes) + "m";
    if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
      error_ = std::string("mount: ") + std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
    std::error_code ec;
    if (!path_.empty()) fs::remove(path_, ec);
  }
  bool ok() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_, error_;
  bool mounted_ = false;
};

// Writes zeros to `path` until the filesystem refuses more.
void FillUp(const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  const std::string chunk(4096, '\0');
  while (out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()))) {
  }
}

std::string Batch(int first, int n) {
  std::string body = R"({"events":[)";
  for (int i = first; i < first + n; ++i) {
    body += (i > first ? "," : "") + std::string(R"({"event_type":"T","payload":{"i":)") +
            std::to_string(i) + R"(,"pad":")" + std::string(2000, 'x') + R"("}})";
  }
  return body + "]}";
}

TEST(DiskFull, AppendsStopCleanlyAndTheServerStopsAndStartsOnAFullDisk) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  TmpfsMount mount(24);
  ASSERT_TRUE(mount.ok()) << mount.error();
  const std::string data = mount.path() + "/data";
  int acked = 0;
  {
    ServerProcess server(data, {"--bootstrap-key", kAdmin, "--segment-bytes", "1048576"});
    ASSERT_TRUE(server.ok()) << server.first_line();
    ASSERT_EQ(server.Request("POST", "/api/v1/streams", R"({"name":"s"})", kKey).status, 201);
    // Produce until the engine refuses: it keeps the index's headroom.
    int refused = 0;
    for (int round = 0; round < 2000 && refused == 0; ++round) {
      auto r = server.Request("POST", "/api/v1/streams/s/events/batch", Batch(acked, 20), kKey);
      if (r.status == 202) {
        acked += 20;
      } else {
        EXPECT_EQ(r.status, 503) << r.body;
        EXPECT_EQ(Field(r.body, "/error/code"), "storage_full") << r.body;
        ++refused;
      }
    }
    ASSERT_EQ(refused, 1) << "the disk never filled";
    ASSERT_GT(acked, 0);
    // Someone else takes the last byte; the index's writes are refused
    // before RocksDB could meet the full disk.
    FillUp(mount.path() + "/filler");
    auto poll =
        server.Request("GET", "/api/v1/streams/s/consumer-groups/new/events?limit=1", "", kKey);
    // Answered either way: by the index reserve the server gave up, or 503.
    EXPECT_TRUE(poll.status == 200 || poll.status == 503) << poll.status << " " << poll.body;
    EXPECT_EQ(server.Request("GET", "/healthz").status, 200);
    EXPECT_EQ(server.Terminate(), 0) << "the stop on a full disk was not clean";
  }
  {
    // The start on a still-full disk is clean too, and every acknowledged
    // event is there.
    ServerProcess server(data, {"--bootstrap-key", kAdmin});
    ASSERT_TRUE(server.ok()) << server.first_line();
    auto stream = server.Request("GET", "/api/v1/streams/s", "", kKey);
    ASSERT_EQ(stream.status, 200) << stream.body;
    EXPECT_EQ(Field(stream.body, "/event_count"), std::to_string(acked));
    auto tail = server.Request(
        "GET", "/api/v1/streams/s/events?from_offset=" + std::to_string(acked - 1) + "&limit=10",
        "", kKey);
    ASSERT_EQ(tail.status, 200) << tail.body.substr(0, 300);
    EXPECT_EQ(Field(tail.body, "/events/0/offset"), std::to_string(acked - 1));
    EXPECT_EQ(Field(tail.body, "/events/1"), "<missing>");
    // Space returns: the service comes back by itself.
    fs::remove(mount.path() + "/filler");
    EXPECT_EQ(
        server.Request("GET", "/api/v1/streams/s/consumer-groups/after/events?limit=1", "", kKey)
            .status,
        200);
    EXPECT_EQ(
        server.Request("POST", "/api/v1/streams/s/events/batch", Batch(acked, 1), kKey).status,
        202);
    EXPECT_EQ(server.Terminate(), 0);
  }
}

// payload.i -> copies stored, over the whole stream, as written.
std::map<int, int> StoredNumbers(const ServerProcess& server) {
  std::map<int, int> seen;
  for (uint64_t from = 0;;) {
    auto page = server.Request(
        "GET", "/api/v1/streams/s/events?raw=true&limit=1000&from_offset=" + std::to_string(from),
        "", kKey);
    EXPECT_EQ(page.status, 200) << page.body.substr(0, 300);
    if (page.status != 200) return seen;
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(page.body);
    size_t n = 0;
    for (simdjson::dom::element e : doc["events"].get_array()) {
      ++seen[static_cast<int>(int64_t(e["payload"]["i"]))];
      ++n;
    }
    if (n == 0) return seen;
    from = static_cast<uint64_t>(int64_t(doc["next_from_offset"]));
  }
}

std::string Single(int i) {
  return R"({"event_type":"T","payload":{"i":)" + std::to_string(i) + R"(,"pad":")" +
         std::string(2000, 'x') + R"("}})";
}

// Each kind of write meets the full disk in turn: a stream create, single
// and batch produce (up to a segment roll), a group commit, a compaction.
// Each is refused with 503 (or, for what needs no new space, done), nothing
// acknowledged is lost, nothing refused is stored, the stop and the start
// on the full disk are clean, and every operation works again once space
// returns, without a restart.
TEST(DiskFull, EachKindOfWriteIsRefusedCleanlyAndWorksOnceSpaceReturns) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  TmpfsMount mount(24);
  ASSERT_TRUE(mount.ok()) << mount.error();
  const std::string data = mount.path() + "/data";
  const std::string group = "/api/v1/streams/s/consumer-groups/g";
  std::map<int, int> acked, refused;
  std::string committed;
  int next = 0;
  {
    ServerProcess server(data, {"--bootstrap-key", kAdmin, "--segment-bytes", "65536"});
    ASSERT_TRUE(server.ok()) << server.first_line();
    ASSERT_EQ(
        server
            .Request("POST", "/api/v1/streams", R"({"name":"s","cleanup_policy":"compact"})", kKey)
            .status,
        201);
    // Superseded keyed events in sealed segments, for compaction to drop.
    for (int k = 0; k < 40; ++k) {
      auto r = server.Request("POST", "/api/v1/streams/s/events",
                              R"({"event_type":"T","key":"dup","payload":{"i":-1,"pad":")" +
                                  std::string(2000, 'y') + R"("}})",
                              kKey);
      ASSERT_EQ(r.status, 202) << r.body;
    }
    for (; next < 100; next += 10) {
      ASSERT_EQ(
          server.Request("POST", "/api/v1/streams/s/events/batch", Batch(next, 10), kKey).status,
          202);
      for (int i = next; i < next + 10; ++i) acked[i] = 1;
    }
    auto poll = server.Request("GET", group + "/events?limit=50", "", kKey);
    ASSERT_EQ(poll.status, 200);
    auto c =
        server.Request("POST", group + "/offsets",
                       "{\"last_event_id\":\"" + Field(poll.body, "/next_offset") + "\"}", kKey);
    ASSERT_EQ(c.status, 200) << c.body;
    committed = Field(c.body, "/committed_offset");

    FillUp(mount.path() + "/filler");
    // A stream create needs new space: refused, and no trace of it.
    auto create = server.Request("POST", "/api/v1/streams", R"({"name":"t"})", kKey);
    EXPECT_EQ(create.status, 503) << create.body;
    EXPECT_EQ(server.Request("GET", "/api/v1/streams/t", "", kKey).status, 404);
    // Single events fill the allocated space, then the roll is refused.
    int single_refused = 0;
    for (int n = 0; n < 2000 && single_refused == 0; ++n, ++next) {
      auto r = server.Request("POST", "/api/v1/streams/s/events", Single(next), kKey);
      if (r.status == 202) {
        acked[next] = 1;
      } else {
        EXPECT_EQ(r.status, 503) << r.body;
        refused[next] = 1;
        ++single_refused;
      }
    }
    EXPECT_EQ(single_refused, 1) << "single produce never met the full disk";
    auto batch = server.Request("POST", "/api/v1/streams/s/events/batch", Batch(next, 10), kKey);
    EXPECT_EQ(batch.status, 503) << batch.body;
    for (int i = next; i < next + 10; ++i) refused[i] = 1;
    next += 10;
    // A commit is small: done from the index's headroom, or refused.
    auto more = server.Request("GET", group + "/events?limit=10", "", kKey);
    if (more.status == 200 && Field(more.body, "/events/0") != "<missing>") {
      auto c2 =
          server.Request("POST", group + "/offsets",
                         "{\"last_event_id\":\"" + Field(more.body, "/next_offset") + "\"}", kKey);
      EXPECT_TRUE(c2.status == 200 || c2.status == 503) << c2.status << " " << c2.body;
      if (c2.status == 200) committed = Field(c2.body, "/committed_offset");
    }
    // Compaction writes new files: the stream's result says it failed, or
    // there was nothing it needed room for; nothing is lost either way.
    auto compact = server.Request("POST", "/api/v1/admin/compact", R"({"stream_id":"s"})", kKey);
    EXPECT_EQ(compact.status, 200) << compact.body;
    EXPECT_EQ(server.Request("GET", "/healthz").status, 200);
    EXPECT_EQ(server.Terminate(), 0) << "the stop on a full disk was not clean";
  }
  auto check = [&](const ServerProcess& server) {
    const auto stored = StoredNumbers(server);
    for (const auto& [i, n] : acked) EXPECT_EQ(stored.count(i) ? stored.at(i) : 0, 1) << i;
    for (const auto& [i, n] : refused) EXPECT_EQ(stored.count(i), 0u) << i << " was refused";
    EXPECT_GE(stored.count(-1), 1u) << "the newest event of key dup is gone";
    auto g = server.Request("GET", group, "", kKey);
    EXPECT_EQ(Field(g.body, "/committed_offset"), committed) << g.body;
  };
  ServerProcess server(data, {"--bootstrap-key", kAdmin, "--segment-bytes", "65536"});
  ASSERT_TRUE(server.ok()) << server.first_line();  // a clean start on the full disk
  check(server);
  // Still full: what the active segment has allocated is used, then 503.
  for (int n = 0; n < 2000; ++n, ++next) {
    auto r = server.Request("POST", "/api/v1/streams/s/events", Single(next), kKey);
    if (r.status != 202) {
      EXPECT_EQ(r.status, 503) << r.body;
      refused[next++] = 1;
      break;
    }
    acked[next] = 1;
  }
  // Space returns: every kind of write works again, without a restart.
  fs::remove(mount.path() + "/filler");
  EXPECT_EQ(server.Request("POST", "/api/v1/streams", R"({"name":"t"})", kKey).status, 201);
  for (int n = 0; n < 5; ++n, ++next) {
    auto r = server.Request("POST", "/api/v1/streams/s/events", Single(next), kKey);
    EXPECT_EQ(r.status, 202) << r.body;
    if (r.status == 202) acked[next] = 1;
  }
  ASSERT_EQ(server.Request("POST", "/api/v1/streams/s/events/batch", Batch(next, 10), kKey).status,
            202);
  for (int i = next; i < next + 10; ++i) acked[i] = 1;
  next += 10;
  auto poll = server.Request("GET", group + "/events?limit=10", "", kKey);
  ASSERT_EQ(poll.status, 200) << poll.body;
  auto c = server.Request("POST", group + "/offsets",
                          "{\"last_event_id\":\"" + Field(poll.body, "/next_offset") + "\"}", kKey);
  ASSERT_EQ(c.status, 200) << c.body;
  committed = Field(c.body, "/committed_offset");
  auto compact = server.Request("POST", "/api/v1/admin/compact", R"({"stream_id":"s"})", kKey);
  ASSERT_EQ(compact.status, 200) << compact.body;
  EXPECT_EQ(Field(compact.body, "/results/0/error"), "<missing>") << compact.body;
  check(server);
  EXPECT_EQ(server.Terminate(), 0);
  ServerProcess again(data, {"--bootstrap-key", kAdmin});
  ASSERT_TRUE(again.ok()) << again.first_line();
  check(again);
  EXPECT_EQ(again.Request("GET", "/api/v1/streams/t", "", kKey).status, 200);
}

}  // namespace
}  // namespace eventflow
