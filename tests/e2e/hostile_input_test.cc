// Regression tests for what one org key could do to the server: crash it,
// hang it or make it delete acknowledged events. Each test is named after
// the bug it pins; all run against the real binary over HTTP.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
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

constexpr char kAdmin[] = "admin-secret-for-tests";
const std::string kAuth = std::string("X-API-Key: ") + kAdmin + "\r\n";

HttpReply Call(const ServerProcess& server, const std::string& method, const std::string& target,
               const std::string& body = "") {
  return server.Request(method, target, body, kAuth);
}

// The only segment file of the stream `sid` in `data_dir`.
std::string OnlySegment(const std::string& data_dir, const std::string& sid) {
  std::vector<std::string> segs;
  for (const auto& e : std::filesystem::directory_iterator(data_dir + "/streams/" + sid)) {
    if (e.path().extension() == ".seg") segs.push_back(e.path().string());
  }
  return segs.size() == 1 ? segs[0] : "";
}

TEST(HostileInput, CommitOnAnUnservedStreamCrashedTheServer) {
  TempDir tmp;
  std::string sid, first_id;
  {
    ServerProcess server(tmp.path(), {"--bootstrap-key", kAdmin});
    ASSERT_TRUE(server.ok()) << server.first_line();
    auto created = Call(server, "POST", "/api/v1/streams", R"({"name":"s"})");
    ASSERT_EQ(created.status, 201) << created.body;
    sid = Field(created.body, "/stream_id");
    for (int i = 0; i < 10; ++i) {
      auto r = Call(server, "POST", "/api/v1/streams/s/events",
                    R"({"event_type":"T","payload":{"i":)" + std::to_string(i) + "}}");
      ASSERT_EQ(r.status, 202) << r.body;
      if (i == 0) first_id = Field(r.body, "/event_id");
    }
    ASSERT_EQ(Call(server, "POST", "/api/v1/streams/s/consumer-groups/g/offsets",
                   R"({"last_event_id":")" + first_id + "\"}")
                  .status,
              200);
    ASSERT_EQ(server.Terminate(), 0);
  }
  // One flipped byte inside the first record, valid records after it: the
  // log is corrupt (not a torn tail), so the stream is not served.
  const std::string seg = OnlySegment(tmp.path(), sid);
  ASSERT_FALSE(seg.empty());
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(60);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x20);
    f.seekp(60);
    f.write(&c, 1);
  }
  ServerProcess server(tmp.path(), {"--bootstrap-key", kAdmin});
  ASSERT_TRUE(server.ok()) << server.first_line();
  const std::string g = "/api/v1/streams/s/consumer-groups/g";
  const std::string commit = R"({"last_event_id":")" + first_id + "\"}";
  const std::string nack = R"({"event_id":")" + first_id + "\"}";
  struct Case {
    const char* method;
    std::string target, body;
  };
  const std::vector<Case> needs_the_log = {
      {"POST", g + "/offsets", commit},
      {"POST", g + "/seek", R"({"position":"earliest"})"},
      {"GET", g + "/events?timeout=0", ""},
      {"GET", g, ""},
      {"GET", "/api/v1/streams/s/consumer-groups", ""},
      {"POST", g + "/nack", nack},
      {"POST", "/api/v1/streams/s/events", R"({"event_type":"T","payload":{}})"},
      {"POST", "/api/v1/streams/s/events/batch", R"({"events":[{"event_type":"T","payload":{}}]})"},
      {"GET", "/api/v1/streams/s/events?from_offset=0", ""},
      {"GET", "/api/v1/streams/s/events/" + first_id, ""},
      {"GET", "/api/v1/streams/s/dlq", ""},
      {"POST", "/api/v1/streams/s/dlq/" + first_id + "/retry", ""},
      {"DELETE", "/api/v1/streams/s/dlq/" + first_id, ""},
      {"PATCH", "/api/v1/streams/s", R"({"max_deliveries":3})"},
      {"POST", "/api/v1/admin/compact", R"({"stream_id":"s"})"},
  };
  for (const Case& c : needs_the_log) {
    auto r = Call(server, c.method, c.target, c.body);
    EXPECT_EQ(r.status, 503) << c.method << " " << c.target << ": " << r.body;
    EXPECT_EQ(Field(r.body, "/error/code"), "unavailable") << r.body;
    ASSERT_EQ(server.Request("GET", "/healthz").status, 200) << "after " << c.target;
  }
  // What needs no log still works: the stream's object, and deleting it.
  auto got = Call(server, "GET", "/api/v1/streams/s");
  EXPECT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(Call(server, "DELETE", g).status, 204);
  EXPECT_EQ(Call(server, "DELETE", "/api/v1/streams/s").status, 204);
  EXPECT_EQ(Call(server, "GET", "/api/v1/streams/s").status, 404);
  EXPECT_EQ(server.Terminate(), 0);
}

