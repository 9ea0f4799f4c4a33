// The operator commands that write (repair, compact, index rebuild, keys)
// and POST /api/v1/admin/compact, run against data dirs a real server made:
// refusals beside a running server, compaction killed at each step, repair
// of a flipped byte (also killed midway), a lost index, offline keys.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "engine/segment_scan.h"
#include "formats/uuid.h"
#include "tests/e2e/cli_process.h"
#include "tests/e2e/server_process.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::Field;
using testing::HttpReply;
using testing::RunCli;
using testing::ServerProcess;
using testing::TempDir;

constexpr char kAdmin[] = "admin-secret-for-admin-cli-tests";

struct Produced {
  std::string id;
  std::string key;  // "" = keyless
  uint64_t offset = 0;
};

class AdminCliTest : public ::testing::Test {
 protected:
  void Start() {
    server_ = std::make_unique<ServerProcess>(
        tmp_.path(), std::vector<std::string>{"--bootstrap-key", kAdmin, "--segment-bytes", "65536",
                                              "--cleanup-interval-s", "0"});
    ASSERT_TRUE(server_->ok()) << server_->first_line();
  }
  void Stop() {
    ASSERT_EQ(server_->Terminate(), 0);
    server_.reset();
  }
  HttpReply Call(const std::string& method, const std::string& target, const std::string& body = "",
                 const std::string& secret = kAdmin) {
    return server_->Request(method, target, body, "X-API-Key: " + secret + "\r\n");
  }
  void CreateStream(const std::string& name, const std::string& settings = "") {
    auto r = Call("POST", "/api/v1/streams", "{\"name\":\"" + name + "\"" + settings + "}");
    ASSERT_EQ(r.status, 201) << r.body;
  }
  // `n` events in batches of 100: every fourth keyless, the rest keyed
  // k0..k(keys-1), each ~300 bytes.
  void Produce(const std::string& stream, int n, int keys) {
    for (int i = 0; i < n; i += 100) {
      std::string body = "{\"events\":[";
      std::vector<Produced> batch;
      for (int j = i; j < i + 100 && j < n; ++j) {
        Produced p{Uuid::Random().ToString(), j % 4 == 0 ? "" : "k" + std::to_string(j % keys)};
        if (j > i) body += ",";
        body += "{\"event_type\":\"T\",\"event_id\":\"" + p.id + "\",";
        if (!p.key.empty()) body += "\"key\":\"" + p.key + "\",";
        body += "\"payload\":{\"n\":" + std::to_string(j) + ",\"pad\":\"" + std::string(250, 'z') +
                "\"}}";
        batch.push_back(p);
      }
      body += "]}";
      auto r = Call("POST", "/api/v1/streams/" + stream + "/events/batch", body);
      ASSERT_EQ(r.status, 202) << r.body;
      simdjson::dom::parser parser;
      auto results = parser.parse(r.body)["results"].get_array();
      ASSERT_FALSE(results.error());
      size_t k = 0;
      for (auto res : results.value()) {
        batch[k].offset = res["offset"].get_uint64().value();
        produced_.push_back(batch[k++]);
      }
    }
  }
  // offset -> event_id of every event the stream serves (raw).
  std::map<uint64_t, std::string> Replay(const std::string& stream) {
    std::map<uint64_t, std::string> out;
    uint64_t from = 0;
    while (true) {
      auto r = Call("GET", "/api/v1/streams/" + stream +
                               "/events?raw=true&limit=1000&from_offset=" + std::to_string(from));
      EXPECT_EQ(r.status, 200) << r.body;
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      if (parser.parse(r.body).get(doc)) return out;
      size_t n = 0;
      for (auto e : doc["events"].get_array()) {
        out[e["offset"].get_uint64().value()] = std::string(e["event_id"].get_string().value());
        ++n;
      }
      from = doc["next_from_offset"].get_uint64().value();
      if (n == 0) return out;
    }
  }
  // Checks what compaction may and must leave: every keyless event and the
  // newest of each key stay, at their offsets; nothing else appears; the
  // ids of removed events are unknown to the server. Returns how many went.
  size_t CheckCompacted(const std::string& stream) {
    const auto present = Replay(stream);
    std::map<std::string, uint64_t> newest;
    for (const auto& p : produced_) {
      if (!p.key.empty()) newest[p.key] = p.offset;
    }
    size_t removed = 0;
    for (const auto& p : produced_) {
      auto it = present.find(p.offset);
      const bool must_stay = p.key.empty() || newest[p.key] == p.offset;
      if (it != present.end()) {
        EXPECT_EQ(it->second, p.id) << "offset " << p.offset;
        continue;
      }
      EXPECT_FALSE(must_stay) << "offset " << p.offset << " key " << p.key << " was removed";
      ++removed;
      EXPECT_EQ(Call("GET", "/api/v1/streams/" + stream + "/events/" + p.id).status, 404)
          << "removed event " << p.offset << " is still indexed";
    }
    EXPECT_EQ(present.size() + removed, produced_.size());
    return removed;
  }
  std::vector<std::string> SegmentsOf(const std::string& stream_name) {
    auto r = RunCli({"streams", "list", "--data-dir", tmp_.path(), "--json"});
    simdjson::dom::parser parser;
    for (auto s : parser.parse(r.out)["streams"].get_array()) {
      if (s["name"].get_string().value() == stream_name) {
        return testing::SegmentFiles(tmp_.path() + "/streams/" +
                                     std::string(s["stream_id"].get_string().value()));
      }
    }
    return {};
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::vector<Produced> produced_;
};

TEST_F(AdminCliTest, WriteCommandsRefuseBesideARunningServerReadOnlyOnesWork) {
  Start();
  CreateStream("orders");
  Produce("orders", 10, 3);
  for (std::vector<std::string> args : {std::vector<std::string>{"repair"},
                                        {"compact"},
                                        {"index", "rebuild"},
                                        {"keys", "create", "--org", "acme", "--name", "x"},
                                        {"keys", "revoke", "some-id"}}) {
    args.push_back("--data-dir");
    args.push_back(tmp_.path());
    const CliResult r = RunCli(args);
    EXPECT_EQ(r.exit_code, 1) << args[0];
    EXPECT_NE(r.err.find("LOCK"), std::string::npos) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("refusing"), std::string::npos) << args[0] << ": " << r.err;
  }
  const CliResult keys = RunCli({"keys", "list", "--data-dir", tmp_.path(), "--json"});
  EXPECT_EQ(keys.exit_code, 0) << keys.err;
  EXPECT_EQ(Field(keys.out, "/api_keys/0/org_id"), "default");
  EXPECT_EQ(keys.out.find("hash"), std::string::npos);  // never the secret's hash
  const CliResult streams = RunCli({"streams", "list", "--data-dir", tmp_.path()});
  EXPECT_EQ(streams.exit_code, 0) << streams.err;
  EXPECT_NE(streams.out.find("orders"), std::string::npos);
  // The server is untouched by all of that.
  EXPECT_EQ(Replay("orders").size(), 10u);
}

