// The task service's SQLite database: the tasks, the outbox (client/outbox.h)
// and the membership and entitlement caches its own consumers keep. One
// connection behind a mutex; CreateTask writes the task and its TaskCreated
// outbox row in one transaction, or neither.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <mutex>
#include <string>

#include "client/result.h"

namespace tasks {

struct NewTask {
  std::string organization_id;
  std::string project_id;
  std::string title;
  std::string user_id;         // from the token
  std::string correlation_id;  // carried into the event's context
  std::string trace_id;
};

struct CreatedTask {
  std::string task_id;
  std::string created_at;
  std::string event_id;  // the outbox row
  std::string json;      // the task as answered
};

// Why CreateTask refused: not a member (403), over the plan (402), or the
// database failed (500).
enum class Refusal { kNone, kNotMember, kOverLimit, kStorage };

class TaskDb {
 public:
  static eventflow::client::Result<std::unique_ptr<TaskDb>> Open(const std::string& path);
  ~TaskDb();

  // Checks membership and the plan's task limit, then stores the task and
  // its outbox row in one transaction. On a refusal `*refusal` says why.
  eventflow::client::Result<CreatedTask> CreateTask(const NewTask& task, Refusal* refusal);

  // Cache updates from the membership and billing consumers.
  eventflow::client::Status SetMember(const std::string& org, const std::string& user, bool member);
  eventflow::client::Status SetTaskLimit(const std::string& org, int64_t max_tasks);
  // Outbox rows not yet published (the relay's backlog).
  eventflow::client::Result<int64_t> Backlog();

 private:
  explicit TaskDb(sqlite3* db) : db_(db) {}
  std::mutex mu_;
  sqlite3* db_;
};

// Tasks an organization may hold when no entitlement event named its plan.
inline constexpr int64_t kDefaultTaskLimit = 0;

}  // namespace tasks
