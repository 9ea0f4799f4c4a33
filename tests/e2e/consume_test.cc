// Consumer groups over real HTTP: poll, commit, seek, lag, long-poll timing
// (generous bounds), parked polls without threads, and positions surviving
// kill -9.
#include <dirent.h>
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <future>
#include <set>
#include <thread>

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

size_t CountEvents(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  simdjson::dom::array a;
  if (parser.parse(json).get(e) || e["events"].get(a)) return SIZE_MAX;
  return a.size();
}

class ConsumeTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void Start() {
    server_ = std::make_unique<ServerProcess>(
        tmp_.path(),
        std::vector<std::string>{"--bootstrap-key", kAdmin, "--segment-bytes", "1048576"});
    ASSERT_TRUE(server_->ok()) << server_->first_line();
  }
  HttpReply Call(const std::string& method, const std::string& target,
                 const std::string& body = "") {
    return server_->Request(method, target, body, std::string("X-API-Key: ") + kAdmin + "\r\n");
  }
  std::vector<std::string> Produce(int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      auto r = Call("POST", "/api/v1/streams/s/events",
                    "{\"event_type\":\"T\",\"payload\":{\"i\":" + std::to_string(i) + "}}");
      EXPECT_EQ(r.status, 202);
      ids.push_back(Field(r.body, "/event_id"));
    }
    return ids;
  }
  const std::string base_ = "/api/v1/streams/s/consumer-groups/";
  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(ConsumeTest, PollCommitAndRedeliveryWithoutCommit) {
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"s"})").status, 201);
  auto ids = Produce(10);
  auto first = Call("GET", base_ + "g1/events?limit=4");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(CountEvents(first.body), 4u);
  EXPECT_EQ(Field(first.body, "/next_offset"), ids[3]);
  EXPECT_EQ(Field(first.body, "/lag"), "10");
  // Not committed: delivered again.
  EXPECT_EQ(Field(Call("GET", base_ + "g1/events?limit=4").body, "/events/0/event_id"), ids[0]);
  auto commit = Call("POST", base_ + "g1/offsets", "{\"last_event_id\":\"" + ids[3] + "\"}");
  ASSERT_EQ(commit.status, 200) << commit.body;
  EXPECT_EQ(Field(commit.body, "/committed_offset"), "3");
  EXPECT_EQ(Field(commit.body, "/lag"), "6");
  auto next = Call("GET", base_ + "g1/events?limit=100");
  EXPECT_EQ(CountEvents(next.body), 6u);
  EXPECT_EQ(Field(next.body, "/events/0/offset"), "4");
  // Another group starts at the beginning.
  EXPECT_EQ(Field(Call("GET", base_ + "g2/events?limit=1").body, "/events/0/offset"), "0");
  // Regression, unknown events, bad bodies.
  EXPECT_EQ(Call("POST", base_ + "g1/offsets", "{\"last_event_id\":\"" + ids[1] + "\"}").status,
            409);
  EXPECT_EQ(Call("POST", base_ + "g1/offsets",
                 "{\"last_event_id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\"}")
                .status,
            404);
  EXPECT_EQ(Call("POST", base_ + "g1/offsets", "{\"event\":1}").status, 400);
  EXPECT_EQ(Call("GET", base_ + "g1/events?limit=0").status, 400);
  EXPECT_EQ(Call("GET", base_ + "g1/events?timeout=70000").status, 400);
  auto group = Call("GET", base_ + "g1");
  EXPECT_EQ(Field(group.body, "/last_event_id"), ids[3]);
  auto list = Call("GET", base_);
  EXPECT_NE(list.body.find("\"group_id\":\"g1\""), std::string::npos) << list.body;
  EXPECT_EQ(Call("DELETE", base_ + "g1").status, 204);
  EXPECT_EQ(Call("GET", base_ + "g1").status, 404);
}

