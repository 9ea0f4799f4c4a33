// Consumer: a consumer-group poll loop. Long-polls a batch, calls the handler
// once per event in offset order, commits after the handler succeeded (once
// per batch, or every N events), and nacks a failed event with a growing
// delay_ms (exponential backoff with jitter) so the server redelivers it
// later or dead-letters it after the stream's max_deliveries. An optional
// ProcessedStore skips events already handled (redeliveries).
//
// An event the group owes a redelivery of (one this consumer nacked, or one
// below the committed position) is committed by its own id when handled,
// which is what settles it on the server.
//
// Lifecycle: Open, then Run() on a thread of the caller's (or PollOnce()
// repeatedly); Stop() from any thread makes Run return after the event in
// hand, once what was processed is committed. Not for concurrent Run calls.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/http_client.h"
#include "client/processed_store.h"
#include "client/result.h"

namespace eventflow::client {

struct ReceivedEvent {
  std::string event_id;
  int64_t offset = -1;
  std::string key;  // empty when the event has none
  std::string event_type;
  std::string payload_json;  // minified
  std::string correlation_id;
  std::string trace_id;
  std::string raw_json;  // the whole delivered event
};

struct ConsumerOptions {
  std::string stream;
  std::string group;
  int max_events = 100;
  std::chrono::milliseconds poll_timeout{1000};
  // Commit after every this many handled events; 0: once per polled batch.
  int commit_every = 0;
  // Nack delay before redelivery n: in [ceiling/2, ceiling] of this backoff.
  Backoff nack_backoff{std::chrono::milliseconds(100), std::chrono::milliseconds(30000)};
  ProcessedStore* processed = nullptr;  // not owned; null: no skipping
};

struct ConsumerStats {
  uint64_t polls = 0;
  uint64_t handled = 0;  // handler returned OK
  uint64_t skipped = 0;  // found in the ProcessedStore
  uint64_t failed = 0;   // handler failed (each was nacked)
  uint64_t dead_lettered = 0;
  uint64_t commits = 0;
  uint64_t conflicts = 0;               // 409 answers to commits or nacks, tolerated
  std::vector<int64_t> nack_delays_ms;  // every delay_ms sent, in order
};

class Consumer {
 public:
  using Handler = std::function<Status(const ReceivedEvent&)>;

  static Result<std::unique_ptr<Consumer>> Open(const ClientOptions& client,
                                                ConsumerOptions options, Handler handler);

  // Polls and handles until Stop() or an error that a retry cannot fix
  // (then returned); retryable errors are waited out with backoff.
  Status Run();
  // One poll, its events handled, the commit made. Returns how many events
  // the poll delivered.
  Result<int> PollOnce();
  void Stop() { stop_ = true; }
  ConsumerStats stats() const;

 private:
  Consumer(std::unique_ptr<HttpClient> http, ConsumerOptions options, Handler handler)
      : http_(std::move(http)), options_(std::move(options)), handler_(std::move(handler)) {}
  Status LoadPosition();
  Status Commit(const std::string& event_id);
  Status Nack(const ReceivedEvent& event, const std::string& reason);
  bool Tolerated(const Status& s);
  std::string GroupPath() const;

  std::unique_ptr<HttpClient> http_;
  const ConsumerOptions options_;
  Handler handler_;
  std::atomic<bool> stop_{false};
  bool position_loaded_ = false;
  std::optional<int64_t> committed_offset_;
  std::map<std::string, int> failures_;  // event id -> failed deliveries seen here
  mutable std::mutex stats_mu_;
  ConsumerStats stats_;
};

// Parses a poll answer's "events" array.
Result<std::vector<ReceivedEvent>> ParseEvents(const std::string& body);

}  // namespace eventflow::client