TEST_F(AdminCliTest, AdminCompactEndpointKeepsTheNewestEventPerKey) {
  Start();
  CreateStream("prices", ",\"cleanup_policy\":\"compact\"");
  Produce("prices", 1200, 20);
  const std::string org_key =
      Field(Call("POST", "/api/v1/admin/api-keys", R"({"org_id":"default","name":"svc"})").body,
            "/api_key");
  EXPECT_EQ(Call("POST", "/api/v1/admin/compact", R"({"stream_id":"prices"})", org_key).status,
            403);
  EXPECT_EQ(Call("POST", "/api/v1/admin/compact", R"({"stream_id":"nope"})").status, 404);
  EXPECT_EQ(Call("POST", "/api/v1/admin/compact", R"({"stream":"prices"})").status, 400);
  auto r = Call("POST", "/api/v1/admin/compact", R"({"stream_id":"prices"})");
  ASSERT_EQ(r.status, 200) << r.body;
  const uint64_t removed = std::stoull(Field(r.body, "/results/0/events_removed"));
  EXPECT_GT(removed, 500u);
  EXPECT_EQ(CheckCompacted("prices"), removed);
  // A removed event's id is free again: it is not a duplicate any more.
  const Produced& gone = produced_[1];
  ASSERT_EQ(Call("GET", "/api/v1/streams/prices/events/" + gone.id).status, 404);
  auto again = Call("POST", "/api/v1/streams/prices/events",
                    R"({"event_type":"T","event_id":")" + gone.id + R"(","payload":{}})");
  EXPECT_EQ(again.status, 202) << again.body;
  // Consumers from the start see the compacted log in offset order.
  auto poll = Call("GET", "/api/v1/streams/prices/consumer-groups/g/events?limit=10000");
  ASSERT_EQ(poll.status, 200);
  EXPECT_EQ(Field(poll.body, "/events/0/offset"), std::to_string(produced_[0].offset));
}

