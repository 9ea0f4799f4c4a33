// One org attacks while another works: 8 connections of the hostile org
// send, back to back for 20 s, every worst input the hardening issue names
// (costly schemas and patterns, keyless huge bodies, smuggling framings,
// slow headers, parked polls, new groups and streams past their caps,
// out-of-range settings, forged log lines), while the victim org produces
// and consumes 20,000 events. Every victim request is answered within 10 s,
// its events arrive exactly once, /healthz answers within 2 s throughout,
// and SIGTERM then stops the server cleanly.
#include <gtest/gtest.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/server_process.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::Field;
using testing::HttpReply;
using testing::ServerProcess;
using testing::TempDir;
using Clock = std::chrono::steady_clock;

constexpr char kAdmin[] = "admin-secret-for-tests";

int Connect(int port, int timeout_ms) {
  const int fd = testing::ConnectLoopback(port);
  if (fd < 0) return fd;
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

// Sends `raw` on a new connection and reads until the server closes it or
// `timeout_ms` pass without a byte; status 0 when no answer came.
HttpReply Exchange(int port, const std::string& raw, int timeout_ms) {
  HttpReply reply;
  const int fd = Connect(port, timeout_ms);
  if (fd < 0) return reply;
  testing::SendAll(fd, raw);
  std::string got;
  char buf[65536];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    got.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return ServerProcess::ParseReply(got);
}

std::string Request(const std::string& method, const std::string& target, const std::string& key,
                    const std::string& body = "", const std::string& extra = "") {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
                    (key.empty() ? "" : "X-API-Key: " + key + "\r\n") + extra;
  if (!body.empty()) {
    req +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return req + "\r\n" + body;
}

std::string ExponentialSchema(int levels) {
  std::string defs = R"("d0":{"type":"object"})";
  for (int k = 1; k <= levels; ++k) {
    const std::string prev = "{\"$ref\":\"#/definitions/d" + std::to_string(k - 1) + "\"}";
    defs += ",\"d" + std::to_string(k) + "\":{\"allOf\":[" + prev + "," + prev + "]}";
  }
  return "{\"definitions\":{" + defs + "},\"$ref\":\"#/definitions/d" + std::to_string(levels) +
         "\"}";
}

// The victim's events, as the server named them, and what it consumed.
struct VictimLedger {
  std::mutex mu;
  std::vector<std::string> produced;
  std::vector<std::string> consumed;
  std::atomic<int> unanswered{0};
  std::atomic<int> errors{0};
  std::string first_error;
  void Error(const std::string& what) {
    ++errors;
    std::lock_guard lock(mu);
    if (first_error.empty()) first_error = what;
  }
};

TEST(HostileTenant, VictimIsServedWhileAnotherOrgSendsEveryWorstInput) {
  TempDir tmp;
  ServerProcess server(tmp.path(), {"--bootstrap-key", kAdmin, "--header-timeout-ms", "3000",
                                    "--max-streams-per-org", "20", "--max-groups-per-stream", "50",
                                    "--max-parked-polls", "200"});
  ASSERT_TRUE(server.ok()) << server.first_line();
  const int port = server.port();
  auto make_key = [&](const std::string& org) {
    auto r = Exchange(port,
                      Request("POST", "/api/v1/admin/api-keys", kAdmin,
                              R"({"org_id":")" + org + R"(","name":")" + org + "\"}"),
                      10000);
    return Field(r.body, "/api_key");
  };
  const std::string victim = make_key("victim");
  const std::string hostile = make_key("hostile");
  ASSERT_FALSE(victim.empty());
  ASSERT_FALSE(hostile.empty());
  ASSERT_EQ(
      Exchange(port, Request("POST", "/api/v1/streams", victim, R"({"name":"orders"})"), 10000)
          .status,
      201);
  // The hostile org's own stream: a pattern RE2 must search the slow way.
  ASSERT_EQ(Exchange(port,
                     Request("POST", "/api/v1/streams", hostile,
                             R"({"name":"h","schema":{"type":"object","properties":{"s":)"
                             R"({"type":"string","pattern":"(a|b)*a(a|b){1000}c"}}}})"),
                     10000)
                .status,
            201);

  std::atomic<bool> stop{false};
  std::atomic<long> hostile_requests{0};
  const std::string costly_event =
      R"({"event_type":"T","payload":{"s":")" + std::string(65536, 'a') + "\"}}";
  const std::string big_body(1 << 20, ' ');
  auto attack = [&](int thread) {
    std::vector<int> slow;  // connections left in the middle of a header
    for (long i = thread; !stop; i += 8) {
      switch (i % 12) {
        case 0:  // a pattern search past the budget
          Exchange(port, Request("POST", "/api/v1/streams/h/events", hostile, costly_event), 15000);
          break;
        case 1:  // a schema whose work doubles per level
          Exchange(port,
                   Request("POST", "/api/v1/streams", hostile,
                           R"({"name":"x)" + std::to_string(i) + R"(","schema":)" +
                               ExponentialSchema(40) + "}"),
                   15000);
          break;
        case 2:  // 16 MiB announced without a key
          Exchange(port,
                   "POST /api/v1/streams/h/events/batch HTTP/1.1\r\nHost: x\r\n"
                   "Content-Length: 16777216\r\n\r\n" +
                       big_body,
                   15000);
          break;
        case 3:  // a body smuggled behind a Transfer-Encoding
          Exchange(port,
                   Request("POST", "/api/v1/streams/h/events", hostile, "",
                           "Transfer-Encoding: gzip\r\n") +
                       Request("POST", "/api/v1/streams/h/events", hostile, "{}"),
                   15000);
          break;
        case 4: {  // a header that never ends
          const int fd = Connect(port, 1000);
          if (fd >= 0) {
            const std::string start = "GET /healthz HTTP/1.1\r\nHost:";
            (void)::send(fd, start.data(), start.size(), MSG_NOSIGNAL);
            slow.push_back(fd);
          }
          if (slow.size() > 40) {
            ::close(slow.front());
            slow.erase(slow.begin());
          }
          break;
        }
        case 5:  // a poll under a new group name, parked for a second
          Exchange(port,
                   Request("GET",
                           "/api/v1/streams/h/consumer-groups/g" + std::to_string(i) +
                               "/events?timeout=1000",
                           hostile),
                   15000);
          break;
        case 6:  // more streams than the quota
          Exchange(port,
                   Request("POST", "/api/v1/streams", hostile,
                           R"({"name":"s)" + std::to_string(i) + "\"}"),
                   15000);
          break;
        case 7:  // settings past their ranges
          Exchange(
              port,
              Request(
                  "PATCH", "/api/v1/streams/h", hostile,
                  R"({"retention":{"max_age_s":18446744073709552},"max_deliveries":4294967296})"),
              15000);
          break;
        case 8:  // a nack reason that forges log lines
          Exchange(port,
                   Request("POST", "/api/v1/streams/h/consumer-groups/g1/nack", hostile,
                           R"({"event_id":"00000000-0000-7000-8000-000000000000",)"
                           R"("reason":"x\n2026-01-01T00:00:00.000Z error forged\u001b[2J"})"),
                   15000);
          break;
        case 9:  // a body over a small route's limit
          Exchange(port,
                   Request("POST", "/api/v1/streams/h/consumer-groups/g1/offsets", hostile,
                           std::string(100000, ' ')),
                   15000);
          break;
        case 10:  // a rate limit whose wait overflows
          Exchange(port,
                   Request("POST", "/api/v1/admin/api-keys", hostile,
                           R"({"org_id":"hostile","name":"n","rate_limit_per_s":1e-300})"),
                   15000);
          break;
        default:  // malformed bytes
          Exchange(port, "\x16\x03\x01\x02\x00GARBAGE\r\n\r\n", 15000);
          break;
      }
      ++hostile_requests;
    }
    for (int fd : slow) ::close(fd);
  };

  VictimLedger ledger;
  constexpr int kBatches = 200;
  constexpr int kPerBatch = 100;
  auto produce = [&] {
    for (int b = 0; b < kBatches; ++b) {
      std::string body = "{\"events\":[";
      for (int i = 0; i < kPerBatch; ++i) {
        if (i > 0) body += ",";
        body += R"({"event_type":"OrderPlaced","payload":{"n":)" +
                std::to_string(b * kPerBatch + i) + "}}";
      }
      body += "]}";
      auto r = Exchange(port, Request("POST", "/api/v1/streams/orders/events/batch", victim, body),
                        10000);
      if (r.status == 0) {
        ++ledger.unanswered;
        continue;
      }
      if (r.status != 202) {
        ledger.Error("produce " + std::to_string(r.status) + " " + r.body);
        continue;
      }
      std::lock_guard lock(ledger.mu);
      for (int i = 0; i < kPerBatch; ++i) {
        const std::string pointer = "/results/" + std::to_string(i) + "/event_id";
        ledger.produced.push_back(Field(r.body, pointer.c_str()));
      }
    }
  };
  std::atomic<bool> producing{true};
  auto consume = [&] {
    const std::string group = "/api/v1/streams/orders/consumer-groups/billing/";
    const auto give_up = Clock::now() + std::chrono::seconds(120);
    while (Clock::now() < give_up) {
      {
        std::lock_guard lock(ledger.mu);
        if (!producing && ledger.consumed.size() >= ledger.produced.size()) break;
      }
      auto r =
          Exchange(port, Request("GET", group + "events?limit=1000&timeout=500", victim), 10000);
      if (r.status == 0) {
        ++ledger.unanswered;
        continue;
      }
      if (r.status != 200) {
        ledger.Error("poll " + std::to_string(r.status) + " " + r.body);
        continue;
      }
      std::vector<std::string> ids;
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      simdjson::dom::array events;
      if (parser.parse(r.body).get(doc) || doc["events"].get(events)) {
        ledger.Error("poll answer " + r.body.substr(0, 200));
        continue;
      }
      for (simdjson::dom::element e : events) {
        std::string_view id;
        if (!e["event_id"].get(id)) ids.push_back(std::string(id));
      }
      if (ids.empty()) continue;
      auto c = Exchange(
          port,
          Request("POST", group + "offsets", victim, R"({"last_event_id":")" + ids.back() + "\"}"),
          10000);
      if (c.status == 0) {
        ++ledger.unanswered;
        continue;
      }
      if (c.status != 200) {
        ledger.Error("commit " + std::to_string(c.status) + " " + c.body);
        continue;
      }
      std::lock_guard lock(ledger.mu);
      ledger.consumed.insert(ledger.consumed.end(), ids.begin(), ids.end());
    }
  };
  std::atomic<int> slow_health{0};
  double worst_health_ms = 0;
  auto health = [&] {
    while (!stop) {
      const auto t0 = Clock::now();
      auto r = Exchange(port, Request("GET", "/healthz", ""), 2000);
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      worst_health_ms = std::max(worst_health_ms, ms);
      if (r.status != 200 || ms > 2000) ++slow_health;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  };

  std::vector<std::thread> attackers;
  for (int t = 0; t < 8; ++t) attackers.emplace_back(attack, t);
  std::thread checker(health);
  std::thread consumer(consume);
  const auto started = Clock::now();
  produce();
  producing = false;
  consumer.join();
  // The attack lasts at least 20 s, whatever the victim's pace.
  std::this_thread::sleep_until(started + std::chrono::seconds(20));
  stop = true;
  for (auto& t : attackers) t.join();
  checker.join();

  std::printf("hostile requests: %ld; victim events consumed: %zu; worst /healthz: %.1f ms\n",
              hostile_requests.load(), ledger.consumed.size(), worst_health_ms);
  EXPECT_EQ(ledger.unanswered.load(), 0) << "victim requests left without an answer for 10 s";
  EXPECT_EQ(ledger.errors.load(), 0) << ledger.first_error;
  EXPECT_EQ(ledger.produced.size(), static_cast<size_t>(kBatches * kPerBatch));
  const std::set<std::string> produced(ledger.produced.begin(), ledger.produced.end());
  const std::set<std::string> consumed(ledger.consumed.begin(), ledger.consumed.end());
  EXPECT_EQ(consumed.size(), ledger.consumed.size()) << "an event was delivered twice";
  EXPECT_EQ(consumed, produced);
  EXPECT_EQ(slow_health.load(), 0) << "worst /healthz: " << worst_health_ms << " ms";
  EXPECT_GT(hostile_requests.load(), 100);
  EXPECT_EQ(server.Terminate(), 0);
}

}  // namespace
}  // namespace eventflow
