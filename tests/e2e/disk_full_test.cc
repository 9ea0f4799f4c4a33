// A full disk against the real binary, on a size-limited tmpfs the test
// mounts under the build directory (root only; one mount per test, removed
// even when the test fails). Appends stop with 503 before the filesystem is
// full, the index keeps its headroom, a disk filled to the last byte by
// someone else costs answers (503), never the process: the stop and the
// start after it are clean, nothing acknowledged is lost, and the service
// comes back by itself once space returns (issue 22, defect 4).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
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

}  // namespace
}  // namespace eventflow
