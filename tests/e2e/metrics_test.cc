// GET /metrics against the real binary: exact counter values after a known
// workload, the exposition accepted by `promtool check metrics`, the alert
// rules accepted by `promtool check rules`, --no-metrics, and /readyz with
// the disk (nearly) full.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "tests/e2e/server_process.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::Field;
using testing::HttpReply;
using testing::ServerProcess;
using testing::TempDir;

constexpr char kAdmin[] = "admin-secret-for-tests";
const std::string kKey = std::string("X-API-Key: ") + kAdmin + "\r\n";

// The value of the sample `name` whose labels are exactly `labels`, or NaN.
double Sample(const std::string& text, const std::string& name,
              const std::map<std::string, std::string>& labels = {}) {
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(at, end - at);
    at = end + 1;
    if (line.empty() || line[0] == '#') continue;
    const size_t name_end = line.find_first_of("{ ");
    if (line.substr(0, name_end) != name) continue;
    std::map<std::string, std::string> got;
    size_t value_at = name_end + 1;
    if (line[name_end] == '{') {
      const size_t close = line.find('}', name_end);
      std::string body = line.substr(name_end + 1, close - name_end - 1);
      // label="value",... (our label values hold no quotes or commas)
      size_t p = 0;
      while (p < body.size()) {
        const size_t eq = body.find('=', p);
        const size_t q2 = body.find('"', eq + 2);
        got[body.substr(p, eq - p)] = body.substr(eq + 2, q2 - eq - 2);
        p = q2 + 2;
      }
      value_at = close + 2;
    }
    if (got == labels) return std::stod(line.substr(value_at));
  }
  return std::nan("");
}

std::string Event(int n) {
  return R"({"event_type":"TaskCreated","payload":{"taskId":"t-)" + std::to_string(n) + R"("}})";
}