// Replaces `from` by `to` in the file at `path` (once); false if absent.
bool EditFile(const std::string& path, const std::string& from, const std::string& to) {
  std::string text = testing::ReadFile(path);
  const size_t at = text.find(from);
  if (at == std::string::npos) return false;
  text.replace(at, from.size(), to);
  std::ofstream(path, std::ios::trunc | std::ios::binary) << text;
  return true;
}

TEST(HostileInput, RetentionAgeOverflowDeletedAcknowledgedEvents) {
  TempDir tmp;
  const std::vector<std::string> flags = {"--bootstrap-key", kAdmin, "--segment-bytes", "65536"};
  std::string sid;
  constexpr int kEvents = 600;
  {
    ServerProcess server(tmp.path(), flags);
    ASSERT_TRUE(server.ok()) << server.first_line();
    // Outside their ranges: refused, not wrapped.
    for (const char* bad :
         {R"("retention":{"max_age_s":18446744073709552})", R"("retention":{"max_age_s":0})",
          R"("retention":{"max_bytes":18446744073709551615})", R"("max_deliveries":4294967296)",
          R"("processing":{"max_attempts":101})", R"("processing":{"backoff_ms":-1})"}) {
      auto r = Call(server, "POST", "/api/v1/streams", R"({"name":"x",)" + std::string(bad) + "}");
      EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
      EXPECT_EQ(Field(r.body, "/error/code"), "invalid_stream") << r.body;
    }
    auto created = Call(server, "POST", "/api/v1/streams",
                        R"({"name":"s","retention":{"max_age_s":3600},"max_deliveries":5})");
    ASSERT_EQ(created.status, 201) << created.body;
    sid = Field(created.body, "/stream_id");
    EXPECT_EQ(
        Call(server, "PATCH", "/api/v1/streams/s", R"({"retention":{"max_age_s":1e20}})").status,
        400);
    for (int i = 0; i < kEvents; ++i) {
      auto r = Call(
          server, "POST", "/api/v1/streams/s/events",
          R"({"event_type":"T","payload":{"pad":"................................................................................................","i":)" +
              std::to_string(i) + "}}");
      ASSERT_EQ(r.status, 202) << r.body;
    }
    ASSERT_EQ(server.Terminate(), 0);
  }
  // A data dir from before the ranges holds the values that wrapped.
  const std::string manifest = tmp.path() + "/streams/" + sid + "/MANIFEST.json";
  ASSERT_TRUE(EditFile(manifest, R"("max_age_s":3600)", R"("max_age_s":18446744073709552)"));
  ASSERT_TRUE(EditFile(manifest, R"("max_deliveries":5)", R"("max_deliveries":4294967296)"));
  const std::string log = tmp.path() + "/server.log";
  ServerProcess server(tmp.path(), flags, log);
  ASSERT_TRUE(server.ok()) << server.first_line();
  auto stream = Call(server, "GET", "/api/v1/streams/s");
  ASSERT_EQ(stream.status, 200) << stream.body;
  EXPECT_EQ(Field(stream.body, "/retention/max_age_s"), "3153600000");
  EXPECT_EQ(Field(stream.body, "/max_deliveries"), "1000");
  ASSERT_GT(std::stoi(Field(stream.body, "/segments")), 1);
  EXPECT_NE(testing::ReadFile(log).find("max_age_s 18446744073709552 clamped to 3153600000"),
            std::string::npos);
  auto compacted = Call(server, "POST", "/api/v1/admin/compact", R"({"stream_id":"s"})");
  ASSERT_EQ(compacted.status, 200) << compacted.body;
  stream = Call(server, "GET", "/api/v1/streams/s");
  EXPECT_EQ(Field(stream.body, "/event_count"), std::to_string(kEvents)) << stream.body;
  EXPECT_EQ(Field(stream.body, "/first_offset"), "0") << stream.body;
  // One nack is one failed delivery of 1000, not the last.
  auto polled = Call(server, "GET", "/api/v1/streams/s/consumer-groups/g/events?limit=1");
  ASSERT_EQ(polled.status, 200) << polled.body;
  auto nacked = Call(server, "POST", "/api/v1/streams/s/consumer-groups/g/nack",
                     R"({"event_id":")" + Field(polled.body, "/events/0/event_id") + "\"}");
  ASSERT_EQ(nacked.status, 200) << nacked.body;
  EXPECT_EQ(Field(nacked.body, "/dead_lettered"), "false");
}

