// Logs and trace context against the real binary: with --log-format json
// every stderr line is a JSON object, and the lines a request causes carry
// its correlation and trace ids; text format at info keeps per-event lines
// out; every answer carries a traceparent for the server's span.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>
#include <map>
#include <set>

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
constexpr char kTrace[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kParent[] = "00f067aa0ba902b7";

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The response's traceparent header value, or "".
std::string TraceparentOf(const HttpReply& r) {
  const auto at = r.head.find("traceparent: ");
  if (at == std::string::npos) return "";
  return r.head.substr(at + 13, r.head.find("\r\n", at) - at - 13);
}

bool IsHex(const std::string& s, size_t n) {
  return s.size() == n && s.find_first_not_of("0123456789abcdef") == std::string::npos &&
         s != std::string(n, '0');
}

class LoggingTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> extra) {
    extra.insert(extra.end(), {"--bootstrap-key", kAdmin, "--segment-bytes", "1048576"});
    log_ = tmp_.path() + "/server.log";
    server_ = std::make_unique<ServerProcess>(tmp_.path() + "/data", extra, log_);
    ASSERT_TRUE(server_->ok()) << server_->first_line();
    ASSERT_EQ(Call("POST", "/api/v1/streams", R"({"name":"orders"})").status, 201);
  }
  HttpReply Call(const std::string& method, const std::string& target, const std::string& body = "",
                 const std::string& headers = "") {
    return server_->Request(method, target, body, kKey + headers);
  }

  TempDir tmp_;
  std::string log_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(LoggingTest, JsonLinesParseAndCarryTheIdsOfTheirRequest) {
  Start({"--log-format", "json", "--log-level", "debug"});
  // A correlation id with a quote and a backslash must come out escaped.
  const std::string cid = R"(req-"7"\x)";
  auto produced = Call(
      "POST", "/api/v1/streams/orders/events", R"({"event_type":"T","payload":{"n":1}})",
      "X-Correlation-ID: " + cid + "\r\ntraceparent: 00-" + kTrace + "-" + kParent + "-01\r\n");
  ASSERT_EQ(produced.status, 202) << produced.body;
  const std::string event_id = Field(produced.body, "/event_id");
  auto committed =
      Call("POST", "/api/v1/streams/orders/consumer-groups/g/offsets",
           "{\"last_event_id\":\"" + event_id + "\"}", "X-Correlation-ID: commit-1\r\n");
  ASSERT_EQ(committed.status, 200) << committed.body;
  const std::string commit_trace = TraceparentOf(committed).substr(3, 32);
  ASSERT_EQ(server_->Terminate(), 0);

  simdjson::dom::parser parser;
  std::map<std::string, int> seen;  // message -> lines of the produce request
  bool commit_logged = false;
  const auto lines = Lines(log_);
  ASSERT_FALSE(lines.empty());
  for (const std::string& line : lines) {
    simdjson::dom::element e;
    ASSERT_EQ(parser.parse(line).get(e), simdjson::SUCCESS) << "not JSON: " << line;
    EXPECT_NE(Field(line, "/time"), "<missing>") << line;
    EXPECT_NE(Field(line, "/level"), "<missing>") << line;
    const std::string msg = Field(line, "/msg");
    if (Field(line, "/correlation_id") == cid) {
      ++seen[msg];
      EXPECT_EQ(Field(line, "/trace_id"), kTrace) << line;
      EXPECT_EQ(Field(line, "/route"), "produce") << line;
      EXPECT_EQ(Field(line, "/stream"), "orders") << line;
      if (msg != "request received") {
        EXPECT_EQ(Field(line, "/api_key_id").size(), 36u) << line;
      }
      if (msg == "event persisted") {
        EXPECT_EQ(Field(line, "/event_id"), event_id);
        EXPECT_EQ(Field(line, "/level"), "debug");
      }
      if (msg == "request completed") {
        EXPECT_EQ(Field(line, "/status"), "202") << line;
        EXPECT_GE(std::stod(Field(line, "/latency_ms")), 0.0) << line;
      }
    }
    if (msg == "offset committed") {
      commit_logged = true;
      EXPECT_EQ(Field(line, "/level"), "info");
      EXPECT_EQ(Field(line, "/correlation_id"), "commit-1");
      EXPECT_EQ(Field(line, "/trace_id"), commit_trace);
      EXPECT_EQ(Field(line, "/group"), "g");
      EXPECT_EQ(Field(line, "/committed_offset"), "0");
    }
  }
  EXPECT_EQ(seen["request received"], 1);
  EXPECT_EQ(seen["event persisted"], 1);
  EXPECT_EQ(seen["request completed"], 1);
  EXPECT_TRUE(commit_logged);
}

