// OutboxRelay: publishes the pending rows of an outbox table (outbox.h) to
// EventFlow in order, in batches per stream, and marks a row published only
// after the server's 202 or 200 DUPLICATE. A row the server refuses with a
// 4xx (other than 429) is marked failed, counted and logged, and the rows
// behind it go on. While the server is unreachable or answers 429/5xx the
// rows stay pending and the relay retries with backoff.
//
// Crash safety: a kill -9 between the publish and the mark leaves the rows
// pending; the next run publishes them again with the same event_ids and the
// server answers DUPLICATE, so the stream holds each row exactly once.
//
// Lifecycle: Open, then Run() on one thread (or RunOnce() in a loop); Stop()
// from any thread (also a signal handler) makes Run return after the batch
// in hand.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "client/producer.h"
#include "client/result.h"

struct sqlite3;

namespace eventflow::client {

struct RelayOptions {
  std::string db_path;
  int batch_size = 500;
  // Wait between scans while the outbox is empty.
  std::chrono::milliseconds idle_interval{100};
  // Wait between rounds while publishing fails for a retryable reason.
  Backoff error_backoff{std::chrono::milliseconds(100), std::chrono::milliseconds(5000)};
  // Where failures are logged, one line each; default: stderr.
  std::function<void(const std::string&)> log;
};

struct RelayStats {
  uint64_t published = 0;       // rows marked published (accepted + duplicates)
  uint64_t duplicates = 0;      // of those, answered DUPLICATE
  uint64_t failed = 0;          // rows marked failed (refused with a 4xx)
  uint64_t publish_errors = 0;  // rounds that failed for a retryable reason
};

class OutboxRelay {
 public:
  static Result<std::unique_ptr<OutboxRelay>> Open(const ClientOptions& client,
                                                   RelayOptions options);
  ~OutboxRelay();

  // Publishes up to batch_size pending rows; returns how many were settled
  // (published or failed). A retryable failure is returned as an Error and
  // leaves the rows pending.
  Result<int> RunOnce();
  // RunOnce until Stop(), sleeping while idle and backing off on errors.
  void Run();
  void Stop() { stop_ = true; }

  RelayStats stats() const;
  // Pending rows now (the backlog).
  Result<int64_t> Backlog();

 private:
  struct Row;
  OutboxRelay(std::unique_ptr<Producer> producer, RelayOptions options, sqlite3* db);
  Result<int> PublishGroup(const std::string& stream, std::vector<Row>& rows);
  Result<int> PublishOneByOne(const std::string& stream, std::vector<Row>& rows);
  Status MarkPublished(const std::vector<Row>& rows, const std::vector<PublishAck>& acks);
  Status MarkFailed(const Row& row, const Error& error);
  void Log(const std::string& line);

  std::unique_ptr<Producer> producer_;
  RelayOptions options_;
  sqlite3* db_;
  std::atomic<bool> stop_{false};
  mutable std::mutex stats_mu_;
  RelayStats stats_;
};

}  // namespace eventflow::client
