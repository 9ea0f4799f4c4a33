// Processor: runs the processing rules of every stream that has them over
// its log, in offset order, on one background thread, so ingestion never
// waits for them. Each batch's outcomes, dead-letterings and new frontier
// go to the index in one synced write before the frontier is published
// (ProcessedView), so a delivered event is never lost or doubled by a
// crash. That write runs on a second thread while the next batch is
// computed (one write in flight at a time, in order). An event whose rules fail is retried with
// exponential backoff and jitter; after max_attempts it goes to the DLQ (stage "processing") and
// the frontier moves past it. The events behind it wait only while it is retried. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/delivery_store.h"
#include "engine/engine.h"
#include "engine/processed_view.h"
#include "formats/processing_rules.h"

namespace eventflow {

struct ProcessingConfig {
  std::shared_ptr<const ProcessingRules> rules;  // null or empty: events pass as written
  uint32_t max_attempts = 5;                     // counting the first try
  int64_t backoff_ms = 100;                      // before the second try; doubles after
  // A transformed event larger than this fails its rules (retried, then
  // dead-lettered like any rule failure): rules cannot grow the log without
  // bound.
  uint64_t max_output_bytes = uint64_t{1} << 30;
};

// What the server reports about processing (logs, metrics). Called on the
// processor's two threads (OnRuleFailed on the one that applies the rules,
// the others once the outcome is durable), maybe at once; must not block.
class ProcessorObserver {
 public:
  virtual ~ProcessorObserver() = default;
  // Events became deliverable (or were filtered): how long each waited,
  // from its created_at to the durable outcome.
  virtual void OnProcessed(const Stream& stream, const std::vector<int64_t>& latency_ms) = 0;
  // The rules failed on an event that will be tried again.
  virtual void OnRuleFailed(const Stream& stream, uint64_t offset, uint32_t attempt,
                            const std::string& reason) = 0;
  virtual void OnDeadLettered(const Stream& stream, const DlqEntry& entry) = 0;
};

class Processor {
 public:
  explicit Processor(Index* index, ProcessorObserver* observer = nullptr);
  ~Processor();  // Stop()s
  Processor(const Processor&) = delete;
  Processor& operator=(const Processor&) = delete;

  // Starts processing `stream` with `config`, or replaces the config of a
  // stream already processed (the new rules apply from the frontier on). A
  // stream seen for the first time resumes from its stored frontier, or
  // starts at offset 0 when `from_start`, else after its last committed
  // event (rules added to a live stream apply to new events); the frontier
  // is durable when this returns.
  Result<std::shared_ptr<ProcessedView>> Configure(const std::shared_ptr<Stream>& stream,
                                                   ProcessingConfig config, bool from_start);
  // The stream's view, or null when it is not processed.
  std::shared_ptr<ProcessedView> Find(const Uuid& stream_id) const;
  // Stops processing the stream and deletes its view (stream deletion).
  Status Drop(const Uuid& stream_id);
  // Deletes the view's entries below `first_offset` (retention removed them).
  Status Trim(const Uuid& stream_id, uint64_t first_offset);
  // Stops the thread after the batch in progress and answers every parked
  // waiter of every view. Idempotent.
  void Stop();

  // Events per batch (and so per synced write), at most.
  static constexpr size_t kBatchEvents = 2048;
  static constexpr size_t kBatchBytes = 4u << 20;
  // A batch's outcomes are written as blobs of about this size.
  static constexpr size_t kBlobBytes = 64u << 10;
  static constexpr int64_t kMaxBackoffMs = 60'000;

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry;
  struct ViewWrite;
  // What to do with a stream after a batch.
  struct Next {
    enum class Kind { kMore, kWaitForEvents, kRetryAt } kind = Kind::kWaitForEvents;
    Clock::time_point at;
  };
  void Run();
  Next ProcessBatch(const std::shared_ptr<Entry>& e, const ProcessingConfig& config);
  // The write thread: applies each handed-over ViewWrite, then publishes
  // its frontier.
  void WriteLoop();
  // Waits for the write in flight to finish, then rewinds the entries
  // whose writes failed to their durable frontier (they wait a second).
  // False when `e`'s own write failed: its batch just computed must go.
  bool AwaitWrite(const std::shared_ptr<Entry>& e);
  // Queues `e` for the thread unless it is queued, waiting out a backoff or
  // dropped. Takes mu_.
  void Schedule(const std::shared_ptr<Entry>& e);
  void ScheduleLocked(const std::shared_ptr<Entry>& e);
  // Parks on the stream's commit waiters until an event past the frontier
  // is committed.
  void WaitForEvents(const std::shared_ptr<Entry>& e);

  Index* const index_;
  ProcessorObserver* const observer_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<Uuid, std::shared_ptr<Entry>, UuidHash> entries_;
  std::deque<std::shared_ptr<Entry>> ready_;
  bool stop_ = false;

  std::mutex write_mu_;
  std::condition_variable write_cv_;
  std::unique_ptr<ViewWrite> write_;  // handed over and not yet written
  std::vector<std::shared_ptr<Entry>> failed_writes_;
  bool write_stop_ = false;

  std::thread write_thread_;
  std::thread thread_;
};

}  // namespace eventflow