// Runs a shell command, returns its exit status and output.
int RunShell(const std::string& cmd, std::string* output) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) output->append(buf, n);
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class MetricsTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> extra = {}) {
    extra.insert(extra.end(), {"--bootstrap-key", kAdmin, "--segment-bytes", "1048576"});
    server_ = std::make_unique<ServerProcess>(tmp_.path(), extra);
    ASSERT_TRUE(server_->ok()) << server_->first_line();
  }
  HttpReply Call(const std::string& method, const std::string& target, const std::string& body = "",
                 const std::string& headers = kKey) {
    return server_->Request(method, target, body, headers);
  }
  std::string Scrape() {
    HttpReply r = server_->Request("GET", "/metrics");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.head.find("text/plain; version=0.0.4"), std::string::npos) << r.head;
    return r.body;
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(MetricsTest, CountersAreExactAfterAKnownWorkload) {
  Start();
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"orders"})").status, 201);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Call("POST", "/api/v1/streams/orders/events", Event(i)).status, 202);
  }
  const std::string batch =
      "{\"events\":[" + Event(3) + "," + Event(4) + "," + Event(5) + "," + Event(6) + "]}";
  ASSERT_EQ(Call("POST", "/api/v1/streams/orders/events/batch", batch).status, 202);
  const std::string with_id =
      R"({"event_type":"T","event_id":"0f8fad5b-d9cb-469f-a165-70867728950e","payload":{}})";
  ASSERT_EQ(Call("POST", "/api/v1/streams/orders/events", with_id).status, 202);
  ASSERT_EQ(Call("POST", "/api/v1/streams/orders/events", with_id).status, 200);  // duplicate
  ASSERT_EQ(Call("POST", "/api/v1/streams/orders/events", R"({"payload":{}})").status, 400);
  ASSERT_EQ(Call("GET", "/api/v1/streams", "", "X-API-Key: wrong\r\n").status, 401);
  // A key allowed one request: the second is rate limited.
  auto made = Call("POST", "/api/v1/admin/api-keys",
                   R"({"org_id":"default","name":"slow","rate_limit_per_s":0.001,"burst":1})");
  ASSERT_EQ(made.status, 201);
  const std::string slow = "X-API-Key: " + Field(made.body, "/api_key") + "\r\n";
  ASSERT_EQ(Call("GET", "/api/v1/streams", "", slow).status, 200);
  ASSERT_EQ(Call("GET", "/api/v1/streams", "", slow).status, 429);
  // Group billing commits offset 2 of 0..7: 5 events behind.
  auto poll = Call("GET", "/api/v1/streams/orders/consumer-groups/billing/events?limit=3");
  ASSERT_EQ(poll.status, 200);
  const std::string third = Field(poll.body, "/events/2/event_id");
  ASSERT_EQ(Call("POST", "/api/v1/streams/orders/consumer-groups/billing/offsets",
                 "{\"last_event_id\":\"" + third + "\"}")
                .status,
            200);

  const std::string m = Scrape();
  const std::map<std::string, std::string> orders = {{"org", "default"}, {"stream", "orders"}};
  EXPECT_EQ(Sample(m, "eventflow_ingested_events_total", orders), 8) << m;
  EXPECT_EQ(Sample(m, "eventflow_ingested_bytes_total", orders),
            Sample(m, "eventflow_stream_size_bytes", orders));
  EXPECT_GT(Sample(m, "eventflow_ingested_bytes_total", orders), 8 * 100);
  EXPECT_EQ(Sample(m, "eventflow_stream_events", orders), 8);
  EXPECT_EQ(Sample(m, "eventflow_stream_segments", orders), 1);
  auto requests = [&](const char* route, const char* status) {
    return Sample(m, "eventflow_http_requests_total", {{"route", route}, {"status", status}});
  };
  EXPECT_EQ(requests("create_stream", "201"), 1);
  EXPECT_EQ(requests("produce", "202"), 4);
  EXPECT_EQ(requests("produce", "200"), 1);
  EXPECT_EQ(requests("produce", "400"), 1);
  EXPECT_EQ(requests("produce_batch", "202"), 1);
  EXPECT_EQ(requests("list_streams", "401"), 1);
  EXPECT_EQ(requests("list_streams", "200"), 1);
  EXPECT_EQ(requests("list_streams", "429"), 1);
  EXPECT_EQ(requests("poll", "200"), 1);
  EXPECT_EQ(requests("commit_offset", "200"), 1);
  EXPECT_TRUE(std::isnan(requests("produce", "500")));
  EXPECT_EQ(Sample(m, "eventflow_rate_limited_requests_total"), 1);
  EXPECT_EQ(Sample(m, "eventflow_http_request_duration_seconds_count", {{"route", "produce"}}), 6);
  EXPECT_EQ(Sample(m, "eventflow_http_request_duration_seconds_count", {{"route", "seek"}}), 0);
  // One client waits for each answer, so each produce is its own round: six
  // rounds, of 1, 1, 1, 4, 1 and 0 (the duplicate) events; every round that
  // wrote was flushed once (--fsync always).
  EXPECT_EQ(Sample(m, "eventflow_group_commit_batch_events_count"), 6);
  EXPECT_EQ(Sample(m, "eventflow_group_commit_batch_events_sum"), 8);
  EXPECT_EQ(Sample(m, "eventflow_group_commit_batch_events_bucket", {{"le", "1"}}), 5);
  EXPECT_EQ(Sample(m, "eventflow_fsync_duration_seconds_count"), 5);
  EXPECT_EQ(Sample(m, "eventflow_consumer_lag_events",
                   {{"org", "default"}, {"stream", "orders"}, {"group", "billing"}}),
            5);
  EXPECT_EQ(Sample(m, "eventflow_ready"), 1);
  EXPECT_GT(Sample(m, "eventflow_data_dir_free_bytes"), 0);
  EXPECT_GE(Sample(m, "eventflow_http_open_connections"), 1);  // the scrape's own
  EXPECT_EQ(Sample(m, "eventflow_long_polls_parked"), 0);
}

TEST_F(MetricsTest, RequestsRefusedBeforeRoutingAreCounted) {
  Start();
  // A header over --max-header-bytes (16 KiB) and a request line that is not
  // HTTP: the server answers them itself, before any route is known.
  const std::string big = server_->SendRaw(
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_NE(big.find(" 431 "), std::string::npos) << big.substr(0, 200);
  const std::string garbage = server_->SendRaw("NOT HTTP AT ALL\r\n\r\n");
  EXPECT_NE(garbage.find(" 400 "), std::string::npos) << garbage.substr(0, 200);
  const std::string m = Scrape();
  EXPECT_EQ(Sample(m, "eventflow_http_requests_total", {{"route", "unmatched"}, {"status", "431"}}),
            1)
      << m;
  EXPECT_EQ(Sample(m, "eventflow_http_requests_total", {{"route", "unmatched"}, {"status", "400"}}),
            1)
      << m;
}

TEST_F(MetricsTest, ParkedLongPollIsCountedUntilAnswered) {
  Start();
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"quiet"})").status, 201);
  HttpReply polled;
  std::thread poller([&] {
    polled = Call("GET", "/api/v1/streams/quiet/consumer-groups/g/events?timeout=30000");
  });
  // Wait (bounded) until the poll is parked, then wake it with an event.
  double parked = 0;
  for (int i = 0; i < 200 && parked != 1; ++i) {
    parked = Sample(Scrape(), "eventflow_long_polls_parked");
    if (parked != 1) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(parked, 1);
  ASSERT_EQ(Call("POST", "/api/v1/streams/quiet/events", Event(1)).status, 202);
  poller.join();
  EXPECT_EQ(polled.status, 200);
  EXPECT_EQ(Field(polled.body, "/events/0/payload/taskId"), "t-1");
  EXPECT_EQ(Sample(Scrape(), "eventflow_long_polls_parked"), 0);
}

