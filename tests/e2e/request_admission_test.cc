// What the server decides from a request's header before it reads the body,
// against the real binary: 401 without a key, the route's body limit (413),
// Expect: 100-continue, and the in-flight body budget (503). Each test sends
// a header whose body it withholds: a server that waited for the body would
// answer nothing within the test's bound.
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/server_process.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::ConnectLoopback;
using testing::Field;
using testing::HttpReply;
using testing::SendAll;
using testing::ServerProcess;
using testing::TempDir;

constexpr char kAdmin[] = "admin-secret-for-tests";
const std::string kAuth = std::string("X-API-Key: ") + kAdmin + "\r\n";

// Reads until the reply holds a whole header (and `body_bytes` after it when
// it says Content-Length), the peer closes, or `ms` pass.
std::string ReadReply(int fd, int ms = 5000) {
  std::string got;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  char buf[65536];
  while (std::chrono::steady_clock::now() < end) {
    const auto head_end = got.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const auto cl = got.find("Content-Length: ");
      if (cl == std::string::npos || cl > head_end) break;
      if (got.size() >= head_end + 4 + std::stoul(got.substr(cl + 16))) break;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(1, left.count()))) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// True when the server closes `fd` within `ms`.
bool ClosedWithin(int fd, int ms) {
  char buf[4096];
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if (::recv(fd, buf, sizeof buf, 0) <= 0) return true;
  }
  return false;
}

std::string EventOf(size_t payload_bytes) {
  return R"({"event_type":"T","payload":{"p":")" + std::string(payload_bytes, 'x') + "\"}}";
}

class RequestAdmissionTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--bootstrap-key", kAdmin, "--header-timeout-ms", "8000"};
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = std::make_unique<ServerProcess>(tmp_.path(), args);
    ASSERT_TRUE(server_->ok()) << server_->first_line();
    ASSERT_EQ(server_->Request("POST", "/api/v1/streams", R"({"name":"s"})", kAuth).status, 201);
  }
  std::string EventCount() {
    return Field(server_->Request("GET", "/api/v1/streams/s", "", kAuth).body, "/event_count");
  }
  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(RequestAdmissionTest, UnauthenticatedBodyWasBufferedBeforeTheKeyWasChecked) {
  Start();
  for (const std::string key : {"", "X-API-Key: not-a-key\r\n"}) {
    const int fd = ConnectLoopback(server_->port());
    ASSERT_GE(fd, 0);
    // 16 MiB announced, none sent: the answer cannot wait for the body.
    ASSERT_TRUE(
        SendAll(fd, "POST /api/v1/streams/s/events/batch HTTP/1.1\r\nHost: x\r\n" + key +
                        "Content-Type: application/json\r\nContent-Length: 16777216\r\n\r\n"));
    auto reply = ServerProcess::ParseReply(ReadReply(fd));
    EXPECT_EQ(reply.status, 401) << reply.head;
    EXPECT_NE(reply.body.find("unauthorized"), std::string::npos) << reply.body;
    EXPECT_NE(reply.head.find("Connection: close"), std::string::npos) << reply.head;
    EXPECT_TRUE(ClosedWithin(fd, 5000)) << "the connection was left open after the 401";
    ::close(fd);
  }
  // A client that sends its whole body anyway still reads its 401 (the
  // server drains what arrives instead of resetting the connection).
  const std::string body = EventOf(900 * 1024);
  auto reply = ServerProcess::ParseReply(server_->SendRaw(
      "POST /api/v1/streams/s/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body));
  EXPECT_EQ(reply.status, 401) << reply.head;
  EXPECT_EQ(EventCount(), "0");
}

TEST_F(RequestAdmissionTest, SmallRoutesTookBatchSizedBodies) {
  Start({"--max-event-bytes", "4096"});
  struct Case {
    std::string method, target;
    uint64_t refused_from;
  };
  const Case cases[] = {
      {"POST", "/api/v1/streams/s/consumer-groups/g/offsets", 64 * 1024 + 1},
      {"POST", "/api/v1/streams/s/consumer-groups/g/nack", 64 * 1024 + 1},
      {"POST", "/api/v1/admin/api-keys", 64 * 1024 + 1},
      {"PATCH", "/api/v1/streams/s", (1u << 20) + 1},
      {"POST", "/api/v1/streams", (1u << 20) + 1},
      {"POST", "/api/v1/streams/s/events", 4096 + 64 * 1024 + 1},
  };
  for (const Case& c : cases) {
    const int fd = ConnectLoopback(server_->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, c.method + " " + c.target + " HTTP/1.1\r\nHost: x\r\n" + kAuth +
                                "Content-Type: application/json\r\nContent-Length: " +
                                std::to_string(c.refused_from) + "\r\n\r\n"));
    auto reply = ServerProcess::ParseReply(ReadReply(fd));
    EXPECT_EQ(reply.status, 413) << c.target << " " << reply.head;
    EXPECT_NE(reply.body.find(std::to_string(c.refused_from - 1) + " bytes"), std::string::npos)
        << reply.body;
    ::close(fd);
  }
  // One byte less is read: a produce at its limit gets the event's own 413
  // (its body is read and judged), not the route's.
  const std::string big = EventOf(4096 + 60 * 1024);
  auto produced = server_->Request("POST", "/api/v1/streams/s/events", big, kAuth);
  EXPECT_EQ(produced.status, 413);
  EXPECT_NE(produced.body.find("event_too_large"), std::string::npos) << produced.body;
  EXPECT_EQ(server_->Request("POST", "/api/v1/streams/s/events", EventOf(100), kAuth).status, 202);
  EXPECT_EQ(EventCount(), "1");
}

TEST_F(RequestAdmissionTest, ExpectContinueWasNeverAnswered) {
  Start();
  const std::string body = EventOf(10);
  const int fd = ConnectLoopback(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "POST /api/v1/streams/s/events HTTP/1.1\r\nHost: x\r\n" + kAuth +
                              "Content-Type: application/json\r\nExpect: 100-continue\r\n"
                              "Content-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n"));
  const std::string interim = ReadReply(fd);
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(SendAll(fd, body));
  auto reply = ServerProcess::ParseReply(ReadReply(fd));
  EXPECT_EQ(reply.status, 202) << reply.head << reply.body;
  ::close(fd);
  EXPECT_EQ(EventCount(), "1");

  // Refused by its header: the final answer instead of the invitation.
  const int refused = ConnectLoopback(server_->port());
  ASSERT_TRUE(SendAll(refused,
                      "POST /api/v1/streams/s/events HTTP/1.1\r\nHost: x\r\nX-API-Key: wrong\r\n"
                      "Expect: 100-continue\r\nContent-Length: 100\r\n\r\n"));
  auto no = ServerProcess::ParseReply(ReadReply(refused));
  EXPECT_EQ(no.status, 401) << no.head;
  ::close(refused);

  // An expectation the server does not know: 417.
  auto unknown = ServerProcess::ParseReply(
      server_->SendRaw("POST /api/v1/streams/s/events HTTP/1.1\r\nHost: x\r\n" + kAuth +
                       "Expect: something-else\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\n\r\n" + body));
  EXPECT_EQ(unknown.status, 417) << unknown.head;
  EXPECT_EQ(EventCount(), "1");
}

