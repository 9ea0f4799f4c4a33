// Data directories written by older builds, served by this one: settings
// stored before their ranges existed are clamped (and logged), a schema
// stored before the cost bound keeps validating under the step budget and is
// flagged, and every stored event is still there.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/e2e/cli_process.h"
#include "tests/e2e/server_process.h"
#include "tests/engine/test_util.h"

namespace eventflow {
namespace {

using testing::CliResult;
using testing::Field;
using testing::HttpReply;
using testing::RunCli;
using testing::ServerProcess;
using testing::TempDir;

constexpr char kAdmin[] = "admin-secret-for-tests";
const std::string kAuth = std::string("X-API-Key: ") + kAdmin + "\r\n";

// Unpacks tests/fixtures/<name> into `dir`; its data dir is dir/data.
bool Unpack(const std::string& name, const std::string& dir) {
  const std::string cmd = "tar -xzf '" + std::string(EVENTFLOW_SOURCE_DIR) + "/tests/fixtures/" +
                          name + "' -C '" + dir + "'";
  return std::system(cmd.c_str()) == 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(UpgradeFromAe72254, StoredSettingsAreClampedAndACostlySchemaIsFlaggedNotDropped) {
  TempDir tmp;
  ASSERT_TRUE(Unpack("datadir-ae72254.tar.gz", tmp.path()));
  const std::string log = tmp.path() + "/server.log";
  ServerProcess server(tmp.path() + "/data", {}, log);
  ASSERT_TRUE(server.ok()) << server.first_line();
  auto call = [&](const std::string& method, const std::string& target,
                  const std::string& body = "") {
    return server.Request(method, target, body, kAuth);
  };

  // Out-of-range numbers stored by ae72254 are served clamped.
  auto old = call("GET", "/api/v1/streams/old");
  ASSERT_EQ(old.status, 200) << old.body;
  EXPECT_EQ(Field(old.body, "/max_deliveries"), "1000");
  EXPECT_EQ(Field(old.body, "/retention/max_age_s"), "3153600000");
  EXPECT_EQ(Field(old.body, "/event_count"), "3");
  // A cleanup run keeps every event (the stored age used to overflow).
  EXPECT_EQ(call("POST", "/api/v1/admin/compact", R"({"stream_id":"old"})").status, 200);
  EXPECT_EQ(Field(call("GET", "/api/v1/streams/old").body, "/event_count"), "3");

  // The schema past today's cost bound still validates, and says so.
  auto costly = call("GET", "/api/v1/streams/costly");
  ASSERT_EQ(costly.status, 200) << costly.body;
  EXPECT_NE(Field(costly.body, "/warnings/0").find("too costly to validate"), std::string::npos)
      << costly.body;
  EXPECT_NE(Field(costly.body, "/schema"), "null");
  EXPECT_EQ(
      call("POST", "/api/v1/streams/costly/events", R"({"event_type":"T","payload":{}})").status,
      422);
  EXPECT_EQ(call("POST", "/api/v1/streams/costly/events", R"({"event_type":"T","payload":{"a":4}})")
                .status,
            202);
  EXPECT_EQ(Field(call("GET", "/api/v1/streams/costly").body, "/event_count"), "4");
  // A new stream cannot be given that schema any more.
  const std::string stored_schema = Field(costly.body, "/schema");
  auto refused =
      call("POST", "/api/v1/streams", R"({"name":"again","schema":)" + stored_schema + "}");
  EXPECT_EQ(refused.status, 400) << refused.body;
  // Replacing it with a cheap schema clears the warning.
  auto patched = call("PATCH", "/api/v1/streams/costly", R"({"schema":{"type":"object"}})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(Field(patched.body, "/warnings"), "<missing>");

  EXPECT_EQ(server.Terminate(), 0);
  const std::string logged = ReadFile(log);
  EXPECT_NE(logged.find("max_deliveries 4294967296 clamped to 1000"), std::string::npos) << logged;
  EXPECT_NE(logged.find("too costly to validate"), std::string::npos) << logged;
}

// Segments of version-1 records (no synced-before mark) take version-2
// appends in the same file, and both read back after a restart and verify.
TEST(UpgradeFromAe72254, Version1RecordsAreReadBesideVersion2Appends) {
  TempDir tmp;
  ASSERT_TRUE(Unpack("datadir-ae72254.tar.gz", tmp.path()));
  const std::string data = tmp.path() + "/data";
  std::string first_id;
  {
    ServerProcess server(data, {});
    ASSERT_TRUE(server.ok()) << server.first_line();
    for (int i = 4; i <= 5; ++i) {
      auto r =
          server.Request("POST", "/api/v1/streams/old/events",
                         R"({"event_type":"T","payload":{"i":)" + std::to_string(i) + "}}", kAuth);
      ASSERT_EQ(r.status, 202) << r.body;
    }
    EXPECT_EQ(server.Terminate(), 0);
  }
  ServerProcess server(data, {});
  ASSERT_TRUE(server.ok()) << server.first_line();
  auto got =
      server.Request("GET", "/api/v1/streams/old/consumer-groups/up/events?limit=10", "", kAuth);
  ASSERT_EQ(got.status, 200) << got.body;
  for (int i = 0; i < 5; ++i) {
    const std::string pointer = "/events/" + std::to_string(i) + "/payload/i";
    EXPECT_EQ(Field(got.body, pointer.c_str()), std::to_string(i + 1)) << got.body;
  }
  EXPECT_EQ(Field(got.body, "/events/5"), "<missing>");
  EXPECT_EQ(server.Terminate(), 0);
  CliResult verify = RunCli({"segments", "verify", "--data-dir", data});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("OK: "), std::string::npos) << verify.out;
}

}  // namespace
}  // namespace eventflow