// Runs in the server's child process before exec: the server runs as
// nobody with few threads allowed (root is exempt from RLIMIT_NPROC).
constexpr rlim_t kThreadLimit = 48;
void AsNobodyWithFewThreads() {
  const rlimit lim{kThreadLimit, kThreadLimit};
  if (::setrlimit(RLIMIT_NPROC, &lim) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) {
    ::_exit(126);
  }
}

size_t StreamsListed(const ServerProcess& server) {
  const std::string body = Call(server, "GET", "/api/v1/streams").body;
  size_t n = 0;
  for (size_t at = body.find("\"stream_id\""); at != std::string::npos;
       at = body.find("\"stream_id\"", at + 1)) {
    ++n;
  }
  return n;
}

size_t StreamDirs(const std::string& data_dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(data_dir + "/streams")) {
    n += e.is_directory();
  }
  return n;
}

TEST(HostileInput, StreamCreationPastTheThreadLimitAbortedTheServer) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the server as nobody";
  TempDir tmp;
  for (const auto& e : std::filesystem::recursive_directory_iterator(tmp.path())) {
    (void)::chown(e.path().c_str(), 65534, 65534);
  }
  ASSERT_EQ(::chown(tmp.path().c_str(), 65534, 65534), 0);
  // A copy of the binary nobody can reach, whatever the checkout's modes.
  const std::string original = testing::EventflowBinary();
  const std::string copy = tmp.path() + "/eventflow";
  std::filesystem::copy_file(original, copy);
  ::setenv("EVENTFLOW_BIN", copy.c_str(), 1);
  struct Restore {
    std::string bin;
    ~Restore() { ::setenv("EVENTFLOW_BIN", bin.c_str(), 1); }
  } restore{original};
  // fsync never: no zero-ahead jobs, so each stream costs its two threads.
  const std::vector<std::string> flags = {"--bootstrap-key", kAdmin, "--fsync", "never",
                                          "--segment-bytes", "65536"};
  size_t created = 0;
  {
    ServerProcess server(tmp.path(), flags, tmp.path() + "/limited.log", AsNobodyWithFewThreads);
    ASSERT_TRUE(server.ok()) << server.first_line()
                             << testing::ReadFile(tmp.path() + "/limited.log");
    int refused = 0;
    for (int i = 0; i < static_cast<int>(kThreadLimit) && refused < 3; ++i) {
      auto r = Call(server, "POST", "/api/v1/streams", R"({"name":"s)" + std::to_string(i) + "\"}");
      if (r.status == 201) {
        ++created;
        continue;
      }
      ASSERT_EQ(r.status, 503) << r.body;
      EXPECT_EQ(Field(r.body, "/error/code"), "unavailable") << r.body;
      EXPECT_NE(r.body.find("thread"), std::string::npos) << r.body;
      ++refused;
    }
    ASSERT_EQ(refused, 3) << "the thread limit was never reached";
    ASSERT_GT(created, 0u);
    ASSERT_EQ(server.Request("GET", "/healthz").status, 200);
    // Nothing of a refused stream is left: not listed, no directory.
    EXPECT_EQ(StreamsListed(server), created);
    EXPECT_EQ(StreamDirs(tmp.path()), created);
    EXPECT_EQ(server.Terminate(), 0);
  }
  {
    // A start under a lower limit serves what it can: every stream is listed
    // and readable, those without writer threads refuse appends with 503.
    ServerProcess server(tmp.path(), flags, tmp.path() + "/limited2.log", [] {
      const rlimit lim{kThreadLimit - 6, kThreadLimit - 6};
      if (::setrlimit(RLIMIT_NPROC, &lim) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) {
        ::_exit(126);
      }
    });
    ASSERT_TRUE(server.ok()) << server.first_line()
                             << testing::ReadFile(tmp.path() + "/limited2.log");
    EXPECT_EQ(server.Request("GET", "/healthz").status, 200);
    EXPECT_EQ(StreamsListed(server), created);
    int unwritable = 0;
    for (size_t i = 0; i < created; ++i) {
      const std::string s = "/api/v1/streams/s" + std::to_string(i);
      EXPECT_EQ(Call(server, "GET", s + "/events?from_offset=0").status, 200);
      auto r = Call(server, "POST", s + "/events", R"({"event_type":"T","payload":{}})");
      if (r.status == 503) {
        ++unwritable;
        EXPECT_NE(r.body.find("writer could not be started"), std::string::npos) << r.body;
      } else {
        EXPECT_EQ(r.status, 202) << r.body;
      }
    }
    EXPECT_GT(unwritable, 0);
    EXPECT_EQ(server.Terminate(), 0);
  }
  // Without the limit every stream is served again.
  ServerProcess server(tmp.path(), flags);
  ASSERT_TRUE(server.ok()) << server.first_line();
  for (size_t i = 0; i < created; ++i) {
    auto r = Call(server, "POST", "/api/v1/streams/s" + std::to_string(i) + "/events",
                  R"({"event_type":"T","payload":{}})");
    EXPECT_EQ(r.status, 202) << "s" << i << ": " << r.body;
  }
}

