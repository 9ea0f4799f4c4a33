// ProcessedStore: the consumer's idempotency hook, a set of the event ids a
// handler has already processed, so a redelivered event (at-least-once
// delivery, a commit lost to a crash) is skipped instead of applied twice.
// For effects in the same SQLite database, record the id in the handler's
// own transaction and use SqliteProcessedStore on that table to look it up.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "client/result.h"

struct sqlite3;

namespace eventflow::client {

class ProcessedStore {
 public:
  virtual ~ProcessedStore() = default;
  virtual bool Contains(const std::string& event_id) = 0;
  virtual Status Add(const std::string& event_id) = 0;
};

// In memory: skips redeliveries within one process lifetime. Thread-safe.
class InMemoryProcessedStore : public ProcessedStore {
 public:
  bool Contains(const std::string& event_id) override;
  Status Add(const std::string& event_id) override;

 private:
  std::mutex mu_;
  std::unordered_set<std::string> ids_;
};

// Durable: a table `processed_events(event_id TEXT PRIMARY KEY)` in a SQLite
// database (created if missing). Add is durable when it returns. One
// connection, used by one consumer thread at a time.
class SqliteProcessedStore : public ProcessedStore {
 public:
  static Result<std::unique_ptr<SqliteProcessedStore>> Open(const std::string& path);
  ~SqliteProcessedStore() override;
  bool Contains(const std::string& event_id) override;
  Status Add(const std::string& event_id) override;

 private:
  explicit SqliteProcessedStore(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

}  // namespace eventflow::client
