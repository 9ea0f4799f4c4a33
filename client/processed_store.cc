#include "client/processed_store.h"

#include <sqlite3.h>

#include "client/sqlite_util.h"

namespace eventflow::client {

bool InMemoryProcessedStore::Contains(const std::string& event_id) {
  std::lock_guard lock(mu_);
  return ids_.count(event_id) > 0;
}

Status InMemoryProcessedStore::Add(const std::string& event_id) {
  std::lock_guard lock(mu_);
  ids_.insert(event_id);
  return Status::Ok();
}

Result<std::unique_ptr<SqliteProcessedStore>> SqliteProcessedStore::Open(const std::string& path) {
  auto db = OpenSqlite(path);
  if (!db.ok()) return db.error();
  std::unique_ptr<SqliteProcessedStore> store(new SqliteProcessedStore(*db));
  const Status s =
      Exec(store->db_, "CREATE TABLE IF NOT EXISTS processed_events(event_id TEXT PRIMARY KEY)");
  if (!s.ok()) return s.error();
  return store;
}

SqliteProcessedStore::~SqliteProcessedStore() { sqlite3_close(db_); }

bool SqliteProcessedStore::Contains(const std::string& event_id) {
  Statement st(db_, "SELECT 1 FROM processed_events WHERE event_id = ?1");
  st.Bind(1, event_id);
  return st.Step() == SQLITE_ROW;
}

Status SqliteProcessedStore::Add(const std::string& event_id) {
  Statement st(db_, "INSERT OR IGNORE INTO processed_events(event_id) VALUES (?1)");
  st.Bind(1, event_id);
  if (st.Step() != SQLITE_DONE) return SqliteError(db_, "insert processed event id");
  return Status::Ok();
}

}  // namespace eventflow::client
