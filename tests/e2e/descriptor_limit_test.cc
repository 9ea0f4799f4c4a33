// The server out of file descriptors, against the real binary under a low
// RLIMIT_NOFILE: it fits its connections to the limit, backs off accepting
// instead of spinning, logs the failure rarely, and keeps storing events.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/server_process.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::ConnectLoopback;
using testing::Field;
using testing::ServerProcess;
using testing::TempDir;
using Clock = std::chrono::steady_clock;

constexpr char kAdmin[] = "admin-secret-for-tests";
const std::string kAuth = std::string("X-API-Key: ") + kAdmin + "\r\n";

void LowFileLimit() {
  const rlimit lim{256, 256};
  ::setrlimit(RLIMIT_NOFILE, &lim);
}

// One produce on the keep-alive connection `fd`; its status, 0 if none came
// within 10 s.
int ProduceOn(int fd) {
  const std::string body = R"({"event_type":"T","payload":{}})";
  const std::string req =
      "POST /api/v1/streams/s/events HTTP/1.1\r\nHost: x\r\n" + kAuth +
      "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    return 0;
  }
  std::string got;
  char buf[4096];
  while (got.find("\r\n\r\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) return 0;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return 0;
    got.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  std::sscanf(got.c_str(), "HTTP/1.1 %d", &status);
  // The body (small) arrives with the head or right after; drain it.
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 200) == 1) (void)::recv(fd, buf, sizeof buf, 0);
  return status;
}

// User + system CPU time of process `pid`, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

size_t LinesWith(const std::string& path, const std::string& needle) {
  std::ifstream in(path);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

TEST(DescriptorLimit, AcceptSpunWhenDescriptorsRanOut) {
  TempDir tmp, logs;
  const std::string log = logs.path() + "/server.log";
  ServerProcess server(tmp.path(), {"--bootstrap-key", kAdmin, "--max-connections", "100000"}, log,
                       LowFileLimit);
  ASSERT_TRUE(server.ok()) << server.first_line();
  ASSERT_EQ(server.Request("POST", "/api/v1/streams", R"({"name":"s"})", kAuth).status, 201);
  // Storage grows past what the server set aside for it at start: each
  // stream holds its segment open.
  for (int i = 0; i < 100; ++i) {
    server.Request("POST", "/api/v1/streams", R"({"name":"x)" + std::to_string(i) + "\"}", kAuth);
  }
  const int producer = ConnectLoopback(server.port());
  ASSERT_GE(producer, 0);
  ASSERT_EQ(ProduceOn(producer), 202);

  // More connections than descriptors: they wait in the listen queue.
  std::vector<int> flood;
  for (int i = 0; i < 300; ++i) {
    const int fd = ConnectLoopback(server.port());
    if (fd >= 0) flood.push_back(fd);
  }
  ASSERT_GT(flood.size(), 200u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double cpu0 = CpuSeconds(server.pid());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const double cpu = CpuSeconds(server.pid()) - cpu0;
  EXPECT_LT(cpu, 0.5) << "the accept loop spun";
  // Storage still works on a connection the server already has.
  EXPECT_EQ(ProduceOn(producer), 202);
  // The streams ate into the room kept for storage, so accepting did run
  // out (once logged), rather than only meeting the connection cap.
  EXPECT_GE(LinesWith(log, "accept failed"), 1u);
  EXPECT_LE(LinesWith(log, "accept failed"), 3u) << "the failure was logged per attempt";

  // Once connections close, new ones are served again.
  for (int fd : flood) ::close(fd);
  int status = 0;
  for (auto until = Clock::now() + std::chrono::seconds(10);
       status != 200 && Clock::now() < until;) {
    status = server.Request("GET", "/healthz").status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(status, 200);
  EXPECT_EQ(ProduceOn(producer), 202);
  ::close(producer);
  EXPECT_EQ(Field(server.Request("GET", "/api/v1/streams/s", "", kAuth).body, "/event_count"), "3");
  EXPECT_EQ(server.Terminate(), 0);
}

TEST(DescriptorLimit, StartUnderALowLimitClampsConnectionsWithoutAWarning) {
  TempDir tmp, logs;
  const std::string log = logs.path() + "/server.log";
  ServerProcess server(tmp.path(), {"--bootstrap-key", kAdmin}, log, LowFileLimit);
  ASSERT_TRUE(server.ok()) << server.first_line();
  EXPECT_EQ(server.Request("GET", "/healthz").status, 200);
  EXPECT_EQ(LinesWith(log, " warn "), 0u);
  EXPECT_EQ(LinesWith(log, "serving at most"), 1u);
}

}  // namespace
}  // namespace eventflow