TEST_F(LoggingTest, TextAtInfoLogsStepsButNoPerEventLines) {
  Start({"--log-format", "text", "--log-level", "info"});
  auto produced = Call("POST", "/api/v1/streams/orders/events",
                       R"({"event_type":"T","payload":{"n":1}})", "X-Correlation-ID: text-1\r\n");
  ASSERT_EQ(produced.status, 202);
  ASSERT_EQ(Call("POST", "/api/v1/streams/orders/consumer-groups/g/offsets",
                 "{\"last_event_id\":\"" + Field(produced.body, "/event_id") + "\"}",
                 "X-Correlation-ID: text-2\r\n")
                .status,
            200);
  ASSERT_EQ(server_->Terminate(), 0);
  std::string all;
  for (const auto& line : Lines(log_)) all += line + "\n";
  EXPECT_EQ(all.find("event persisted"), std::string::npos) << all;
  EXPECT_EQ(all.find("text-1"), std::string::npos) << all;
  EXPECT_NE(all.find(" info offset committed correlation_id=text-2 "), std::string::npos) << all;
  EXPECT_NE(all.find("stream created"), std::string::npos) << all;
}

TEST_F(LoggingTest, FormatAndLevelComeFromTheEnvironmentToo) {
  ::setenv("EVENTFLOW_LOG_FORMAT", "json", 1);
  ::setenv("EVENTFLOW_LOG_LEVEL", "debug", 1);
  Start({});
  ::unsetenv("EVENTFLOW_LOG_FORMAT");
  ::unsetenv("EVENTFLOW_LOG_LEVEL");
  ASSERT_EQ(Call("GET", "/api/v1/streams", "", "X-Correlation-ID: env-1\r\n").status, 200);
  ASSERT_EQ(server_->Terminate(), 0);
  int mine = 0;
  for (const auto& line : Lines(log_)) {
    EXPECT_EQ(line.front(), '{') << line;
    if (Field(line, "/correlation_id") == "env-1") ++mine;
  }
  EXPECT_EQ(mine, 2);  // received and completed, both at debug
}

TEST_F(LoggingTest, TraceparentRoundTrip) {
  Start({});
  // The caller's trace: same trace id, a new span id.
  auto r = Call("POST", "/api/v1/streams/orders/events", R"({"event_type":"T","payload":{}})",
                std::string("traceparent: 00-") + kTrace + "-" + kParent + "-01\r\n");
  ASSERT_EQ(r.status, 202);
  const std::string tp = TraceparentOf(r);
  ASSERT_EQ(tp.size(), 55u) << r.head;
  EXPECT_EQ(tp.substr(0, 3), "00-");
  EXPECT_EQ(tp.substr(3, 32), kTrace);
  EXPECT_TRUE(IsHex(tp.substr(36, 16), 16)) << tp;
  EXPECT_NE(tp.substr(36, 16), kParent);
  EXPECT_EQ(tp.substr(52), "-01");
  auto stored = Call("GET", "/api/v1/streams/orders/events/" + Field(r.body, "/event_id"));
  EXPECT_EQ(Field(stored.body, "/metadata/context/trace_id"), kTrace);

  // None, or an invalid one: a new trace, which the stored event carries.
  const std::vector<std::string> no_trace = {
      "",
      "traceparent: 00-00000000000000000000000000000000-" + std::string(kParent) + "-01\r\n",
      "traceparent: 00-" + std::string(kTrace) + "-0000000000000000-01\r\n",
      "traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-" + std::string(kParent) + "-01\r\n",
      "traceparent: 00-" + std::string(kTrace) + "-" + kParent + "-01-extra\r\n",
      "traceparent: garbage\r\n",
  };
  std::set<std::string> traces;
  for (const std::string& header : no_trace) {
    auto made =
        Call("POST", "/api/v1/streams/orders/events", R"({"event_type":"T","payload":{}})", header);
    ASSERT_EQ(made.status, 202);
    const std::string new_tp = TraceparentOf(made);
    ASSERT_EQ(new_tp.size(), 55u) << header;
    const std::string trace = new_tp.substr(3, 32);
    EXPECT_TRUE(IsHex(trace, 32)) << new_tp;
    EXPECT_NE(trace, kTrace) << header;
    traces.insert(trace);
    auto got = Call("GET", "/api/v1/streams/orders/events/" + Field(made.body, "/event_id"));
    EXPECT_EQ(Field(got.body, "/metadata/context/trace_id"), trace) << header;
  }
  EXPECT_EQ(traces.size(), no_trace.size()) << "each request starts its own trace";
  // An explicit context.trace_id wins for the event; the answer keeps the header's trace.
  auto explicit_ctx = Call("POST", "/api/v1/streams/orders/events",
                           R"({"event_type":"T","payload":{},"context":{"trace_id":"mine"}})");
  ASSERT_EQ(explicit_ctx.status, 202);
  auto got = Call("GET", "/api/v1/streams/orders/events/" + Field(explicit_ctx.body, "/event_id"));
  EXPECT_EQ(Field(got.body, "/metadata/context/trace_id"), "mine");
  // Errors and routes without a key carry one too.
  EXPECT_EQ(TraceparentOf(server_->Request("GET", "/healthz")).size(), 55u);
  EXPECT_EQ(TraceparentOf(server_->Request("GET", "/api/v1/streams")).size(), 55u);
}