TEST_F(RequestAdmissionTest, InFlightBodiesHadNoBudget) {
  Start({"--max-inflight-body-bytes", "1048576"});
  const std::string body = R"({"events":[)" + EventOf(600 * 1024) + "]}";  // over half the budget
  const std::string head =
      "POST /api/v1/streams/s/events/batch HTTP/1.1\r\nHost: x\r\n" + kAuth +
      "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n";
  // The first request's body arrives slowly: its bytes stay counted.
  const int first = ConnectLoopback(server_->port());
  ASSERT_GE(first, 0);
  ASSERT_TRUE(SendAll(first, head + body.substr(0, 1000)));
  // Give the server time to read the first header before the second comes.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int second = ConnectLoopback(server_->port());
  ASSERT_TRUE(SendAll(second, head));
  auto refused = ServerProcess::ParseReply(ReadReply(second));
  EXPECT_EQ(refused.status, 503) << refused.head;
  EXPECT_NE(refused.body.find("overloaded"), std::string::npos) << refused.body;
  EXPECT_NE(refused.head.find("Retry-After: 1"), std::string::npos) << refused.head;
  ::close(second);
  // The first completes; once answered its bytes are given back.
  ASSERT_TRUE(SendAll(first, body.substr(1000)));
  auto done = ServerProcess::ParseReply(ReadReply(first));
  EXPECT_EQ(done.status, 202) << done.head << done.body;
  ::close(first);
  auto again = ServerProcess::ParseReply(
      server_->SendRaw(head.substr(0, head.size() - 2) + "Connection: close\r\n\r\n" + body));
  EXPECT_EQ(again.status, 202) << again.head << again.body;
  EXPECT_EQ(EventCount(), "2");
}

}  // namespace
}  // namespace eventflow
