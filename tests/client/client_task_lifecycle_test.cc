// The "Create Task" lifecycle end to end with real processes: EventFlow, the
// task service (examples/task-lifecycle) and its three consumers. Refusals
// (401, 403, 402, 400, 5xx) write no outbox row; created tasks reach the
// stream and each consumer's effect exactly once, with their correlation and
// trace ids, also while EventFlow and a consumer are killed with SIGKILL.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <ctime>

#include <fstream>
#include <sstream>

#include "client/producer.h"
#include "client/sqlite_util.h"
#include "examples/task-lifecycle/jwt.h"
#include "tests/client/test_server.h"

namespace eventflow::client {
namespace {

using testing::Field;
using testing::RawRequest;
using testing::TestServer;

constexpr char kJwtSecret[] = "lifecycle-test-jwt-secret";

// A child process; with `port` non-null, waits for its "listening on" line.
class Child {
 public:
  Child(std::vector<std::string> args, const std::string& log_path, int* port = nullptr) {
    int out[2];
    if (::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(port ? out[1] : fd, 1);
      ::dup2(fd, 2);
      ::close(out[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    FILE* f = ::fdopen(out[0], "r");
    char line[256] = {};
    unsigned p = 0;
    if (port && std::fgets(line, sizeof line, f) &&
        std::sscanf(line, "listening on 127.0.0.1:%u", &p) == 1) {
      *port = static_cast<int>(p);
    }
    std::fclose(f);
  }
  ~Child() { Signal(SIGKILL); }
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
};

int64_t Query(const std::string& db_path, const std::string& sql) {
  auto db = OpenSqlite(db_path);
  if (!db.ok()) return -1;
  int64_t v = -1;
  {
    Statement st(*db, sql.c_str());
    if (st.Step() == SQLITE_ROW) v = st.Int(0);
  }
  sqlite3_close(*db);
  return v;
}

bool WaitFor(const std::function<bool()>& done, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

std::string Token(const std::string& user, int64_t exp_offset_s = 3600) {
  return tasks::SignHs256(R"({"sub":")" + user + R"(","exp":)" +
                              std::to_string(std::time(nullptr) + exp_offset_s) + "}",
                          kJwtSecret);
}

class TaskLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir("lifecycle");
    server_ = std::make_unique<TestServer>(dir_ + "/data");
    ASSERT_GT(server_->port(), 0) << "server did not start: " << testing::EventflowBinary();
    key_ = server_->CreateKey();
    ASSERT_FALSE(key_.empty());
    ASSERT_EQ(server_->CreateStream(key_, R"({"name":"workflow.task.created","schema":{
        "type":"object","additionalProperties":false,
        "required":["organizationId","projectId","taskId","title","createdBy","createdAt","userId"],
        "properties":{"organizationId":{"type":"string"},"projectId":{"type":"string"},
          "taskId":{"type":"string"},"title":{"type":"string","minLength":1},
          "createdBy":{"type":"string"},"createdAt":{"type":"string"},
          "userId":{"type":"string"}}}})"),
              201);
    for (const char* s : {"organization.member.added", "organization.member.removed",
                          "billing.entitlements.updated"}) {
      ASSERT_EQ(server_->CreateStream(key_, std::string(R"({"name":")") + s + "\"}"), 201);
    }
    Publish("organization.member.added", R"({"organizationId":"org-1","userId":"u1"})");
    Publish("organization.member.added", R"({"organizationId":"org-2","userId":"u4"})");
    Publish("billing.entitlements.updated", R"({"organizationId":"org-1","maxTasks":5000})");
    Publish("billing.entitlements.updated", R"({"organizationId":"org-2","maxTasks":1})");
    db_ = dir_ + "/service.db";
    StartService();
    ASSERT_GT(service_port_, 0);
    ASSERT_TRUE(WaitFor(
        [&] {
          return Query(db_, "SELECT COUNT(*) FROM members") == 2 &&
                 Query(db_, "SELECT COUNT(*) FROM entitlements") == 2;
        },
        20))
        << "the service's caches were not fed";
  }

