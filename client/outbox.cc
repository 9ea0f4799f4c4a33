#include "client/outbox.h"

#include "client/sqlite_util.h"
#include "formats/uuid.h"

namespace eventflow::client {

Status CreateOutboxTable(sqlite3* db) {
  return Exec(db,
              "CREATE TABLE IF NOT EXISTS outbox("
              " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
              " event_id TEXT NOT NULL UNIQUE,"
              " stream TEXT NOT NULL,"
              " event_type TEXT NOT NULL,"
              " event_key TEXT,"
              " payload TEXT NOT NULL,"
              " correlation_id TEXT,"
              " trace_id TEXT,"
              " occurred_at TEXT,"
              " state INTEGER NOT NULL DEFAULT 0,"  // OutboxState
              " error TEXT,"
              " published_offset INTEGER,"
              " created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')));"
              "CREATE INDEX IF NOT EXISTS outbox_by_state ON outbox(state, seq);");
}

Result<std::string> EnqueueOutbox(sqlite3* db, const OutboxMessage& m) {
  const std::string id = m.event_id.empty() ? Uuid::Random().ToString() : m.event_id;
  Statement st(db,
               "INSERT INTO outbox(event_id, stream, event_type, event_key, payload,"
               " correlation_id, trace_id, occurred_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)");
  st.Bind(1, id);
  st.Bind(2, m.stream);
  st.Bind(3, m.event_type);
  if (m.key.empty()) {
    st.BindNull(4);
  } else {
    st.Bind(4, m.key);
  }
  st.Bind(5, m.payload_json);
  st.Bind(6, m.correlation_id);
  st.Bind(7, m.trace_id);
  st.Bind(8, m.occurred_at);
  if (st.Step() != SQLITE_DONE) return SqliteError(db, "insert outbox row");
  return id;
}

Result<int64_t> CountOutbox(sqlite3* db, OutboxState state) {
  Statement st(db, "SELECT COUNT(*) FROM outbox WHERE state = ?1");
  st.Bind(1, static_cast<int64_t>(state));
  if (st.Step() != SQLITE_ROW) return SqliteError(db, "count outbox rows");
  return st.Int(0);
}

}  // namespace eventflow::client
