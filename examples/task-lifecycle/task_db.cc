#include "examples/task-lifecycle/task_db.h"

#include <chrono>
#include <ctime>

#include "client/outbox.h"
#include "client/sqlite_util.h"
#include "formats/json_writer.h"
#include "formats/uuid.h"

namespace tasks {

namespace ec = eventflow::client;

namespace {

std::string NowRfc3339() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  const std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count() % 1000));
  return buf;
}

void Member(std::string* out, const char* name, const std::string& value, bool first = false) {
  if (!first) out->push_back(',');
  eventflow::json::AppendString(out, name);
  out->push_back(':');
  eventflow::json::AppendString(out, value);
}

}  // namespace

ec::Result<std::unique_ptr<TaskDb>> TaskDb::Open(const std::string& path) {
  auto db = ec::OpenSqlite(path);
  if (!db.ok()) return db.error();
  std::unique_ptr<TaskDb> out(new TaskDb(*db));
  ec::Status s =
      ec::Exec(out->db_,
               "CREATE TABLE IF NOT EXISTS tasks(task_id TEXT PRIMARY KEY,"
               " organization_id TEXT NOT NULL, project_id TEXT NOT NULL,"
               " title TEXT NOT NULL, created_by TEXT NOT NULL, created_at TEXT NOT NULL);"
               "CREATE TABLE IF NOT EXISTS members(organization_id TEXT, user_id TEXT,"
               " PRIMARY KEY(organization_id, user_id));"
               "CREATE TABLE IF NOT EXISTS entitlements(organization_id TEXT PRIMARY KEY,"
               " max_tasks INTEGER NOT NULL);");
  if (s.ok()) s = ec::CreateOutboxTable(out->db_);
  if (!s.ok()) return s.error();
  return out;
}

TaskDb::~TaskDb() { sqlite3_close(db_); }

ec::Status TaskDb::SetMember(const std::string& org, const std::string& user, bool member) {
  std::lock_guard lock(mu_);
  ec::Statement st(db_, member ? "INSERT OR IGNORE INTO members VALUES (?1, ?2)"
                               : "DELETE FROM members WHERE organization_id = ?1 AND user_id = ?2");
  st.Bind(1, org);
  st.Bind(2, user);
  if (st.Step() != SQLITE_DONE) return ec::SqliteError(db_, "update members");
  return ec::Status::Ok();
}

ec::Status TaskDb::SetTaskLimit(const std::string& org, int64_t max_tasks) {
  std::lock_guard lock(mu_);
  ec::Statement st(db_, "INSERT OR REPLACE INTO entitlements VALUES (?1, ?2)");
  st.Bind(1, org);
  st.Bind(2, max_tasks);
  if (st.Step() != SQLITE_DONE) return ec::SqliteError(db_, "update entitlements");
  return ec::Status::Ok();
}

ec::Result<int64_t> TaskDb::Backlog() {
  std::lock_guard lock(mu_);
  return ec::CountOutbox(db_, ec::OutboxState::kPending);
}

ec::Result<CreatedTask> TaskDb::CreateTask(const NewTask& t, Refusal* refusal) {
  std::lock_guard lock(mu_);
  *refusal = Refusal::kStorage;
  {
    ec::Statement st(db_, "SELECT 1 FROM members WHERE organization_id = ?1 AND user_id = ?2");
    st.Bind(1, t.organization_id);
    st.Bind(2, t.user_id);
    if (st.Step() != SQLITE_ROW) {
      *refusal = Refusal::kNotMember;
      return ec::MakeError(403, "forbidden", "user is not a member of the organization");
    }
  }
  ec::Status s = ec::Exec(db_, "BEGIN IMMEDIATE");
  if (!s.ok()) return s.error();
  auto fail = [&](ec::Error e) {
    (void)ec::Exec(db_, "ROLLBACK");
    return e;
  };
  int64_t limit = kDefaultTaskLimit, count = 0;
  {
    ec::Statement st(db_, "SELECT max_tasks FROM entitlements WHERE organization_id = ?1");
    st.Bind(1, t.organization_id);
    if (st.Step() == SQLITE_ROW) limit = st.Int(0);
    ec::Statement c(db_, "SELECT COUNT(*) FROM tasks WHERE organization_id = ?1");
    c.Bind(1, t.organization_id);
    if (c.Step() != SQLITE_ROW) return fail(ec::SqliteError(db_, "count tasks"));
    count = c.Int(0);
  }
  if (count >= limit) {
    *refusal = Refusal::kOverLimit;
    return fail(
        ec::MakeError(402, "plan_limit_reached",
                      "the organization's plan allows " + std::to_string(limit) + " tasks"));
  }
  CreatedTask out;
  out.task_id = eventflow::Uuid::Random().ToString();
  out.created_at = NowRfc3339();
  {
    ec::Statement st(db_, "INSERT INTO tasks VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    st.Bind(1, out.task_id);
    st.Bind(2, t.organization_id);
    st.Bind(3, t.project_id);
    st.Bind(4, t.title);
    st.Bind(5, t.user_id);
    st.Bind(6, out.created_at);
    if (st.Step() != SQLITE_DONE) return fail(ec::SqliteError(db_, "insert task"));
  }
  // The seed's TaskCreated event.
  out.json = "{";
  Member(&out.json, "organizationId", t.organization_id, true);
  Member(&out.json, "projectId", t.project_id);
  Member(&out.json, "taskId", out.task_id);
  Member(&out.json, "title", t.title);
  Member(&out.json, "createdBy", t.user_id);
  Member(&out.json, "createdAt", out.created_at);
  Member(&out.json, "userId", t.user_id);
  out.json += "}";
  ec::OutboxMessage m;
  m.stream = "workflow.task.created";
  m.event_type = "TaskCreated";
  m.key = t.organization_id;
  m.payload_json = out.json;
  m.correlation_id = t.correlation_id;
  m.trace_id = t.trace_id;
  m.occurred_at = out.created_at;
  auto id = ec::EnqueueOutbox(db_, m);
  if (!id.ok()) return fail(id.error());
  out.event_id = *id;
  s = ec::Exec(db_, "COMMIT");
  if (!s.ok()) return fail(s.error());
  *refusal = Refusal::kNone;
  return out;
}

}  // namespace tasks