TEST_F(ConsumeTest, LargePollAnswerArrivesWholeOnAKeptAliveConnection) {
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"s"})").status, 201);
  // 2,000 events of ~1 KB: one answer of ~2.5 MB, many times what one socket
  // write takes, then another request on the same connection.
  const std::string pad(1000, 'p');
  for (int b = 0; b < 4; ++b) {
    std::string batch = "{\"events\":[";
    for (int i = 0; i < 500; ++i) {
      batch += (i ? "," : "") + std::string(R"({"event_type":"T","payload":{"i":)") +
               std::to_string(b * 500 + i) + ",\"pad\":\"" + pad + "\"}}";
    }
    batch += "]}";
    ASSERT_EQ(Call("POST", "/api/v1/streams/s/events/batch", batch).status, 202);
  }
  const std::string key = std::string("X-API-Key: ") + kAdmin + "\r\n";
  const std::string raw = server_->SendRaw(
      "GET " + base_ + "g/events?limit=2000 HTTP/1.1\r\nHost: x\r\n" + key + "\r\n" + "GET " +
      "/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const auto first = ServerProcess::ParseReply(raw);
  ASSERT_EQ(first.status, 200);
  const size_t head_end = raw.find("\r\n\r\n");
  const size_t length_at = raw.find("Content-Length: ");
  ASSERT_LT(length_at, head_end);
  const size_t length = std::stoul(raw.substr(length_at + 16));
  ASSERT_GT(length, 2'000'000u);
  ASSERT_GE(raw.size(), head_end + 4 + length) << "the answer was cut short";
  const std::string body = raw.substr(head_end + 4, length);
  EXPECT_EQ(CountEvents(body), 2000u);
  EXPECT_EQ(Field(body, "/events/1999/offset"), "1999");
  // The second answer follows the first whole one on the same connection.
  EXPECT_EQ(raw.compare(head_end + 4 + length, 12, "HTTP/1.1 200"), 0)
      << raw.substr(head_end + 4 + length, 100);
}

TEST_F(ConsumeTest, SeekEverywhere) {
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"s"})").status, 201);
  auto ids = Produce(5);
  auto latest = Call("POST", base_ + "g/seek", R"({"position":"latest"})");
  ASSERT_EQ(latest.status, 200) << latest.body;
  EXPECT_EQ(Field(latest.body, "/committed_offset"), "4");
  EXPECT_EQ(Field(latest.body, "/last_event_id"), ids[4]);
  EXPECT_EQ(CountEvents(Call("GET", base_ + "g/events").body), 0u);
  auto earliest = Call("POST", base_ + "g/seek", R"({"position":"earliest"})");
  EXPECT_EQ(Field(earliest.body, "/committed_offset"), "null");
  EXPECT_EQ(Field(earliest.body, "/last_event_id"), "null");
  EXPECT_EQ(CountEvents(Call("GET", base_ + "g/events").body), 5u);
  Call("POST", base_ + "g/seek", R"({"offset":3})");
  EXPECT_EQ(Field(Call("GET", base_ + "g/events").body, "/events/0/offset"), "3");
  Call("POST", base_ + "g/seek", "{\"event_id\":\"" + ids[2] + "\"}");
  EXPECT_EQ(Field(Call("GET", base_ + "g/events").body, "/events/0/offset"), "2");
  EXPECT_EQ(Call("POST", base_ + "g/seek", R"({"position":"middle"})").status, 400);
  EXPECT_EQ(Call("POST", base_ + "g/seek", R"({"offset":1,"position":"latest"})").status, 400);
}

TEST_F(ConsumeTest, LongPollTimesOutOrWakesOnProduce) {
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"s"})").status, 201);
  auto t0 = Clock::now();
  auto empty = Call("GET", base_ + "g/events?timeout=1000");
  const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(CountEvents(empty.body), 0u);
  EXPECT_GE(waited, 0.9);
  EXPECT_LE(waited, 2.0);
  auto parked = std::async(std::launch::async, [&] {
    auto start = Clock::now();
    auto r = Call("GET", base_ + "g/events?timeout=10000");
    return std::make_pair(r, std::chrono::duration<double>(Clock::now() - start).count());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto produced_at = Clock::now();
  Produce(1);
  auto [reply, took] = parked.get();
  EXPECT_EQ(CountEvents(reply.body), 1u) << reply.body;
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - produced_at).count(), 0.5 + 0.5);
  EXPECT_LT(took, 5.0);
}

int ThreadCount(pid_t pid) {
  int n = 0;
  if (DIR* d = opendir(("/proc/" + std::to_string(pid) + "/task").c_str())) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

// The names an operator sees in top -H or ps -L.
std::multiset<std::string> ThreadNames(pid_t pid) {
  std::multiset<std::string> names;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream comm(dir + "/" + e->d_name + "/comm");
      std::string name;
      std::getline(comm, name);
      names.insert(name);
    }
    closedir(d);
  }
  return names;
}

TEST_F(ConsumeTest, ParkedPollsCostNoThreadsAndShutdownAnswersThem) {
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"s"})").status, 201);
  const int threads_before = ThreadCount(server_->pid());
  const auto names = ThreadNames(server_->pid());
  for (const char* name : {"ef-writer", "ef-flusher", "ef-processor", "ef-view-write"}) {
    EXPECT_EQ(names.count(name), 1u) << name << " among " << ::testing::PrintToString(names);
  }
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;  // this test holds a socket per poll
  ::setrlimit(RLIMIT_NOFILE, &lim);
  const int kPolls = lim.rlim_cur >= 2200 ? 2000 : 500;
  std::vector<int> fds;
  const std::string req = "GET " + base_ +
                          "g/events?timeout=30000 HTTP/1.1\r\nHost: x\r\nX-API-Key: " + kAdmin +
                          "\r\n\r\n";
  for (int i = 0; i < kPolls; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(ThreadCount(server_->pid()), threads_before) << "parked polls took threads";
  // The server still answers others meanwhile.
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  const auto t0 = Clock::now();
  EXPECT_EQ(server_->Terminate(), 0);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 10.0);
  int answered = 0;
  for (int fd : fds) {
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0 && std::string_view(buf, static_cast<size_t>(n)).starts_with("HTTP/1.1 200"))
      ++answered;
    ::close(fd);
  }
  EXPECT_EQ(answered, kPolls) << "parked polls were not answered at shutdown";
}

