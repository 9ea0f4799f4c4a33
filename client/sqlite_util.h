// Small RAII helpers over the SQLite C API for the outbox and the processed
// event store: open with WAL and a busy timeout, prepared statements, errors
// as client::Error with code "storage".
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "client/result.h"

namespace eventflow::client {

inline Error SqliteError(sqlite3* db, const std::string& what) {
  return MakeError(0, "storage", what + ": " + (db ? sqlite3_errmsg(db) : "no database"));
}

// Opens (creating) `path` with journal_mode=WAL, synchronous=FULL and a 5 s
// busy timeout. The caller closes it with sqlite3_close.
inline Result<sqlite3*> OpenSqlite(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    Error e = SqliteError(db, "open " + path);
    sqlite3_close(db);
    return e;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", nullptr, nullptr, nullptr);
  return db;
}

inline Status Exec(sqlite3* db, const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    Error e = MakeError(0, "storage", std::string(sql).substr(0, 60) + ": " + (msg ? msg : "?"));
    sqlite3_free(msg);
    return e;
  }
  return Status::Ok();
}

// A prepared statement, finalized on destruction.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &st_, nullptr); }
  ~Statement() { sqlite3_finalize(st_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool valid() const { return st_ != nullptr; }
  void Bind(int i, const std::string& v) {
    sqlite3_bind_text(st_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(st_, i, v); }
  void BindNull(int i) { sqlite3_bind_null(st_, i); }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return st_ ? sqlite3_step(st_) : SQLITE_MISUSE; }
  void Reset() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(st_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(st_, col)))
             : std::string();
  }
  int64_t Int(int col) const { return sqlite3_column_int64(st_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }

 private:
  sqlite3_stmt* st_ = nullptr;
};

}  // namespace eventflow::client
