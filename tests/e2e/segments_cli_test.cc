// `eventflow segments list|dump|verify` run as the real binary over data
// dirs written by the engine (small segments) and by a real server, with
// bytes flipped and tails cut to check what verify reports.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <sstream>

#include "engine/segment_scan.h"
#include "tests/e2e/cli_process.h"
#include "tests/e2e/server_process.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::CliResult;
using testing::Field;
using testing::ReadFile;
using testing::RunCli;
using testing::TempDir;

struct Written {
  std::string event_id, type, key, payload;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Records of a segment file as the scanner sees them.
std::vector<ScannedRecord> RecordsOf(const std::string& bytes) {
  std::vector<ScannedRecord> out;
  (void)ScanSegment(bytes.data(), bytes.size(), {},
                    [&](const ScannedRecord& r) { out.push_back(r); });
  return out;
}

class SegmentsCliTest : public ::testing::Test {
 protected:
  // Two streams; "orders" gets 60 events in batches of 3 over 4 KiB segments.
  void SetUp() override {
    EngineOptions eo;
    eo.data_dir = tmp_.path();
    eo.segment_bytes = 4096;
    auto engine = Engine::Open(eo);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    auto orders = (*engine)->CreateStream("org", "orders", "{}");
    auto audit = (*engine)->CreateStream("org", "audit", "{}");
    ASSERT_TRUE(orders.ok() && audit.ok());
    orders_id_ = (*orders)->manifest.stream_id.ToString();
    for (int b = 0; b < 20; ++b) {
      std::vector<EventDraft> batch;
      for (int k = 0; k < 3; ++k) {
        const int i = b * 3 + k;
        Written w{"", "Type" + std::to_string(i % 4), "key-" + std::to_string(i),
                  "{\"n\":" + std::to_string(i) + ",\"s\":\"x y\"}"};
        EventDraft d = testing::Draft(w.payload, w.key);
        d.members += ",\"metadata\":{\"event_type\":\"" + w.type + "\"}";
        w.event_id = d.event_id.ToString();
        written_.push_back(w);
        batch.push_back(std::move(d));
      }
      Append(**engine, *orders, std::move(batch));
    }
    Append(**engine, *audit, {testing::Draft("{}")});
    orders_dir_ = tmp_.path() + "/streams/" + orders_id_;
  }

  static void Append(Engine& e, const std::shared_ptr<Stream>& s, std::vector<EventDraft> d) {
    std::promise<void> done;
    e.Append(s, std::move(d), [&](Status st, std::vector<EventAck>) {
      EXPECT_TRUE(st.ok()) << st.ToString();
      done.set_value();
    });
    done.get_future().get();
  }

  std::vector<std::string> Segments() const { return testing::SegmentFiles(orders_dir_); }