  void StartService() {
    service_ = std::make_unique<Child>(
        std::vector<std::string>{TASK_SERVICE_BIN, "--listen", "127.0.0.1:0", "--db", db_,
                                 "--server", "127.0.0.1:" + std::to_string(server_->port()),
                                 "--api-key", key_, "--jwt-secret", kJwtSecret},
        dir_ + "/service.log", &service_port_);
  }
  std::unique_ptr<Child> StartConsumer(const std::string& role) {
    return std::make_unique<Child>(
        std::vector<std::string>{TASK_CONSUMER_BIN, "--role", role, "--db",
                                 dir_ + "/" + role + ".db", "--server",
                                 "127.0.0.1:" + std::to_string(server_->port()), "--api-key", key_},
        dir_ + "/" + role + ".log");
  }
  void Publish(const std::string& stream, const std::string& payload) {
    auto producer = Producer::Open(server_->Options(key_));
    Event e;
    e.event_type = "Changed";
    e.payload_json = payload;
    auto ack = (*producer)->Publish(stream, e);
    ASSERT_TRUE(ack.ok()) << ack.error().ToString();
  }
  testing::Reply Post(const std::string& body, const std::string& token,
                      const std::string& headers = "") {
    const std::string req =
        "POST /workflow/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer " +
        token + "\r\n" + headers +
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body;
    return Send(req);
  }
  testing::Reply Send(const std::string& raw_request) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(service_port_));
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    std::string raw;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      ::send(fd, raw_request.data(), raw_request.size(), MSG_NOSIGNAL);
      char buf[16384];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, size_t(n));
    }
    ::close(fd);
    testing::Reply r;
    const auto end = raw.find("\r\n\r\n");
    if (end == std::string::npos) return r;
    r.head = raw.substr(0, end);
    r.body = raw.substr(end + 4);
    std::sscanf(raw.c_str(), "HTTP/1.1 %d", &r.status);
    return r;
  }
  int64_t OutboxRows() { return Query(db_, "SELECT COUNT(*) FROM outbox"); }
  std::vector<std::string> OutboxIds() {
    std::vector<std::string> ids;
    auto db = OpenSqlite(db_);
    {
      Statement st(*db, "SELECT event_id FROM outbox ORDER BY seq");
      while (st.Step() == SQLITE_ROW) ids.push_back(st.Text(0));
    }
    sqlite3_close(*db);
    return ids;
  }
  static std::string Task(const std::string& org = "org-1") {
    return R"({"organizationId":")" + org + R"(","projectId":"p-1","title":"Write docs"})";
  }

  std::string dir_, db_, key_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Child> service_;
  int service_port_ = 0;
};

TEST_F(TaskLifecycleTest, RefusalsAnswerTheRightStatusAndWriteNoOutboxRow) {
  const std::string good = Token("u1");
  // One bit of the signature's first character: every bit of it counts
  // (the last character of a base64url HMAC also carries unused bits).
  std::string tampered = good;
  char& c = tampered[tampered.rfind('.') + 1];
  c = c == 'A' ? 'B' : 'A';
  const std::string none = tasks::Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." +
                           tasks::Base64UrlEncode(R"({"sub":"u1","exp":9999999999})") + ".";
  EXPECT_EQ(Post(Task(), tampered).status, 401);
  EXPECT_EQ(Post(Task(), none).status, 401);
  EXPECT_EQ(Post(Task(), Token("u1", -10)).status, 401);
  EXPECT_EQ(Post(Task(), tasks::SignHs256(R"({"sub":"u1","exp":9999999999})", "other")).status,
            401);
  EXPECT_EQ(Post(Task(), Token("u2")).status, 403);  // not a member
  EXPECT_EQ(Post(R"({"organizationId":"org-1","projectId":"p"})", good).status, 400);
  EXPECT_EQ(Post(R"({"organizationId":"org-1","projectId":"p","title":7})", good).status, 400);
  EXPECT_EQ(Post("{not json", good).status, 400);
  EXPECT_EQ(OutboxRows(), 0);
  // Plan limit: org-2 may hold one task.
  EXPECT_EQ(Post(Task("org-2"), Token("u4")).status, 201);
  const auto over = Post(Task("org-2"), Token("u4"));
  EXPECT_EQ(over.status, 402);
  EXPECT_EQ(Field(over.body, "/error/code"), "plan_limit_reached");
  EXPECT_EQ(OutboxRows(), 1);
  // A failing database write: 5xx, and neither task nor outbox row.
  {
    auto db = OpenSqlite(db_);
    ASSERT_TRUE(Exec(*db,
                     "CREATE TRIGGER fail_tasks BEFORE INSERT ON tasks WHEN NEW.title = 'boom'"
                     " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END;")
                    .ok());
    sqlite3_close(*db);
  }
  const auto boom = Post(R"({"organizationId":"org-1","projectId":"p","title":"boom"})", good);
  EXPECT_EQ(boom.status, 500);
  EXPECT_EQ(OutboxRows(), 1);
  EXPECT_EQ(Query(db_, "SELECT COUNT(*) FROM tasks"), 1);
  // Membership removed through the stream: 403 from then on.
  Publish("organization.member.removed", R"({"organizationId":"org-2","userId":"u4"})");
  ASSERT_TRUE(WaitFor([&] { return Query(db_, "SELECT COUNT(*) FROM members") == 1; }, 20));
  EXPECT_EQ(Post(Task("org-2"), Token("u4")).status, 403);
}

