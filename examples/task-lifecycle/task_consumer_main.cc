// task_consumer: one of the three consumers of workflow.task.created, each in
// its own consumer group, each applying its effect and recording the event
// id in one SQLite transaction, so a redelivered event changes nothing.
//   audit         one audit row per task
//   analytics     a counter per organization and day
//   notification  one notification record per task (for the creator)
// Logs one line per event with its correlation and trace ids. Stops on
// SIGTERM after committing what it handled.
//   task_consumer --role audit --db PATH --server HOST:PORT --api-key KEY
#include <simdjson.h>

#include <csignal>
#include <cstdio>
#include <map>
#include <string>

#include "client/consumer.h"
#include "client/sqlite_util.h"

namespace ec = eventflow::client;

namespace {

ec::Consumer* g_consumer = nullptr;
void OnSignal(int) {
  if (g_consumer != nullptr) g_consumer->Stop();
}

std::string Str(simdjson::dom::element e, const char* key) {
  std::string_view s;
  return e[key].get(s) ? std::string() : std::string(s);
}

// Applies `role`'s effect of `event` and records its id, in one transaction.
ec::Status Apply(sqlite3* db, const std::string& role, const ec::ReceivedEvent& event) {
  simdjson::dom::parser parser;
  simdjson::dom::element p;
  if (parser.parse(event.payload_json).get(p)) return ec::MakeError(0, "bad_event", "payload");
  const std::string org = Str(p, "organizationId"), task = Str(p, "taskId");
  const std::string user = Str(p, "userId"), created = Str(p, "createdAt");
  ec::Status s = ec::Exec(db, "BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  ec::Statement seen(db, "INSERT OR IGNORE INTO processed_events VALUES (?1)");
  seen.Bind(1, event.event_id);
  if (seen.Step() != SQLITE_DONE) {
    (void)ec::Exec(db, "ROLLBACK");
    return ec::SqliteError(db, "record event id");
  }
  if (sqlite3_changes(db) == 0) {  // already applied: a redelivery
    (void)ec::Exec(db, "ROLLBACK");
    return ec::Status::Ok();
  }
  const char* sql = role == "audit" ? "INSERT INTO audit VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                    : role == "analytics"
                        ? "INSERT INTO task_counts VALUES (?3, substr(?6, 1, 10), 1)"
                          " ON CONFLICT(organization_id, day) DO UPDATE SET tasks = tasks + 1"
                        : "INSERT INTO notifications VALUES (?1, ?7, 'Task ' || ?2 || ' created')";
  ec::Statement st(db, sql);
  st.Bind(1, event.event_id);
  st.Bind(2, task);
  st.Bind(3, org);
  st.Bind(4, event.correlation_id);
  st.Bind(5, event.trace_id);
  st.Bind(6, created);
  st.Bind(7, user);
  if (st.Step() != SQLITE_DONE) {
    ec::Error e = ec::SqliteError(db, "apply " + role);
    (void)ec::Exec(db, "ROLLBACK");
    return e;
  }
  s = ec::Exec(db, "COMMIT");
  if (!s.ok()) return s;
  std::printf("%s: task %s org %s event_id=%s correlation_id=%s trace_id=%s\n", role.c_str(),
              task.c_str(), org.c_str(), event.event_id.c_str(), event.correlation_id.c_str(),
              event.trace_id.c_str());
  std::fflush(stdout);
  return ec::Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"--server", "127.0.0.1:8080"}};
  for (int i = 1; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  const std::string role = flags["--role"];
  ec::ClientOptions client;
  client.api_key = flags["--api-key"];
  if ((role != "audit" && role != "analytics" && role != "notification") || flags["--db"].empty() ||
      !client.SetAddress(flags["--server"])) {
    std::fprintf(stderr,
                 "usage: task_consumer --role audit|analytics|notification --db PATH"
                 " --server HOST:PORT --api-key KEY\n");
    return 2;
  }
  auto db = ec::OpenSqlite(flags["--db"]);
  if (!db.ok()) {
    std::fprintf(stderr, "task_consumer: %s\n", db.error().ToString().c_str());
    return 1;
  }
  const ec::Status schema = ec::Exec(
      *db,
      "CREATE TABLE IF NOT EXISTS processed_events(event_id TEXT PRIMARY KEY);"
      "CREATE TABLE IF NOT EXISTS audit(event_id TEXT PRIMARY KEY, task_id TEXT,"
      " organization_id TEXT, correlation_id TEXT, trace_id TEXT, created_at TEXT);"
      "CREATE TABLE IF NOT EXISTS task_counts(organization_id TEXT, day TEXT, tasks INTEGER,"
      " PRIMARY KEY(organization_id, day));"
      "CREATE TABLE IF NOT EXISTS notifications(event_id TEXT PRIMARY KEY, user_id TEXT,"
      " message TEXT);");
  if (!schema.ok()) {
    std::fprintf(stderr, "task_consumer: %s\n", schema.ToString().c_str());
    return 1;
  }
  ec::ConsumerOptions co;
  co.stream = "workflow.task.created";
  co.group = role;
  co.poll_timeout = std::chrono::milliseconds(1000);
  auto consumer = ec::Consumer::Open(
      client, co, [&](const ec::ReceivedEvent& e) { return Apply(*db, role, e); });
  if (!consumer.ok()) {
    std::fprintf(stderr, "task_consumer: %s\n", consumer.error().ToString().c_str());
    return 1;
  }
  g_consumer = consumer->get();
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  const ec::Status s = (*consumer)->Run();
  g_consumer = nullptr;
  sqlite3_close(*db);
  if (!s.ok()) {
    std::fprintf(stderr, "task_consumer: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
