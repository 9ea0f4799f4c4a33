// The transactional outbox: a table in the service's own SQLite database that
// holds each event to publish, written in the same transaction as the
// business change. The row's UUID is the event's event_id, so publishing a
// row twice (a relay crash between the server's 202 and marking the row)
// stores one event: the server answers the second DUPLICATE.
// OutboxRelay (outbox_relay.h) publishes the rows.
#pragma once

#include <cstdint>
#include <string>

#include "client/result.h"

struct sqlite3;

namespace eventflow::client {

enum class OutboxState : int { kPending = 0, kPublished = 1, kFailed = 2 };

struct OutboxMessage {
  std::string stream;
  std::string event_type;
  std::string payload_json;  // a JSON object
  std::string key;           // empty: none
  std::string event_id;      // empty: a new UUIDv4
  std::string correlation_id;
  std::string trace_id;
  std::string occurred_at;  // RFC 3339, or empty
};

// Creates the `outbox` table and its index if missing.
Status CreateOutboxTable(sqlite3* db);
// Inserts one pending row and returns its event_id. Runs in whatever
// transaction the caller has open on `db` (begin one around the business
// write and this call, so both commit or neither).
Result<std::string> EnqueueOutbox(sqlite3* db, const OutboxMessage& message);
// Rows in `state`.
Result<int64_t> CountOutbox(sqlite3* db, OutboxState state);

}  // namespace eventflow::client
