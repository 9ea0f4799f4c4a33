// OutboxRelay against the real server: order, marks, refused rows, a server
// that is away; and (lifecycle) the relay process killed with SIGKILL at
// random points, and the server killed under it: every outbox row is in the
// stream exactly once, in outbox order.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <random>
#include <thread>

#include "client/outbox.h"
#include "client/outbox_relay.h"
#include "client/sqlite_util.h"
#include "tests/client/test_server.h"

namespace eventflow::client {
namespace {

using testing::Field;
using testing::TestServer;

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir("relay");
    server_ = std::make_unique<TestServer>(dir_ + "/data");
    ASSERT_GT(server_->port(), 0) << "server did not start: " << testing::EventflowBinary();
    key_ = server_->CreateKey();
    ASSERT_FALSE(key_.empty());
    ASSERT_EQ(server_->CreateStream(key_, R"({"name":"workflow.task.created","schema":{
        "type":"object","required":["taskId"],"properties":{"taskId":{"type":"string"}}}})"),
              201);
    db_path_ = dir_ + "/service.db";
    auto db = OpenSqlite(db_path_);
    ASSERT_TRUE(db.ok());
    db_ = *db;
    ASSERT_TRUE(CreateOutboxTable(db_).ok());
  }
  void TearDown() override { sqlite3_close(db_); }

  // Adds `n` rows in one transaction; `bad` indexes get a payload the
  // stream's schema refuses. Returns their event ids in order.
  std::vector<std::string> Enqueue(int n, std::set<int> bad = {}) {
    std::vector<std::string> ids;
    EXPECT_TRUE(Exec(db_, "BEGIN").ok());
    for (int i = 0; i < n; ++i) {
      OutboxMessage m;
      m.stream = "workflow.task.created";
      m.event_type = "TaskCreated";
      m.key = "org-" + std::to_string(i % 7);
      m.payload_json =
          bad.count(i) ? R"({"taskId":42})" : R"({"taskId":"t-)" + std::to_string(i) + R"("})";
      m.correlation_id = "corr-" + std::to_string(i);
      auto id = EnqueueOutbox(db_, m);
      EXPECT_TRUE(id.ok());
      if (id.ok()) ids.push_back(*id);
    }
    EXPECT_TRUE(Exec(db_, "COMMIT").ok());
    return ids;
  }
  int64_t Count(OutboxState state) {
    auto n = CountOutbox(db_, state);
    return n.ok() ? *n : -1;
  }
  ClientOptions Options() const {
    ClientOptions o = server_->Options(key_);
    o.backoff = Backoff{std::chrono::milliseconds(20), std::chrono::milliseconds(200)};
    return o;
  }
  RelayOptions Relay() const {
    RelayOptions r;
    r.db_path = db_path_;
    r.batch_size = 100;
    r.log = [](const std::string&) {};
    return r;
  }
  std::vector<std::string> StreamIds() const {
    return server_->StreamEventIds(key_, "workflow.task.created");
  }

  std::string dir_;
  std::string db_path_;
  std::unique_ptr<TestServer> server_;
  std::string key_;
  sqlite3* db_ = nullptr;
};

TEST_F(RelayTest, PublishesRowsInOrderAndMarksThemPublished) {
  const auto ids = Enqueue(250);
  auto relay = OutboxRelay::Open(Options(), Relay());
  ASSERT_TRUE(relay.ok()) << relay.error().ToString();
  int settled = 0;
  for (Result<int> r = 1; r.ok() && *r > 0;) {
    r = (*relay)->RunOnce();
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    settled += *r;
  }
  EXPECT_EQ(settled, 250);
  EXPECT_EQ(StreamIds(), ids);
  EXPECT_EQ(Count(OutboxState::kPublished), 250);
  EXPECT_EQ(Count(OutboxState::kPending), 0);
  EXPECT_EQ((*relay)->stats().published, 250u);
  // The row's key and correlation id travel with the event.
  const auto event =
      server_->Request("GET", "/api/v1/streams/workflow.task.created/events/" + ids[3], "", key_);
  EXPECT_EQ(Field(event.body, "/key"), "org-3");
  EXPECT_EQ(Field(event.body, "/metadata/context/correlation_id"), "corr-3");
}

