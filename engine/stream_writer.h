// StreamWriter: the group commit of one stream. Appends from any thread are
// queued; the writer thread takes everything queued, drops duplicates (by
// (org, event_id)), assigns offsets and timestamps, renders and encodes the
// records into one buffer, writes it with one pwrite, flushes once per the
// fsync policy, indexes the ids, publishes, and only then runs each caller's
// completion. A request's events form one atomic batch on disk.
// After a write or flush error the pending appends fail, the segment is
// rewound to the last published point, and only then are appends accepted.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/id_registry.h"
#include "engine/index.h"
#include "engine/stream_log.h"
#include "engine/writer_observer.h"
#include "formats/status.h"
#include "formats/stored_event.h"

namespace eventflow {

struct FsyncPolicy {
  enum class Mode { kAlways, kInterval, kNever };
  Mode mode = Mode::kAlways;
  int interval_ms = 0;
  // "always", "never" or "interval:MS".
  static Result<FsyncPolicy> Parse(std::string_view text);
};

struct EventAck {
  Uuid event_id;
  uint64_t offset = 0;
  int64_t created_at_ms = 0;
  bool duplicate = false;
};

// Runs once per Append, on the writer thread: OK with one ack per draft (in
// order), or an error and nothing stored. Conflict: an id belongs to another
// stream of the org. It must not block.
using AppendCallback = std::function<void(Status, std::vector<EventAck>)>;

struct WriterStats {
  std::atomic<uint64_t> appends{0};   // requests completed OK
  std::atomic<uint64_t> events{0};    // events stored (duplicates excluded)
  std::atomic<uint64_t> flushes{0};   // fdatasync calls
  std::atomic<uint64_t> rounds{0};    // group-commit rounds
  std::atomic<uint64_t> failures{0};  // rounds failed by a write or flush error
  // Durable events whose index write failed (retried each round); the id
  // registry answers for them meanwhile. Non-zero means the index is failing.
  std::atomic<uint64_t> unindexed{0};
};

class StreamWriter {
 public:
  // While the index is failing, durable events wait in memory to be indexed;
  // past `max_unindexed` of them appends are refused (Unavailable) rather
  // than let that backlog grow without bound.
  static constexpr size_t kDefaultMaxUnindexed = 1'000'000;
  StreamWriter(StreamLog* log, Index* index, IdRegistry* ids, std::string org, Uuid stream_id,
               FsyncPolicy fsync, size_t max_unindexed = kDefaultMaxUnindexed);
  ~StreamWriter();  // Stop()s
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  void Append(std::vector<EventDraft> events, AppendCallback done);
  // Completes everything queued, flushes, and joins the thread. Later
  // appends fail with Aborted.
  void Stop();
  // False while a failed write has not been rewound yet.
  bool healthy() const { return healthy_.load(); }
  const WriterStats& stats() const { return stats_; }
  // Reports later rounds and flushes to `observer` (nullptr: to no one). The
  // observer must outlive the writer (or its Stop()).
  void SetObserver(WriterObserver* observer) { observer_.store(observer); }

 private:
  struct Request {
    std::vector<EventDraft> events;
    AppendCallback done;
    std::vector<EventAck> acks;
    Status status;
  };
  void Run();
  // Dedupes, assigns offsets and encodes `req` at the end of buf_. Returns
  // false (with req.status set) if the request is refused.
  bool Prepare(Request& req);
  // Writes, flushes and publishes buf_ (offsets up to `next`), then completes
  // round_. False if the round failed (and was rewound).
  bool FinishRound(uint64_t next, int64_t last_ts);
  void FailRound(const Status& s);
  void ReleaseReservations(const std::vector<Uuid>& ids);
  // log_->Sync(), timed for the observer.
  Status SyncLog();

  StreamLog* const log_;
  Index* const index_;
  IdRegistry* const ids_;
  const std::string org_;
  const Uuid stream_id_;
  const FsyncPolicy fsync_;
  const size_t max_unindexed_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Request> queue_;
  bool stopping_ = false;

  // Writer-thread state.
  std::string buf_;
  std::vector<Request> round_;
  std::vector<IndexedEvent> round_ids_;  // ids stored by this round
  std::vector<Uuid> round_held_;         // those of them reserved in ids_
  std::vector<IndexedEvent> unindexed_;  // durable, not yet in the index
  std::vector<Uuid> unindexed_held_;     // those of them held in ids_
  uint64_t next_offset_ = 0;
  int64_t last_ts_ = 0;
  bool needs_rewind_ = false;
  bool unsynced_ = false;
  int64_t last_sync_ms_ = 0;

  std::atomic<bool> healthy_{true};
  std::atomic<WriterObserver*> observer_{nullptr};
  WriterStats stats_;
  std::thread thread_;
};

}  // namespace eventflow
