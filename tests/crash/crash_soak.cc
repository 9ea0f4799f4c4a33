// crash_soak: kill -9 cycles of the real server under mixed load (single
// and batch produce, a consumer group polling and committing, a stream with
// processing rules produced to and consumed), checking after each restart
// that every acknowledged event is there exactly once and every commit
// answered 200 reads back. scripts/crash-soak.sh runs it; docs/testing.md
// has the figures.
//
//   crash_soak --cycles N --data-dir DIR [--bin PATH] [--seed S]
#include <simdjson.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "tests/e2e/server_process.h"

namespace eventflow::crash {
namespace {

using testing::Field;
using testing::ServerProcess;
using Clock = std::chrono::steady_clock;

constexpr char kAdmin[] = "admin-secret-for-the-soak";
const std::string kKey = std::string("X-API-Key: ") + kAdmin + "\r\n";

struct Shared {
  std::mutex mu;
  // Event ids answered 202 since the last check, and how many in all.
  std::vector<std::string> acked_s, acked_p;
  size_t acked_total_s = 0, acked_total_p = 0;
  int64_t committed = -1;  // last commit of group g answered 200
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> requests{0};
};

std::string Event(std::mt19937_64& rng) {
  return R"({"event_type":"T","payload":{"v":)" + std::to_string(rng() % 1000) + R"(,"pad":")" +
         std::string(50 + rng() % 400, 'x') + R"("}})";
}

void Producer(const ServerProcess& server, Shared& sh, uint64_t seed, bool batch,
              const std::string& stream) {
  std::mt19937_64 rng(seed);
  while (!sh.stop) {
    std::string body;
    if (batch) {
      body = R"({"events":[)";
      const int n = 2 + static_cast<int>(rng() % 40);
      for (int i = 0; i < n; ++i) body += (i ? "," : "") + Event(rng);
      body += "]}";
    } else {
      body = Event(rng);
    }
    auto r = server.Request(
        "POST", "/api/v1/streams/" + stream + "/events" + (batch ? "/batch" : ""), body, kKey);
    sh.requests++;
    if (r.status != 202) continue;
    std::vector<std::string> ids;
    if (batch) {
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      if (parser.parse(r.body).get(doc)) continue;
      for (simdjson::dom::element e : doc["results"].get_array())
        ids.emplace_back(std::string_view(e["event_id"]));
    } else {
      ids.push_back(Field(r.body, "/event_id"));
    }
    std::lock_guard lock(sh.mu);
    auto& acked = stream == "s" ? sh.acked_s : sh.acked_p;
    acked.insert(acked.end(), ids.begin(), ids.end());
  }
}

void Consumer(const ServerProcess& server, Shared& sh, const std::string& stream,
              const std::string& group) {
  const std::string base = "/api/v1/streams/" + stream + "/consumer-groups/" + group;
  while (!sh.stop) {
    auto poll = server.Request("GET", base + "/events?limit=200&timeout=200", "", kKey);
    sh.requests++;
    if (poll.status != 200) continue;
    const std::string next = Field(poll.body, "/next_offset");
    if (next == "<missing>" || next == "null" || Field(poll.body, "/events/0") == "<missing>")
      continue;
    auto c =
        server.Request("POST", base + "/offsets", "{\"last_event_id\":\"" + next + "\"}", kKey);
    sh.requests++;
    if (c.status == 200 && stream == "s") {
      const int64_t off = std::stoll(Field(c.body, "/committed_offset"));
      std::lock_guard lock(sh.mu);
      sh.committed = std::max(sh.committed, off);
    }
  }
}