TEST(HostileInput, StreamsPerOrgAreCapped) {
  TempDir tmp;
  ServerProcess server(tmp.path(), {"--bootstrap-key", kAdmin, "--max-streams-per-org", "3"});
  ASSERT_TRUE(server.ok()) << server.first_line();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(
        Call(server, "POST", "/api/v1/streams", R"({"name":"s)" + std::to_string(i) + "\"}").status,
        201);
  }
  auto over = Call(server, "POST", "/api/v1/streams", R"({"name":"s3"})");
  EXPECT_EQ(over.status, 403) << over.body;
  EXPECT_EQ(Field(over.body, "/error/code"), "quota_exceeded") << over.body;
  // Another org has a quota of its own.
  auto key = Call(server, "POST", "/api/v1/admin/api-keys", R"({"org_id":"other","name":"k"})");
  ASSERT_EQ(key.status, 201) << key.body;
  EXPECT_EQ(server
                .Request("POST", "/api/v1/streams", R"({"name":"s3"})",
                         "X-API-Key: " + Field(key.body, "/api_key") + "\r\n")
                .status,
            201);
  // Deleting one makes room.
  EXPECT_EQ(Call(server, "DELETE", "/api/v1/streams/s0").status, 204);
  EXPECT_EQ(Call(server, "POST", "/api/v1/streams", R"({"name":"s3"})").status, 201);
}