class CompactionCrashTest : public AdminCliTest,
                            public ::testing::WithParamInterface<const char*> {};

TEST_P(CompactionCrashTest, KilledCompactionLeavesTheOldOrTheNewSegment) {
  Start();
  CreateStream("prices", ",\"cleanup_policy\":\"compact\"");
  Produce("prices", 1200, 20);
  Stop();
  const CliResult killed =
      RunCli({"compact", "--data-dir", tmp_.path()}, {{"EVENTFLOW_CRASH_AT", GetParam()}});
  ASSERT_EQ(killed.exit_code, -9) << killed.out << killed.err;
  const CliResult verify = RunCli({"segments", "verify", "--data-dir", tmp_.path()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  Start();
  CheckCompacted("prices");  // whatever happened, nothing wrong is served
  Stop();
  const CliResult done = RunCli({"compact", "--data-dir", tmp_.path()});
  ASSERT_EQ(done.exit_code, 0) << done.out << done.err;
  Start();
  const size_t removed = CheckCompacted("prices");
  EXPECT_GT(removed, 500u);
}

INSTANTIATE_TEST_SUITE_P(Points, CompactionCrashTest,
                         ::testing::Values("compact:before_rename", "compact:after_rename",
                                           "cleanup:before_index"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == ':') c = '_';
                           }
                           return name;
                         });

// Flips a byte inside the payload of the record at `offset` in `file`.
void FlipPayloadByte(const std::string& file, uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  std::optional<uint64_t> at;
  (void)ScanSegment(bytes.data(), bytes.size(), {}, [&](const ScannedRecord& r) {
    if (r.header.offset == offset) at = r.pos + record::kHeaderSize + 30;
  });
  ASSERT_TRUE(at.has_value());
  f.seekp(static_cast<std::streamoff>(*at));
  f.put(static_cast<char>(bytes[*at] ^ 0x21));
}

class RepairCliTest : public AdminCliTest, public ::testing::WithParamInterface<bool> {};