TEST_F(TaskLifecycleTest, TaskReachesTheStreamAndEachConsumerOnceWithItsIds) {
  constexpr int kTasks = 30;
  std::vector<std::string> traces;
  for (int i = 0; i < kTasks; ++i) {
    char trace[33];
    std::snprintf(trace, sizeof trace, "%032x", 0xabc000 + i);
    traces.push_back(trace);
    const auto r = Post(Task(), Token("u1"),
                        "X-Correlation-ID: corr-" + std::to_string(i) + "\r\ntraceparent: 00-" +
                            trace + "-00f067aa0ba902b7-01\r\n");
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_NE(r.head.find("X-Correlation-ID: corr-" + std::to_string(i)), std::string::npos);
    EXPECT_NE(r.head.find(std::string("traceparent: 00-") + trace + "-"), std::string::npos);
    EXPECT_EQ(Field(r.body, "/createdBy"), "u1");
  }
  auto audit = StartConsumer("audit");
  auto analytics = StartConsumer("analytics");
  auto notification = StartConsumer("notification");
  ASSERT_TRUE(WaitFor(
      [&] {
        return Query(dir_ + "/audit.db", "SELECT COUNT(*) FROM audit") == kTasks &&
               Query(dir_ + "/analytics.db", "SELECT SUM(tasks) FROM task_counts") == kTasks &&
               Query(dir_ + "/notification.db", "SELECT COUNT(*) FROM notifications") == kTasks;
      },
      30))
      << "the consumers did not all see " << kTasks << " tasks";
  const auto ids = OutboxIds();
  EXPECT_EQ(server_->StreamEventIds(key_, "workflow.task.created"), ids);
  const auto event =
      server_->Request("GET", "/api/v1/streams/workflow.task.created/events/" + ids[7], "", key_);
  EXPECT_EQ(Field(event.body, "/metadata/context/correlation_id"), "corr-7");
  EXPECT_EQ(Field(event.body, "/metadata/context/trace_id"), traces[7]);
  EXPECT_EQ(Field(event.body, "/key"), "org-1");
  EXPECT_EQ(audit->Signal(SIGTERM), 0);
  std::ifstream log(dir_ + "/audit.log");
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_NE(text.str().find("correlation_id=corr-7 trace_id=" + traces[7]), std::string::npos)
      << text.str().substr(0, 500);
  // The relay's metrics: nothing left, nothing failed.
  const auto metrics = RawRequest(service_port_, "GET", "/metrics", "", "");
  EXPECT_NE(metrics.body.find("task_outbox_backlog 0"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("task_outbox_failed_total 0"), std::string::npos);
}

TEST_F(TaskLifecycleTest, ThousandTasksWhileEventFlowAndAConsumerAreKilled) {
  constexpr int kTasks = 1000;
  auto audit = StartConsumer("audit");
  auto analytics = StartConsumer("analytics");
  auto notification = StartConsumer("notification");
  for (int i = 0; i < kTasks; ++i) {
    if (i == 300 || i == 650) {
      server_->Kill();  // the service keeps answering 201: the outbox holds the events
    }
    if (i == 400 || i == 750) {
      ASSERT_TRUE(server_->Start());
    }
    if (i == 500) {
      audit->Signal(SIGKILL);
      audit = StartConsumer("audit");
    }
    const auto r = Post(Task(), Token("u1"));
    ASSERT_EQ(r.status, 201) << "task " << i << ": " << r.body;
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        return Query(dir_ + "/audit.db", "SELECT COUNT(*) FROM audit") == kTasks &&
               Query(dir_ + "/analytics.db", "SELECT SUM(tasks) FROM task_counts") == kTasks &&
               Query(dir_ + "/notification.db", "SELECT COUNT(*) FROM notifications") == kTasks;
      },
      90))
      << "audit " << Query(dir_ + "/audit.db", "SELECT COUNT(*) FROM audit");
  EXPECT_EQ(server_->StreamEventIds(key_, "workflow.task.created"), OutboxIds())
      << "an event was lost, doubled or reordered";
  EXPECT_EQ(Query(dir_ + "/audit.db", "SELECT COUNT(DISTINCT task_id) FROM audit"), kTasks);
}

}  // namespace
}  // namespace eventflow::client