TEST_F(ConsumeTest, KillNineKeepsCommittedPositions) {
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"s"})").status, 201);
  auto ids = Produce(6);
  ASSERT_EQ(Call("POST", base_ + "g/offsets", "{\"last_event_id\":\"" + ids[2] + "\"}").status,
            200);
  server_->Kill();
  server_.reset();
  Start();
  auto r = Call("GET", base_ + "g/events");
  EXPECT_EQ(Field(r.body, "/events/0/offset"), "3");
  EXPECT_EQ(CountEvents(r.body), 3u);
}

TEST_F(ConsumeTest, GroupWasNotFoundAfterItsFirstPoll) {
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"s"})").status, 201);
  Produce(2);
  EXPECT_EQ(Call("GET", base_ + "fresh").status, 404);
  auto polled = Call("GET", base_ + "fresh/events?limit=1");
  ASSERT_EQ(polled.status, 200) << polled.body;
  auto group = Call("GET", base_ + "fresh");
  ASSERT_EQ(group.status, 200) << group.body;
  EXPECT_EQ(Field(group.body, "/committed_offset"), "null");
  EXPECT_EQ(Field(group.body, "/lag"), "2");
  EXPECT_EQ(
      Field(Call("GET", "/api/v1/streams/s/consumer-groups").body, "/consumer_groups/0/group_id"),
      "fresh");
  // Its first commit moves it as before.
  ASSERT_EQ(Call("POST", base_ + "fresh/offsets",
                 R"({"last_event_id":")" + Field(polled.body, "/next_offset") + "\"}")
                .status,
            200);
  EXPECT_EQ(Field(Call("GET", base_ + "fresh").body, "/committed_offset"), "0");
}

TEST(ConsumerGroupQuota, GroupsPerStreamAreCapped) {
  TempDir tmp;
  ServerProcess server(tmp.path(), {"--bootstrap-key", kAdmin, "--max-groups-per-stream", "3"});
  ASSERT_TRUE(server.ok()) << server.first_line();
  const std::string key = std::string("X-API-Key: ") + kAdmin + "\r\n";
  auto call = [&](const std::string& method, const std::string& target,
                  const std::string& body = "") {
    return server.Request(method, target, body, key);
  };
  ASSERT_EQ(call("POST", "/api/v1/streams", R"({"name":"s"})").status, 201);
  auto produced = call("POST", "/api/v1/streams/s/events", R"({"event_type":"T","payload":{}})");
  const std::string id = Field(produced.body, "/event_id");
  const std::string groups = "/api/v1/streams/s/consumer-groups/";
  for (const char* g : {"a", "b", "c"}) EXPECT_EQ(call("GET", groups + g + "/events").status, 200);
  // Every use that would make a fourth group is refused; nothing is made.
  auto polled = call("GET", groups + "d/events");
  EXPECT_EQ(polled.status, 403) << polled.body;
  EXPECT_EQ(Field(polled.body, "/error/code"), "quota_exceeded");
  EXPECT_EQ(call("POST", groups + "e/offsets", R"({"last_event_id":")" + id + "\"}").status, 403);
  EXPECT_EQ(call("POST", groups + "f/seek", R"({"position":"latest"})").status, 403);
  EXPECT_EQ(call("POST", groups + "g/nack", R"({"event_id":")" + id + "\"}").status, 403);
  EXPECT_EQ(call("GET", groups + "d").status, 404);
  // The groups there still work, and deleting one frees its place.
  EXPECT_EQ(call("POST", groups + "a/offsets", R"({"last_event_id":")" + id + "\"}").status, 200);
  EXPECT_EQ(call("DELETE", groups + "b").status, 204);
  EXPECT_EQ(call("GET", groups + "d/events").status, 200);
  // Per stream: another stream has its own places.
  ASSERT_EQ(call("POST", "/api/v1/streams", R"({"name":"t"})").status, 201);
  EXPECT_EQ(call("GET", "/api/v1/streams/t/consumer-groups/x/events").status, 200);
}

}  // namespace
}  // namespace eventflow