TEST_P(RepairCliTest, RepairSalvagesAroundAFlippedByte) {
  const bool crash_first = GetParam();
  Start();
  CreateStream("orders");
  Produce("orders", 600, 1000);
  Stop();
  const auto files = SegmentsOf("orders");
  ASSERT_GE(files.size(), 3u);
  const uint64_t victim = std::stoull(fs::path(files[1]).stem().string()) + 5;
  FlipPayloadByte(files[1], victim);
  const CliResult bad = RunCli({"segments", "verify", "--data-dir", tmp_.path()});
  EXPECT_EQ(bad.exit_code, 1);
  if (crash_first) {
    const CliResult killed = RunCli({"repair", "--data-dir", tmp_.path()},
                                    {{"EVENTFLOW_CRASH_AT", "repair:after_quarantine"}});
    ASSERT_EQ(killed.exit_code, -9) << killed.out << killed.err;
  }
  const CliResult repaired = RunCli({"repair", "--data-dir", tmp_.path()});
  EXPECT_EQ(repaired.exit_code, 0) << repaired.out << repaired.err;
  EXPECT_NE(repaired.out.find("salvaged"), std::string::npos) << repaired.out;
  EXPECT_NE(repaired.out.find("usable"), std::string::npos) << repaired.out;
  EXPECT_TRUE(fs::exists(files[1] + ".quarantined"));
  const CliResult good = RunCli({"segments", "verify", "--data-dir", tmp_.path()});
  EXPECT_EQ(good.exit_code, 0) << good.out;
  Start();
  const auto present = Replay("orders");
  // The victim's batch (one request of 100) goes whole: repair never keeps
  // part of a batch (docs/segment-format.md rule 8.9).
  const uint64_t batch_first = victim / 100 * 100;
  EXPECT_EQ(present.size(), produced_.size() - 100);
  for (const auto& p : produced_) {
    const bool in_batch = p.offset >= batch_first && p.offset < batch_first + 100;
    EXPECT_EQ(present.count(p.offset), in_batch ? 0u : 1u) << p.offset;
  }
  // A second repair finds nothing to do.
  Stop();
  const CliResult again = RunCli({"repair", "--data-dir", tmp_.path()});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.out.find("nothing to repair"), std::string::npos) << again.out;
}

INSTANTIATE_TEST_SUITE_P(Runs, RepairCliTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "KilledOnce" : "Straight"; });

TEST_F(AdminCliTest, IndexRebuildAfterTheIndexIsLostSaysWhatIsGone) {
  Start();
  CreateStream("orders");
  Produce("orders", 300, 7);
  Stop();
  fs::remove_all(tmp_.path() + "/index");
  const CliResult r = RunCli({"index", "rebuild", "--data-dir", tmp_.path()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("indexed 300 event(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("NOT restored"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("API keys"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("consumer-group positions"), std::string::npos) << r.out;
  Start();  // the bootstrap key is created again: there are no keys
  for (const auto& p : produced_) {
    auto got = Call("GET", "/api/v1/streams/orders/events/" + p.id);
    ASSERT_EQ(got.status, 200) << p.offset;
    EXPECT_EQ(Field(got.body, "/offset"), std::to_string(p.offset));
  }
  // With the index intact, rebuild keeps keys and says so.
  Stop();
  const CliResult kept = RunCli({"index", "rebuild", "--data-dir", tmp_.path()});
  EXPECT_EQ(kept.exit_code, 0);
  EXPECT_NE(kept.out.find("kept: 1 API key(s)"), std::string::npos) << kept.out;
}

TEST_F(AdminCliTest, KeysCreateListRevokeOnAStoppedServer) {
  Start();
  Stop();
  EXPECT_EQ(
      RunCli({"keys", "create", "--data-dir", tmp_.path(), "--org", "not a name", "--name", "x"})
          .exit_code,
      2);
  const CliResult made = RunCli({"keys", "create", "--data-dir", tmp_.path(), "--org", "acme",
                                 "--name", "billing", "--rate-limit", "100"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::string id, secret;
  {
    std::istringstream in(made.out);
    std::string word;
    in >> word >> id >> word >> secret;
  }
  ASSERT_GE(secret.size(), 64u) << made.out;
  const CliResult listed = RunCli({"keys", "list", "--data-dir", tmp_.path()});
  EXPECT_NE(listed.out.find(id), std::string::npos);
  EXPECT_NE(listed.out.find("billing"), std::string::npos);
  EXPECT_EQ(listed.out.find(secret), std::string::npos);
  Start();
  EXPECT_EQ(Call("GET", "/api/v1/streams", "", secret).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/admin/api-keys", "", secret).status, 403);
  Stop();
  EXPECT_EQ(RunCli({"keys", "revoke", "--data-dir", tmp_.path(), id}).exit_code, 0);
  EXPECT_EQ(RunCli({"keys", "revoke", "--data-dir", tmp_.path(), id}).exit_code, 1);
  Start();
  EXPECT_EQ(Call("GET", "/api/v1/streams", "", secret).status, 401);
}

}  // namespace
}  // namespace eventflow