// Dead-letters one event whose nack reason tries to start a log line of its
// own and to drive the terminal (ESC and the C1 CSI).
void DeadLetterWithAForgedReason(const ServerProcess& server, const std::string& key) {
  auto call = [&](const std::string& method, const std::string& target, const std::string& body) {
    return server.Request(method, target, body, key);
  };
  EXPECT_EQ(call("POST", "/api/v1/streams", R"({"name":"poison","max_deliveries":1})").status, 201);
  auto produced =
      call("POST", "/api/v1/streams/poison/events", R"({"event_type":"T","payload":{}})");
  EXPECT_EQ(produced.status, 202);
  const std::string reason =
      R"(x\n2026-12-07T00:00:00.000Z\u0020error\u0020forged\u001b[2J\u009b2J)";
  auto nack = call(
      "POST", "/api/v1/streams/poison/consumer-groups/g/nack",
      R"({"event_id":")" + Field(produced.body, "/event_id") + R"(","reason":")" + reason + "\"}");
  EXPECT_EQ(Field(nack.body, "/dead_lettered"), "true") << nack.body;
}

TEST_F(LoggingTest, NackReasonForgedLogLinesAndTerminalEscapes) {
  for (const std::string format : {"text", "json"}) {
    SCOPED_TRACE(format);
    TempDir dir;
    const std::string log = dir.path() + "/server.log";
    {
      ServerProcess server(dir.path() + "/data",
                           {"--bootstrap-key", kAdmin, "--log-format", format}, log);
      ASSERT_TRUE(server.ok()) << server.first_line();
      DeadLetterWithAForgedReason(server, kKey);
      EXPECT_EQ(server.Terminate(), 0);
    }
    std::ifstream in(log);
    const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(all.find("event dead-lettered"), std::string::npos) << all;
    EXPECT_EQ(all.find("\n2026-12-07T00:00:00.000Z error forged"), std::string::npos) << all;
    EXPECT_EQ(all.find('\x1b'), std::string::npos) << "a raw ESC reached the log";
    EXPECT_EQ(all.find("\xc2\x9b"), std::string::npos) << "a raw CSI reached the log";
    for (const auto& line : Lines(log)) {
      if (line.find("dead-lettered") == std::string::npos) continue;
      EXPECT_NE(line.find("forged"), std::string::npos) << "the reason is on the line: " << line;
      if (format == "json") {
        simdjson::dom::parser parser;
        simdjson::dom::element e;
        EXPECT_FALSE(parser.parse(line).get(e)) << line;
      }
    }
  }
}

TEST_F(LoggingTest, InvalidUtf8WasEchoedRawIntoAJsonError) {
  Start({});
  // A stream name in the path with bytes that are not UTF-8: the 404's
  // message names it, as valid JSON.
  auto r = Call("GET", "/api/v1/streams/bad\xff\xfe\xc0name");
  EXPECT_EQ(r.status, 404) << r.body;
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  EXPECT_FALSE(parser.parse(r.body).get(e)) << r.body;
  EXPECT_EQ(r.body.find('\xff'), std::string::npos) << r.body;
}

}  // namespace
}  // namespace eventflow