TEST_F(MetricsTest, PromtoolAcceptsTheExposition) {
  Start();
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"orders"})").status, 201);
  ASSERT_EQ(Call("POST", "/api/v1/streams/orders/events", Event(1)).status, 202);
  ASSERT_EQ(Call("GET", "/api/v1/streams/orders/consumer-groups/g/events").status, 200);
  const std::string path = tmp_.path() + "/metrics.txt";
  std::ofstream(path) << Scrape();
  std::string out;
  EXPECT_EQ(RunShell("promtool check metrics < " + path, &out), 0)
      << out << "(promtool comes with Debian's prometheus package: scripts/setup.sh)";
}

TEST(AlertRules, PromtoolAcceptsTheRules) {
  std::string out;
  EXPECT_EQ(RunShell(std::string("promtool check rules ") + EVENTFLOW_SOURCE_DIR "/docs/alerts.yml",
                     &out),
            0)
      << out;
  EXPECT_NE(out.find("SUCCESS"), std::string::npos) << out;
}

// Rule 8.9 of docs/segment-format.md through the real binary: a page of
// the last batch never reached the disk (a power loss before its flush).
// The restart drops that batch whole, serves the rest, logs the offsets
// and counts the dropped records.
TEST_F(MetricsTest, TornLastBatchIsDroppedWholeAndCounted) {
  Start();
  auto made = Call("POST", "/api/v1/streams", R"({"name":"orders"})");
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string stream_dir = tmp_.path() + "/streams/" + Field(made.body, "/stream_id");
  ASSERT_EQ(Call("POST", "/api/v1/streams/orders/events", Event(0)).status, 202);
  std::string batch = R"({"events":[)";
  for (int i = 1; i <= 400; ++i) batch += (i > 1 ? "," : "") + Event(i);
  ASSERT_EQ(Call("POST", "/api/v1/streams/orders/events/batch", batch + "]}").status, 202);
  EXPECT_EQ(server_->Terminate(), 0);
  const auto files = testing::SegmentFiles(stream_dir);
  ASSERT_EQ(files.size(), 1u);
  {
    // Zero the second 4 KiB page: inside the batch, with more of it after.
    std::fstream seg(files[0], std::ios::in | std::ios::out | std::ios::binary);
    const std::string zeros(4096, '\0');
    seg.seekp(4096);
    seg.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  Start();
  const std::string poll = "/api/v1/streams/orders/consumer-groups/g/events?limit=1000";
  auto got = Call("GET", poll);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(Field(got.body, "/events/0/offset"), "0");
  EXPECT_EQ(Field(got.body, "/events/1"), "<missing>");
  const double dropped = Sample(Scrape(), "eventflow_torn_tail_events_total",
                                {{"org", "default"}, {"stream", "orders"}});
  EXPECT_GT(dropped, 100);
  EXPECT_LT(dropped, 400);
  // The stream takes appends again, at offsets never used before.
  auto again = Call("POST", "/api/v1/streams/orders/events", Event(401));
  ASSERT_EQ(again.status, 202) << again.body;
  EXPECT_EQ(Field(again.body, "/offset"), "401");
  got = Call("GET", "/api/v1/streams/orders/consumer-groups/h/events?limit=1000");
  EXPECT_EQ(Field(got.body, "/events/1/offset"), "401") << got.body;
  EXPECT_EQ(Field(got.body, "/events/2"), "<missing>");
}

TEST_F(MetricsTest, NoMetricsFlagTurnsTheEndpointOff) {
  Start({"--no-metrics"});
  auto r = server_->Request("GET", "/metrics");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Field(r.body, "/error/code"), "not_found");
  EXPECT_EQ(server_->Request("GET", "/healthz").status, 200);
}