TEST_F(RelayTest, RefusedRowIsMarkedFailedAndDoesNotBlockTheRowsBehindIt) {
  const auto ids = Enqueue(6, {2});
  std::vector<std::string> logged;
  RelayOptions ro = Relay();
  ro.log = [&](const std::string& line) { logged.push_back(line); };
  auto relay = OutboxRelay::Open(Options(), ro);
  ASSERT_TRUE(relay.ok());
  auto r = (*relay)->RunOnce();
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, 6);
  std::vector<std::string> good = ids;
  good.erase(good.begin() + 2);
  EXPECT_EQ(StreamIds(), good);
  EXPECT_EQ(Count(OutboxState::kFailed), 1);
  EXPECT_EQ(Count(OutboxState::kPublished), 5);
  EXPECT_EQ((*relay)->stats().failed, 1u);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("schema_validation_failed"), std::string::npos) << logged[0];
  Statement st(db_, "SELECT event_id, error FROM outbox WHERE state = 2");
  ASSERT_EQ(st.Step(), SQLITE_ROW);
  EXPECT_EQ(st.Text(0), ids[2]);
  EXPECT_NE(st.Text(1).find("422"), std::string::npos);
}

TEST_F(RelayTest, RowsStayPendingWhileTheServerIsDownThenGoOut) {
  const auto ids = Enqueue(20);
  ClientOptions o = Options();
  o.max_attempts = 2;
  auto relay = OutboxRelay::Open(o, Relay());
  ASSERT_TRUE(relay.ok());
  server_->Kill();
  auto r = (*relay)->RunOnce();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().retryable());
  EXPECT_EQ(Count(OutboxState::kPending), 20);
  EXPECT_EQ((*relay)->stats().publish_errors, 1u);
  ASSERT_TRUE(server_->Start());
  auto backlog = (*relay)->Backlog();
  ASSERT_TRUE(backlog.ok());
  EXPECT_EQ(*backlog, 20);
  r = (*relay)->RunOnce();
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(StreamIds(), ids);
}

// Runs ef_outbox_relay as a child process.
class RelayProcess {
 public:
  // Returns once the relay has said "relay started" (its signal handlers
  // are in place).
  RelayProcess(const std::string& db, int port, const std::string& key) {
    int out[2];
    if (::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      const std::string server = "127.0.0.1:" + std::to_string(port);
      const char* argv[] = {
          EF_OUTBOX_RELAY_BIN, "--db",      db.c_str(), "--server", server.c_str(),
          "--api-key",         key.c_str(), "--batch",  "100",      nullptr};
      ::execv(argv[0], const_cast<char**>(argv));
      ::_exit(127);
    }
    ::close(out[1]);
    FILE* f = ::fdopen(out[0], "r");
    char line[64] = {};
    started_ = std::fgets(line, sizeof line, f) != nullptr;
    std::fclose(f);
  }
  bool started() const { return started_; }
  ~RelayProcess() { Signal(SIGKILL); }
  // Returns the exit status, or -signal.
  int Signal(int sig) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  bool started_ = false;
};

bool WaitFor(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

TEST_F(RelayTest, RelayKilledMidBatchAndRestartedPublishesEveryRowExactlyOnce) {
  const auto ids = Enqueue(3000);
  std::mt19937 rng(std::random_device{}());
  for (int kill = 0; kill < 6; ++kill) {
    RelayProcess relay(db_path_, server_->port(), key_);
    ASSERT_TRUE(relay.started());
    const int64_t before = Count(OutboxState::kPending);
    // Until it has made some progress, then at a random moment after.
    WaitFor(
        [&] {
          const int64_t now = Count(OutboxState::kPending);
          return now < before || now == 0;
        },
        std::chrono::seconds(20));
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 150));
    EXPECT_EQ(relay.Signal(SIGKILL), -SIGKILL);
  }
  {
    RelayProcess relay(db_path_, server_->port(), key_);
    ASSERT_TRUE(relay.started());
    ASSERT_TRUE(
        WaitFor([&] { return Count(OutboxState::kPending) == 0; }, std::chrono::seconds(60)))
        << Count(OutboxState::kPending) << " rows still pending";
    EXPECT_EQ(relay.Signal(SIGTERM), 0);
  }
  EXPECT_EQ(Count(OutboxState::kPublished), 3000);
  EXPECT_EQ(StreamIds(), ids) << "a row was lost, doubled or reordered";
}

TEST_F(RelayTest, ServerKilledTwiceUnderARunningRelayLosesAndDoublesNothing) {
  const auto ids = Enqueue(3000);
  RelayProcess relay(db_path_, server_->port(), key_);
  ASSERT_TRUE(relay.started());
  for (int round = 0; round < 2; ++round) {
    const int64_t before = Count(OutboxState::kPending);
    WaitFor(
        [&] {
          const int64_t now = Count(OutboxState::kPending);
          return now < before || now == 0;
        },
        std::chrono::seconds(20));
    server_->Kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_TRUE(server_->Start());
  }
  ASSERT_TRUE(WaitFor([&] { return Count(OutboxState::kPending) == 0; }, std::chrono::seconds(60)))
      << Count(OutboxState::kPending) << " rows still pending";
  EXPECT_EQ(relay.Signal(SIGTERM), 0);
  EXPECT_EQ(StreamIds(), ids) << "a row was lost, doubled or reordered";
}

}  // namespace
}  // namespace eventflow::client