// Reads `stream` as written (raw: the processed view of p may lag) from
// `from`; adds each id to `present`; false (and says
// why) on an id seen twice or offsets that are not dense.
bool ReadNew(const ServerProcess& server, const std::string& stream, uint64_t* from,
             std::unordered_set<std::string>* present) {
  for (;;) {
    auto page =
        server.Request("GET",
                       "/api/v1/streams/" + stream +
                           "/events?raw=true&limit=1000&from_offset=" + std::to_string(*from),
                       "", kKey);
    if (page.status != 200) {
      std::printf("reading %s failed: %d %s\n", stream.c_str(), page.status, page.body.c_str());
      return false;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(page.body);
    size_t n = 0;
    for (simdjson::dom::element e : doc["events"].get_array()) {
      if (static_cast<uint64_t>(int64_t(e["offset"])) != *from + n) {
        std::printf("%s: offsets not dense at %llu\n", stream.c_str(),
                    static_cast<unsigned long long>(*from + n));
        return false;
      }
      if (!present->insert(std::string(std::string_view(e["event_id"]))).second) {
        std::printf("%s: an event twice at offset %llu\n", stream.c_str(),
                    static_cast<unsigned long long>(*from + n));
        return false;
      }
      ++n;
    }
    if (n == 0) return true;
    *from += n;
  }
}

int Main(int argc, char** argv) {
  int cycles = 100;
  std::string data_dir;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--cycles") {
      cycles = std::stoi(argv[i + 1]);
    } else if (arg == "--data-dir") {
      data_dir = argv[i + 1];
    } else if (arg == "--bin") {
      ::setenv("EVENTFLOW_BIN", argv[i + 1], 1);
    } else if (arg == "--seed") {
      seed = std::stoull(argv[i + 1]);
    } else {
      std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  if (data_dir.empty()) {
    std::fprintf(stderr, "--data-dir is required\n");
    return 2;
  }
  std::filesystem::remove_all(data_dir);
  std::mt19937_64 rng(seed);
  Shared sh;
  // Every id read back, each read once: a later cycle reads only what is
  // new, and checks that the stream still ends where the last one did.
  std::unordered_set<std::string> present_s, present_p;
  uint64_t end_s = 0, end_p = 0;
  double longest_recovery = 0;
  int failures = 0;
  const auto start = Clock::now();
  const std::vector<std::string> flags = {"--bootstrap-key", kAdmin,        "--segment-bytes",
                                          "1048576",         "--log-level", "warn"};
  for (int cycle = 0; cycle <= cycles && failures == 0; ++cycle) {
    const auto spawn = Clock::now();
    ServerProcess server(data_dir, flags);
    if (!server.ok()) {
      std::printf("cycle %d: the server did not start: %s\n", cycle, server.first_line().c_str());
      return 1;
    }
    while (server.Request("GET", "/readyz").status != 200) {
      if (Clock::now() - spawn > std::chrono::seconds(60)) {
        std::printf("cycle %d: not ready after 60 s\n", cycle);
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    longest_recovery =
        std::max(longest_recovery, std::chrono::duration<double>(Clock::now() - spawn).count());
    if (cycle == 0) {
      server.Request("POST", "/api/v1/streams", R"({"name":"s"})", kKey);
      server.Request("POST", "/api/v1/streams",
                     R"({"name":"p","processing":{"rules":[{"type":"filter","where":{"field":)"
                     R"("/payload/v","op":"lt","value":900}},{"type":"transform","set":)"
                     R"({"/payload/seen":true}}]}})",
                     kKey);
    }
    // Every event acknowledged before the kill is here, once.
    if (!ReadNew(server, "s", &end_s, &present_s) || !ReadNew(server, "p", &end_p, &present_p)) {
      ++failures;
      break;
    }
    // What earlier cycles read is still there: each log ends where the
    // reading stopped, not before.
    for (const auto& [name, end] : {std::pair{"s", end_s}, std::pair{"p", end_p}}) {
      auto stream = server.Request("GET", std::string("/api/v1/streams/") + name, "", kKey);
      const std::string last = Field(stream.body, "/last_offset");
      const std::string want = end == 0 ? "null" : std::to_string(end - 1);
      if (last != want) {
        std::printf("cycle %d: stream %s ends at %s, read up to %s\n", cycle, name, last.c_str(),
                    want.c_str());
        ++failures;
      }
    }
    if (failures) break;
    {
      std::lock_guard lock(sh.mu);
      // Ids acknowledged before this cycle's kill (earlier ones were
      // checked by earlier cycles, and the logs have not shrunk since).
      for (const auto& id : sh.acked_s) {
        if (!present_s.count(id)) {
          std::printf("cycle %d: acknowledged event %s of s is missing\n", cycle, id.c_str());
          ++failures;
        }
      }
      for (const auto& id : sh.acked_p) {
        if (!present_p.count(id)) {
          std::printf("cycle %d: acknowledged event %s of p is missing\n", cycle, id.c_str());
          ++failures;
        }
      }
      sh.acked_total_s += sh.acked_s.size();
      sh.acked_total_p += sh.acked_p.size();
      sh.acked_s.clear();
      sh.acked_p.clear();
      auto group = server.Request("GET", "/api/v1/streams/s/consumer-groups/g", "", kKey);
      const std::string got = Field(group.body, "/committed_offset");
      if (sh.committed >= 0 &&
          (got == "null" || got == "<missing>" || std::stoll(got) < sh.committed)) {
        std::printf("cycle %d: group g committed %lld, reads back %s\n", cycle,
                    static_cast<long long>(sh.committed), got.c_str());
        ++failures;
      }
    }
    if (cycle == cycles || failures) break;
    sh.stop = false;
    std::vector<std::thread> load;
    load.emplace_back([&] { Producer(server, sh, rng(), false, "s"); });
    load.emplace_back([&] { Producer(server, sh, rng(), true, "s"); });
    load.emplace_back([&] { Producer(server, sh, rng(), false, "p"); });
    load.emplace_back([&] { Consumer(server, sh, "s", "g"); });
    load.emplace_back([&] { Consumer(server, sh, "p", "pg"); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 1300));
    server.Kill();  // mid-flight: answers not yet read are not acknowledgements
    sh.stop = true;
    for (auto& t : load) t.join();
    if ((cycle + 1) % 50 == 0) {
      std::printf("cycle %d: %zu + %zu acknowledged, %zu + %zu present\n", cycle + 1,
                  sh.acked_total_s, sh.acked_total_p, present_s.size(), present_p.size());
      std::fflush(stdout);
    }
  }
  uint64_t bytes = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(data_dir))
    if (e.is_regular_file()) bytes += e.file_size();
  std::printf(
      "crash_soak: %d kill -9 cycles in %.0f s, %llu requests; acknowledged %zu (s) + %zu (p), "
      "present %zu + %zu (exactly once each); longest recovery %.3f s; data dir %.1f MB; %s\n",
      cycles, std::chrono::duration<double>(Clock::now() - start).count(),
      static_cast<unsigned long long>(sh.requests.load()), sh.acked_total_s, sh.acked_total_p,
      present_s.size(), present_p.size(), longest_recovery, bytes / 1e6,
      failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace eventflow::crash

int main(int argc, char** argv) { return eventflow::crash::Main(argc, argv); }