TEST_F(MetricsTest, MetricsListenServesMetricsApartFromTheApi) {
  Start({"--metrics-listen", "127.0.0.1:0"});
  unsigned metrics_port = 0;
  const std::string line = server_->NextLine();
  ASSERT_EQ(std::sscanf(line.c_str(), "metrics on 127.0.0.1:%u", &metrics_port), 1) << line;
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"orders"})").status, 201);
  ASSERT_EQ(Call("POST", "/api/v1/streams/orders/events", Event(1)).status, 202);
  // The API listener no longer names tenants' streams at /metrics.
  auto hidden = server_->Request("GET", "/metrics");
  EXPECT_EQ(hidden.status, 404);
  EXPECT_EQ(hidden.body.find("orders"), std::string::npos);
  // The metrics listener serves them, and nothing else.
  auto scraped = server_->RequestOn(static_cast<int>(metrics_port), "GET", "/metrics");
  ASSERT_EQ(scraped.status, 200) << scraped.body;
  EXPECT_EQ(Sample(scraped.body, "eventflow_ingested_events_total",
                   {{"org", "default"}, {"stream", "orders"}}),
            1);
  EXPECT_EQ(
      server_->RequestOn(static_cast<int>(metrics_port), "GET", "/api/v1/streams", "", kKey).status,
      404);
  EXPECT_EQ(server_->RequestOn(static_cast<int>(metrics_port), "GET", "/healthz").status, 404);
  // Both stop on SIGTERM.
  EXPECT_EQ(server_->Terminate(), 0);
  EXPECT_EQ(server_->RequestOn(static_cast<int>(metrics_port), "GET", "/metrics").status, 0);
}

TEST_F(MetricsTest, MetricsListenIsCheckedAtStart) {
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--metrics-listen", "127.0.0.1"},
        std::vector<std::string>{"--metrics-listen", "127.0.0.1:99999"},
        std::vector<std::string>{"--metrics-listen", "127.0.0.1:0", "--no-metrics"}}) {
    ServerProcess refused(tmp_.path(), bad);
    EXPECT_FALSE(refused.ok()) << bad[1];
  }
}

TEST_F(MetricsTest, ADeletedStreamsSeriesAreRemoved) {
  Start();
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"gone"})").status, 201);
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"kept"})").status, 201);
  ASSERT_EQ(Call("POST", "/api/v1/streams/gone/events", Event(1)).status, 202);
  ASSERT_EQ(Call("POST", "/api/v1/streams/kept/events", Event(2)).status, 202);
  const std::map<std::string, std::string> gone = {{"org", "default"}, {"stream", "gone"}};
  EXPECT_EQ(Sample(Scrape(), "eventflow_ingested_events_total", gone), 1);
  ASSERT_EQ(Call("DELETE", "/api/v1/streams/gone").status, 204);
  const std::string after = Scrape();
  EXPECT_EQ(after.find("stream=\"gone\""), std::string::npos) << after;
  EXPECT_EQ(
      Sample(after, "eventflow_ingested_events_total", {{"org", "default"}, {"stream", "kept"}}),
      1);
  // A stream made again under the name starts from zero.
  ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"gone"})").status, 201);
  ASSERT_EQ(Call("POST", "/api/v1/streams/gone/events", Event(3)).status, 202);
  EXPECT_EQ(Sample(Scrape(), "eventflow_ingested_events_total", gone), 1);
}

TEST_F(MetricsTest, ReadyzFailsWhenTheDiskIsAlmostFull) {
  // No filesystem has an exabyte free: the disk counts as full.
  Start({"--min-free-bytes", "1000000000000000000"});
  auto r = server_->Request("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(Field(r.body, "/status"), "not_ready");
  EXPECT_NE(Field(r.body, "/reasons/0").find("disk almost full"), std::string::npos) << r.body;
  EXPECT_EQ(Sample(Scrape(), "eventflow_ready"), 0);
}

TEST_F(MetricsTest, ReadyzFailsWhenTheDataDirCannotBeWritten) {
  Start();
  EXPECT_EQ(server_->Request("GET", "/readyz").status, 200);
  // The data dir vanishes under the server (as a lost mount would): the
  // probe file cannot be created.
  std::filesystem::remove_all(tmp_.path());
  auto r = server_->Request("GET", "/readyz");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(Field(r.body, "/reasons/0").find("is not writable"), std::string::npos) << r.body;
  EXPECT_EQ(Sample(Scrape(), "eventflow_ready"), 0);
}

}  // namespace
}  // namespace eventflow