// A schema of definitions d0..d<levels>, each applying the one before twice
// (`descend`: inside property "a", so the doubling is per instance level).
std::string DoublingSchema(int levels, bool descend) {
  std::string defs = R"("d0":{"type":"object"})";
  for (int k = 1; k <= levels; ++k) {
    const std::string prev = R"({"$ref":"#/definitions/d)" + std::to_string(k - 1) + "\"}";
    const std::string both = "{\"allOf\":[" + prev + "," + prev + "]}";
    defs += ",\"d" + std::to_string(k) +
            "\":" + (descend ? "{\"properties\":{\"a\":" + both + "}}" : both);
  }
  return "{\"definitions\":{" + defs + "},\"$ref\":\"#/definitions/d" + std::to_string(levels) +
         "\"}";
}

std::string NestedA(int depth) {
  std::string out;
  for (int i = 0; i < depth; ++i) out += "{\"a\":";
  out += "{}";
  for (int i = 0; i < depth; ++i) out += "}";
  return out;
}

TEST(HostileInput, ExponentialSchemaValidationHungTheServer) {
  TempDir tmp;
  ServerProcess server(tmp.path(), {"--bootstrap-key", kAdmin});
  ASSERT_TRUE(server.ok()) << server.first_line();
  // Doubling in place: refused when the stream is made or patched.
  for (int levels : {25, 60}) {
    auto r = Call(server, "POST", "/api/v1/streams",
                  R"({"name":"x","schema":)" + DoublingSchema(levels, false) + "}");
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(Field(r.body, "/error/code"), "invalid_stream");
    EXPECT_NE(r.body.find("too costly to validate"), std::string::npos) << r.body;
  }
  ASSERT_EQ(Call(server, "POST", "/api/v1/streams", R"({"name":"plain"})").status, 201);
  auto patched = Call(server, "PATCH", "/api/v1/streams/plain",
                      R"({"schema":)" + DoublingSchema(25, false) + "}");
  EXPECT_EQ(patched.status, 400) << patched.body;
  // Doubling per instance level compiles; each event is cut off by the
  // step budget, off the io threads, while the server keeps answering.
  ASSERT_EQ(Call(server, "POST", "/api/v1/streams",
                 R"({"name":"s","schema":)" + DoublingSchema(60, true) + "}")
                .status,
            201);
  const std::string hostile = R"({"event_type":"T","payload":)" + NestedA(60) + "}";
  std::vector<std::thread> attackers;
  std::atomic<int> refused{0};
  for (int i = 0; i < 4; ++i) {
    attackers.emplace_back([&] {
      for (int j = 0; j < 3; ++j) {
        auto r = Call(server, "POST", "/api/v1/streams/s/events", hostile);
        if (r.status == 422 && Field(r.body, "/error/details") ==
                                   R"([{"path":"","message":"too costly to validate"}])") {
          ++refused;
        } else if (r.status != 503) {  // 503 overloaded: the queue was full
          ADD_FAILURE() << r.status << " " << r.body;
        }
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(server.Request("GET", "/healthz").status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    auto r = Call(server, "POST", "/api/v1/streams/s/events",
                  R"({"event_type":"T","payload":{"a":{"a":{}}}})");
    EXPECT_EQ(r.status, 202) << r.body;
  }
  for (auto& t : attackers) t.join();
  EXPECT_GT(refused.load(), 0);
  // A batch names the event that was too costly.
  auto batch = Call(server, "POST", "/api/v1/streams/s/events/batch",
                    R"({"events":[{"event_type":"T","payload":{}},)" + hostile + "]}");
  EXPECT_EQ(batch.status, 422) << batch.body;
  EXPECT_EQ(Field(batch.body, "/error/details/0/index"), "1") << batch.body;
  EXPECT_EQ(Field(batch.body, "/error/details/0/message"), "too costly to validate");
  EXPECT_EQ(server.Terminate(), 0);
}

TEST(HostileInput, ParkedLongPollsHadNoCap) {
  TempDir tmp;
  ServerProcess server(tmp.path(), {"--bootstrap-key", kAdmin, "--max-parked-polls", "2"});
  ASSERT_TRUE(server.ok()) << server.first_line();
  ASSERT_EQ(Call(server, "POST", "/api/v1/streams", R"({"name":"s"})").status, 201);
  auto poll = [&](const std::string& group) {
    return Call(server, "GET",
                "/api/v1/streams/s/consumer-groups/" + group + "/events?timeout=20000");
  };
  // Two polls park (each is collected again on every append).
  auto first = std::async(std::launch::async, [&] { return poll("a"); });
  auto second = std::async(std::launch::async, [&] { return poll("b"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(first.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  // A third is answered at once with what there is: nothing yet.
  const auto t0 = std::chrono::steady_clock::now();
  auto third = poll("c");
  EXPECT_EQ(third.status, 200) << third.body;
  EXPECT_EQ(Field(third.body, "/events"), "[]");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  // The parked ones still get the next event.
  ASSERT_EQ(
      Call(server, "POST", "/api/v1/streams/s/events", R"({"event_type":"T","payload":{}})").status,
      202);
  const std::string got = first.get().body;
  EXPECT_NE(got.find("\"event_type\":\"T\""), std::string::npos) << got;
  EXPECT_NE(second.get().body.find("\"event_type\":\"T\""), std::string::npos);
  // Their places are free again: group a, past the event, parks.
  ASSERT_EQ(Call(server, "POST", "/api/v1/streams/s/consumer-groups/a/offsets",
                 R"({"last_event_id":")" + Field(got, "/next_offset") + "\"}")
                .status,
            200);
  auto parks_again = std::async(std::launch::async, [&] {
    return Call(server, "GET", "/api/v1/streams/s/consumer-groups/a/events?timeout=1500");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(parks_again.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "answered at once: the cap kept the finished polls";
  EXPECT_EQ(parks_again.get().status, 200);
}

TEST(HostileInput, OrgStorageHadNoQuota) {
  TempDir tmp;
  ServerProcess server(tmp.path(), {"--bootstrap-key", kAdmin, "--max-bytes-per-org", "20000"});
  ASSERT_TRUE(server.ok()) << server.first_line();
  ASSERT_EQ(Call(server, "POST", "/api/v1/streams", R"({"name":"s"})").status, 201);
  const std::string event =
      R"({"event_type":"T","payload":{"p":")" + std::string(1000, 'x') + "\"}}";
  int accepted = 0;
  HttpReply refused;
  for (int i = 0; i < 100; ++i) {
    auto r = Call(server, "POST", "/api/v1/streams/s/events", event);
    if (r.status != 202) {
      refused = r;
      break;
    }
    ++accepted;
  }
  EXPECT_EQ(refused.status, 507) << refused.body;
  EXPECT_EQ(Field(refused.body, "/error/code"), "storage_quota_exceeded");
  // ~1 KB each under 20,000 bytes: not one event more than fits.
  EXPECT_GE(accepted, 10);
  EXPECT_LE(accepted, 20);
  // Another org is not held back by this one's quota.
  auto key = Call(server, "POST", "/api/v1/admin/api-keys", R"({"org_id":"other","name":"o"})");
  ASSERT_EQ(key.status, 201) << key.body;
  const std::string other = "X-API-Key: " + Field(key.body, "/api_key") + "\r\n";
  ASSERT_EQ(server.Request("POST", "/api/v1/streams", R"({"name":"s"})", other).status, 201);
  EXPECT_EQ(server.Request("POST", "/api/v1/streams/s/events", event, other).status, 202);
  // Space freed (the stream deleted) is counted within a second.
  ASSERT_EQ(Call(server, "DELETE", "/api/v1/streams/s").status, 204);
  ASSERT_EQ(Call(server, "POST", "/api/v1/streams", R"({"name":"t"})").status, 201);
  int status = 0;
  for (int i = 0; i < 30 && status != 202; ++i) {
    status = Call(server, "POST", "/api/v1/streams/t/events", event).status;
    if (status != 202) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(status, 202);
}

}  // namespace
}  // namespace eventflow
