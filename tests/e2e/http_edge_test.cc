// HTTP edge cases against the real binary: slow clients, chunked bodies,
// bodies shorter than their Content-Length, and 200 concurrent keep-alive
// producers whose acknowledged events are each stored exactly once,
// pipelined produces, a chunked body over the limit, HTTP/1.0, and the idle
// timeout of a keep-alive connection.
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <set>
#include <thread>

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

std::string ReadAllFrom(int fd) {
  std::string out;
  char buf[65536];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    out.append(buf, static_cast<size_t>(n));
  return out;
}

class HttpEdgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(
        tmp_.path(), std::vector<std::string>{"--bootstrap-key", kAdmin, "--header-timeout-ms",
                                              "1000", "--io-threads", "2"});
    ASSERT_TRUE(server_->ok()) << server_->first_line();
    auto r = server_->Request("POST", "/api/v1/streams", R"({"name":"s"})",
                              std::string("X-API-Key: ") + kAdmin + "\r\n");
    ASSERT_EQ(r.status, 201);
  }
  std::string EventCount() {
    return Field(
        server_
            ->Request("GET", "/api/v1/streams/s", "", std::string("X-API-Key: ") + kAdmin + "\r\n")
            .body,
        "/event_count");
  }
  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(HttpEdgeTest, SlowlorisIsCutOffWhileOthersAreServed) {
  const int fd = ConnectLoopback(server_->port());
  ASSERT_GE(fd, 0);
  const auto t0 = Clock::now();
  const std::string start = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  ASSERT_GT(::send(fd, start.data(), start.size(), MSG_NOSIGNAL), 0);
  bool closed = false;
  for (int i = 0; i < 50 && !closed; ++i) {
    // One header byte every 200 ms: never a whole request within 1 s.
    if (::send(fd, "X", 1, MSG_NOSIGNAL) < 0) {
      closed = true;
      break;
    }
    EXPECT_EQ(server_->Request("GET", "/healthz").status, 200) << "others must be served";
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) > 0) {
      char c;
      closed = ::recv(fd, &c, 1, 0) <= 0;
    }
  }
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  ::close(fd);
  EXPECT_TRUE(closed) << "the slow client was never cut off";
  EXPECT_LT(took, 5.0);
}

TEST_F(HttpEdgeTest, ChunkedBodyIsAccepted) {
  const std::string body = R"({"event_type":"T","payload":{"chunked":true}})";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size() - 10);
  const std::string raw =
      std::string("POST /api/v1/streams/s/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n") +
      "X-API-Key: " + kAdmin + "\r\nContent-Type: application/json\r\n" +
      "Transfer-Encoding: chunked\r\n\r\n" + size + "\r\n" + body.substr(0, body.size() - 10) +
      "\r\na\r\n" + body.substr(body.size() - 10) + "\r\n0\r\n\r\n";
  auto reply = ServerProcess::ParseReply(server_->SendRaw(raw));
  EXPECT_EQ(reply.status, 202) << reply.body;
  EXPECT_EQ(EventCount(), "1");
}

TEST_F(HttpEdgeTest, BodyShorterThanContentLengthStoresNothing) {
  const int fd = ConnectLoopback(server_->port());
  ASSERT_GE(fd, 0);
  const std::string raw = std::string("POST /api/v1/streams/s/events HTTP/1.1\r\nHost: x\r\n") +
                          "X-API-Key: " + kAdmin +
                          "\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n" +
                          R"({"event_type":"T","payload":{}})";
  ASSERT_GT(::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL), 0);
  ::shutdown(fd, SHUT_WR);
  const std::string reply = ReadAllFrom(fd);
  ::close(fd);
  EXPECT_EQ(reply.find("HTTP/1.1 202"), std::string::npos) << reply;
  EXPECT_EQ(EventCount(), "0");
}