  TempDir tmp_;
  std::string orders_id_, orders_dir_;
  std::vector<Written> written_;
};

TEST_F(SegmentsCliTest, ListJsonMatchesWhatWasWritten) {
  CliResult r = RunCli({"segments", "list", "--data-dir", tmp_.path(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.parse(r.out).get(doc)) << r.out;
  simdjson::dom::array streams = doc["streams"].get_array().value();
  ASSERT_EQ(streams.size(), 2u);
  bool found = false;
  for (auto s : streams) {
    if (std::string_view(s["name"].get_string().value()) != "orders") continue;
    found = true;
    EXPECT_EQ(std::string_view(s["stream_id"].get_string().value()), orders_id_);
    simdjson::dom::array segs = s["segments"].get_array().value();
    ASSERT_GE(segs.size(), 3u) << r.out;
    ASSERT_EQ(segs.size(), Segments().size());
    uint64_t next = 0, total = 0, i = 0;
    for (auto seg : segs) {
      EXPECT_EQ(seg["base_offset"].get_uint64().value(), next);
      const uint64_t count = seg["records"].get_uint64().value();
      const uint64_t last = seg["last_offset"].get_uint64().value();
      EXPECT_EQ(last, next + count - 1);
      EXPECT_LE(seg["valid_bytes"].get_uint64().value(), seg["file_bytes"].get_uint64().value());
      EXPECT_EQ(std::string_view(seg["state"].get_string().value()),
                ++i == segs.size() ? "active" : "sealed");
      EXPECT_TRUE(seg["problem"].is_null()) << r.out;
      total += count;
      next = last + 1;
    }
    EXPECT_EQ(total, 60u);
  }
  EXPECT_TRUE(found);
}

TEST_F(SegmentsCliTest, ListByNameOrIdShowsOneStreamAndUnknownIsAnError) {
  for (const std::string& which : {std::string("orders"), orders_id_}) {
    CliResult r = RunCli({"segments", "list", "--data-dir", tmp_.path(), "--stream", which});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("stream " + orders_id_), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("\"audit\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("sealed"), std::string::npos);
    EXPECT_NE(r.out.find("active"), std::string::npos);
    EXPECT_NE(r.out.find("00000000000000000000.seg"), std::string::npos);
  }
  CliResult r = RunCli({"segments", "list", "--data-dir", tmp_.path(), "--stream", "nope"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
  r = RunCli({"segments", "list", "--data-dir", tmp_.path() + "/missing"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.err;
}

TEST_F(SegmentsCliTest, DumpPrintsEveryEventOnceInOrder) {
  CliResult r =
      RunCli({"segments", "dump", "--data-dir", tmp_.path(), "--stream", "orders", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), written_.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(Field(lines[i], "/offset"), std::to_string(i));
    EXPECT_EQ(Field(lines[i], "/event_id"), written_[i].event_id);
    EXPECT_EQ(Field(lines[i], "/event_type"), written_[i].type);
    EXPECT_EQ(Field(lines[i], "/key"), written_[i].key);
    EXPECT_EQ(Field(lines[i], "/payload"), written_[i].payload);
    EXPECT_EQ(Field(lines[i], "/timestamp").size(), 24u);
  }
  // Text form: one line per record with the same fields.
  r = RunCli({"segments", "dump", "--data-dir", tmp_.path(), "--stream", orders_id_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto text = Lines(r.out);
  ASSERT_EQ(text.size(), written_.size());
  EXPECT_EQ(text[7].rfind("7 ", 0), 0u) << text[7];
  EXPECT_NE(text[7].find(written_[7].event_id + " \"Type3\" \"key-7\" {\"n\":7,\"s\":\"x y\"}"),
            std::string::npos)
      << text[7];
}

TEST_F(SegmentsCliTest, DumpFromOffsetWithLimitAndOfOneFile) {
  CliResult r = RunCli({"segments", "dump", "--data-dir", tmp_.path(), "--stream", "orders",
                        "--json", "--from-offset", "25", "--limit", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 7u);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(Field(lines[i], "/offset"), std::to_string(25 + i));
    EXPECT_EQ(Field(lines[i], "/event_id"), written_[25 + i].event_id);
  }
  const std::string second = Segments().at(1);
  const auto records = RecordsOf(ReadFile(second));
  ASSERT_FALSE(records.empty());
  r = RunCli({"segments", "dump", "--json", second});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  lines = Lines(r.out);
  ASSERT_EQ(lines.size(), records.size());
  const uint64_t base = records.front().header.offset;
  EXPECT_GT(base, 0u);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(Field(lines[i], "/offset"), std::to_string(base + i));
    EXPECT_EQ(Field(lines[i], "/event_id"), written_[base + i].event_id);
  }
}

TEST_F(SegmentsCliTest, VerifyOfACleanDirAndOfOneFileSucceeds) {
  CliResult r = RunCli({"segments", "verify", "--data-dir", tmp_.path()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("OK: " + std::to_string(Segments().size() + 1) + " files, 61 records"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("MB/s"), std::string::npos);
  r = RunCli({"segments", "verify", Segments().front()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("OK: 1 files"), std::string::npos) << r.out;
}

TEST_F(SegmentsCliTest, FlippedByteInASealedSegmentIsReportedWithFilePositionAndOffset) {
  const std::string file = Segments().front();
  std::string bytes = ReadFile(file);
  const auto records = RecordsOf(bytes);
  ASSERT_GE(records.size(), 5u);
  const ScannedRecord& victim = records[records.size() / 2];
  {
    FILE* f = std::fopen(file.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    const long pos = static_cast<long>(victim.pos + record::kHeaderSize + 5);
    std::fseek(f, pos, SEEK_SET);
    std::fputc(bytes[static_cast<size_t>(pos)] ^ 0x20, f);
    std::fclose(f);
  }
  const std::string where =
      "byte " + std::to_string(victim.pos) + ", offset " + std::to_string(victim.header.offset);
  for (const std::string& target : {std::string("--data-dir"), std::string("FILE")}) {
    CliResult r = target == "FILE" ? RunCli({"segments", "verify", file})
                                   : RunCli({"segments", "verify", "--data-dir", tmp_.path()});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.out.find("PROBLEM " + file + ": " + where), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("record checksum mismatch"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("FAILED"), std::string::npos) << r.out;
  }
  // Dump stops at the bad record and says so.
  CliResult r = RunCli({"segments", "dump", "--data-dir", tmp_.path(), "--stream", "orders"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(where), std::string::npos) << r.err;
}

TEST_F(SegmentsCliTest, TruncatedTailOfTheLastSegmentIsAWarningNotAFailure) {
  const std::string last = Segments().back();
  const auto records = RecordsOf(ReadFile(last));
  ASSERT_FALSE(records.empty());
  const ScannedRecord& tail = records.back();
  ASSERT_EQ(::truncate(last.c_str(), static_cast<off_t>(tail.pos + tail.size - 3)), 0);
  CliResult r = RunCli({"segments", "verify", "--data-dir", tmp_.path()});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("WARNING " + last), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("torn tail"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not a failure"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("OK:"), std::string::npos) << r.out;
  // The same cut in a sealed segment is corruption.
  const std::string first = Segments().front();
  ASSERT_EQ(::truncate(first.c_str(), static_cast<off_t>(std::filesystem::file_size(first) - 3)),
            0);
  r = RunCli({"segments", "verify", "--data-dir", tmp_.path()});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("PROBLEM " + first), std::string::npos) << r.out;
}

TEST_F(SegmentsCliTest, UsageErrorsExitTwo) {
  const std::string d = tmp_.path();
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"segments"},
           {"segments", "verify"},
           {"segments", "verify", "--data-dir", d, Segments().front()},
           {"segments", "dump", "--data-dir", d},
           {"segments", "dump"},
           {"segments", "list"},
           {"segments", "list", "--data-dir", d, "--bogus"},
           {"segments", "dump", "--data-dir", d, "--stream", "orders", "--limit", "x"}}) {
    CliResult r = RunCli(args);
    EXPECT_EQ(r.exit_code, 2) << args.back() << ": " << r.err;
    EXPECT_FALSE(r.err.empty());
  }
  CliResult r = RunCli({"segments", "verify", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--data-dir"), std::string::npos);
  r = RunCli({"segments", "verify", d + "/no-such.seg"});
  EXPECT_EQ(r.exit_code, 1);
}

TEST(SegmentsCliServerTest, WorksBesideARunningServerAndOnWhatItWrote) {
  TempDir tmp;
  constexpr char kAdmin[] = "admin-secret-for-tests";
  const std::string auth = std::string("X-API-Key: ") + kAdmin + "\r\n";
  testing::ServerProcess server(tmp.path(),
                                {"--bootstrap-key", kAdmin, "--segment-bytes", "65536"});
  ASSERT_TRUE(server.ok()) << server.first_line();
  auto created = server.Request("POST", "/api/v1/streams", "{\"name\":\"tasks\"}", auth);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string sid = Field(created.body, "/stream_id");
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) {
    auto r = server.Request("POST", "/api/v1/streams/tasks/events",
                            "{\"event_type\":\"TaskCreated\",\"key\":\"k" + std::to_string(i) +
                                "\",\"payload\":{\"i\":" + std::to_string(i) + "}}",
                            auth);
    ASSERT_EQ(r.status, 202) << r.body;
    ids.push_back(Field(r.body, "/event_id"));
  }
  // The server holds DATA/LOCK: read-only commands still work.
  CliResult list =
      RunCli({"segments", "list", "--data-dir", tmp.path(), "--stream", "tasks", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(Field(list.out, "/streams/0/stream_id"), sid);
  EXPECT_EQ(Field(list.out, "/streams/0/segments/0/state"), "sealed") << list.out;
  CliResult verify = RunCli({"segments", "verify", "--data-dir", tmp.path()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("300 records"), std::string::npos) << verify.out;
  EXPECT_EQ(server.Terminate(), 0);

  CliResult dump =
      RunCli({"segments", "dump", "--data-dir", tmp.path(), "--stream", sid, "--json"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  const auto lines = Lines(dump.out);
  ASSERT_EQ(lines.size(), 300u);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(Field(lines[i], "/event_id"), ids[i]);
    EXPECT_EQ(Field(lines[i], "/event_type"), "TaskCreated");
    EXPECT_EQ(Field(lines[i], "/key"), "k" + std::to_string(i));
    EXPECT_EQ(Field(lines[i], "/payload"), "{\"i\":" + std::to_string(i) + "}");
  }
}

}  // namespace
}  // namespace eventflow