TEST_F(HttpEdgeTest, TwoHundredKeepAliveProducersEachEventOnce) {
  constexpr int kProducers = 200, kEach = 10;
  std::mutex mu;
  std::multiset<std::string> acked;
  std::vector<std::thread> threads;
  for (int t = 0; t < kProducers; ++t) {
    threads.emplace_back([&, t] {
      // kEach requests on one keep-alive connection, pipelined; the last
      // one closes it.
      std::string raw;
      for (int i = 0; i < kEach; ++i) {
        const std::string body = "{\"event_type\":\"T\",\"payload\":{\"t\":" + std::to_string(t) +
                                 ",\"i\":" + std::to_string(i) + "}}";
        raw += std::string("POST /api/v1/streams/s/events HTTP/1.1\r\nHost: x\r\n") +
               "X-API-Key: " + kAdmin + "\r\nContent-Type: application/json\r\n" +
               (i + 1 == kEach ? "Connection: close\r\n" : "") +
               "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      }
      const std::string reply = server_->SendRaw(raw);
      size_t at = 0;
      for (int i = 0; i < kEach; ++i) {
        at = reply.find("HTTP/1.1 202", at);
        if (at == std::string::npos) break;
        const size_t id_at = reply.find("\"event_id\":\"", at);
        if (id_at == std::string::npos) break;
        std::lock_guard lock(mu);
        acked.insert(reply.substr(id_at + 12, 36));
        at = id_at;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(acked.size(), static_cast<size_t>(kProducers * kEach));
  std::multiset<std::string> stored;
  for (uint64_t from = 0;;) {
    auto page = server_->Request(
        "GET", "/api/v1/streams/s/events?limit=1000&from_offset=" + std::to_string(from), "",
        std::string("X-API-Key: ") + kAdmin + "\r\n");
    ASSERT_EQ(page.status, 200);
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(page.body);
    size_t n = 0;
    for (simdjson::dom::element e : doc["events"].get_array()) {
      stored.insert(std::string(std::string_view(e["event_id"])));
      ++n;
    }
    if (n == 0) break;
    from += n;
  }
  EXPECT_EQ(stored.size(), acked.size());
  for (const auto& id : acked) EXPECT_EQ(stored.count(id), 1u) << id;
}

TEST_F(HttpEdgeTest, PipelinedProducesAreAnsweredInOrderAndEachStoredOnce) {
  // Three requests in one write: each body arrives in the same read as its
  // header and the next request, and must be cut out of the buffer exactly.
  std::string raw;
  for (int i = 0; i < 3; ++i) {
    const std::string body = R"({"event_type":"T","payload":{"n":)" + std::to_string(i) + "}}";
    raw += std::string("POST /api/v1/streams/s/events HTTP/1.1\r\nHost: x\r\n") +
           "X-API-Key: " + kAdmin + "\r\nContent-Type: application/json\r\n" +
           (i == 2 ? "Connection: close\r\n" : "") +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  const std::string replies = server_->SendRaw(raw);
  size_t at = 0;
  for (int i = 0; i < 3; ++i) {
    at = replies.find("HTTP/1.1 202", at);
    ASSERT_NE(at, std::string::npos) << "answer " << i << " missing: " << replies;
    const size_t offset = replies.find("\"offset\":", at);
    ASSERT_NE(offset, std::string::npos);
    EXPECT_EQ(replies.substr(offset + 9, 1), std::to_string(i)) << replies;
    ++at;
  }
  EXPECT_EQ(EventCount(), "3");
}

TEST_F(HttpEdgeTest, ChunkedBodyOverTheLimitIs413AndStoresNothing) {
  TempDir small_tmp;
  ServerProcess small(small_tmp.path(), {"--bootstrap-key", kAdmin, "--max-event-bytes", "1024",
                                         "--max-batch-bytes", "2048"});
  ASSERT_TRUE(small.ok()) << small.first_line();
  const std::string key = std::string("X-API-Key: ") + kAdmin + "\r\n";
  ASSERT_EQ(small.Request("POST", "/api/v1/streams", R"({"name":"s"})", key).status, 201);
  // No Content-Length to refuse it by: the produce route's limit (the
  // event's 1024 bytes and 64 KiB for the envelope) is found while the
  // chunks are parsed.
  const std::string body =
      R"({"event_type":"T","payload":{"p":")" + std::string(70000, 'x') + "\"}}";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  const std::string raw = std::string("POST /api/v1/streams/s/events HTTP/1.1\r\nHost: x\r\n") +
                          key +
                          "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                          size + "\r\n" + body + "\r\n0\r\n\r\n";
  auto reply = ServerProcess::ParseReply(small.SendRaw(raw));
  EXPECT_EQ(reply.status, 413) << reply.body;
  EXPECT_NE(reply.body.find("body_too_large"), std::string::npos) << reply.body;
  EXPECT_EQ(Field(small.Request("GET", "/api/v1/streams/s", "", key).body, "/event_count"), "0");
}

TEST_F(HttpEdgeTest, Http10RequestIsAnsweredInHttp10AndClosed) {
  const std::string raw = server_->SendRaw("GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_EQ(raw.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << raw;
  EXPECT_NE(raw.find("\r\n\r\n{\"status\":\"ok\"}"), std::string::npos) << raw;
}

// Sends GET /healthz on `fd` and reads its whole answer; false if the
// connection is closed first.
bool HealthzOn(int fd) {
  const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    return false;
  }
  std::string got;
  char buf[4096];
  while (got.find("{\"status\":\"ok\"}") == std::string::npos) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    got.append(buf, static_cast<size_t>(n));
  }
  return true;
}

TEST_F(HttpEdgeTest, TransferEncodingOtherThanChunkedSmuggledASecondRequest) {
  const std::string auth = std::string("X-API-Key: ") + kAdmin + "\r\n";
  // The body is itself a request: a server that took the first request as
  // bodiless (or framed it by Content-Length) would answer and store it.
  const std::string smuggled = "POST /api/v1/streams/s/events HTTP/1.1\r\nHost: x\r\n" + auth +
                               "Content-Type: application/json\r\nContent-Length: 32\r\n\r\n"
                               R"({"event_type":"T","payload":{}})";
  for (const std::string te :
       {"Transfer-Encoding: gzip\r\n", "Transfer-Encoding: chunked, identity\r\n",
        "Transfer-Encoding: identity\r\n", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"}) {
    const std::string raw = "POST /api/v1/streams/s/events HTTP/1.1\r\nHost: x\r\n" + auth +
                            "Content-Type: application/json\r\n" + te + "\r\n" + smuggled;
    const std::string replies = server_->SendRaw(raw);
    auto reply = ServerProcess::ParseReply(replies);
    EXPECT_EQ(reply.status, 400) << te << replies;
    // (Beast itself refuses chunked beside Content-Length, as "bad Content-Length".)
    EXPECT_TRUE(reply.body.find("Transfer-Encoding") != std::string::npos ||
                reply.body.find("Content-Length") != std::string::npos)
        << reply.body;
    EXPECT_EQ(replies.find("HTTP/1.1", 1), std::string::npos) << "a second answer: " << replies;
  }
  EXPECT_EQ(EventCount(), "0");
  // Exactly "chunked" (any case) is fine.
  const std::string body = R"({"event_type":"T","payload":{}})";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  auto ok = ServerProcess::ParseReply(server_->SendRaw(
      "POST /api/v1/streams/s/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + auth +
      "Content-Type: application/json\r\nTransfer-Encoding: Chunked\r\n\r\n" + size + "\r\n" +
      body + "\r\n0\r\n\r\n"));
  EXPECT_EQ(ok.status, 202) << ok.body;
  EXPECT_EQ(EventCount(), "1");
}

TEST(HttpTimeoutTest, KeepAliveRequestGotTheIdleTimeoutInsteadOfTheHeaderTimeout) {
  TempDir tmp;
  ServerProcess server(tmp.path(), {"--bootstrap-key", kAdmin, "--header-timeout-ms", "500",
                                    "--idle-timeout-ms", "60000"});
  ASSERT_TRUE(server.ok()) << server.first_line();
  const int fd = ConnectLoopback(server.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(HealthzOn(fd));
  // The next request starts and never ends: it has the header timeout
  // from its first byte, not the minute a connection may idle.
  const std::string start = "GET /healthz HTTP/1.1\r\nHost:";
  ASSERT_EQ(::send(fd, start.data(), start.size(), 0), static_cast<ssize_t>(start.size()));
  const auto t0 = Clock::now();
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1) << "still open after 10 s";
  char c;
  EXPECT_LE(::recv(fd, &c, 1, 0), 0);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));
  ::close(fd);
  // A keep-alive connection that sends nothing is not cut at the header
  // timeout.
  const int idle = ConnectLoopback(server.port());
  ASSERT_TRUE(HealthzOn(idle));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_TRUE(HealthzOn(idle)) << "an idle connection was closed at the header timeout";
  ::close(idle);
}

TEST(HttpTimeoutTest, IdleKeepAliveConnectionIsClosedWhileABusyOneStays) {
  TempDir tmp;
  // The idle timeout is longer than the header timeout, so the connection's
  // deadline timer first fires early and must wait again.
  ServerProcess server(tmp.path(), {"--bootstrap-key", kAdmin, "--header-timeout-ms", "1000",
                                    "--idle-timeout-ms", "1500"});
  ASSERT_TRUE(server.ok()) << server.first_line();
  const int idle = ConnectLoopback(server.port());
  const int busy = ConnectLoopback(server.port());
  ASSERT_GE(idle, 0);
  ASSERT_GE(busy, 0);
  ASSERT_TRUE(HealthzOn(idle));
  const auto t0 = Clock::now();
  bool idle_closed = false;
  double closed_after = 0;
  // The busy connection asks every 200 ms for 3 s: its deadline moves on
  // with each request, so it is never cut off.
  while (Clock::now() - t0 < std::chrono::seconds(3)) {
    EXPECT_TRUE(HealthzOn(busy)) << "a connection in use was closed";
    pollfd p{idle, POLLIN, 0};
    if (!idle_closed && ::poll(&p, 1, 200) > 0) {
      char c;
      if (::recv(idle, &c, 1, 0) <= 0) {
        idle_closed = true;
        closed_after = std::chrono::duration<double>(Clock::now() - t0).count();
      }
    } else if (idle_closed) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  ::close(idle);
  ::close(busy);
  EXPECT_TRUE(idle_closed) << "the idle connection was never closed";
  EXPECT_GE(closed_after, 1.4) << "closed before its idle timeout";
  EXPECT_LT(closed_after, 2.9);
}

}  // namespace
}  // namespace eventflow
