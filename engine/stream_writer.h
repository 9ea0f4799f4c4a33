// StreamWriter: the group commit of one stream, in two stages on two
// threads. The writer thread takes everything queued, drops duplicates (by
// (org, event_id)), assigns offsets and timestamps, renders and encodes the
// records into one buffer and writes it with one pwrite: one round. The
// flusher thread takes every round written so far, flushes them with one
// fdatasync (per the fsync policy), indexes their ids, publishes, and only
// then runs each caller's completion; meanwhile the writer writes the next
// round. A request's events form one atomic batch on disk. Under fsync
// always, a round that follows a small one waits briefly for as many
// requests as that one carried (LingerForLastRoundsCount).
// After a write or flush error the failed round and every round written
// after it fail, the segment is rewound to the last published point, and
// only then are appends accepted again (a retried fsync is never trusted).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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

// Runs once per Append, on the writer's or the flusher's thread: OK with one
// ack per draft (in order), or an error and nothing stored. Conflict: an id belongs to another
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
  // Acknowledged events that a failed flush under fsync interval/never cost:
  // their bytes failed their CRC when the log was relocated
  // (StreamLog::Relocate).
  std::atomic<uint64_t> acknowledged_lost{0};
};

class StreamWriter {
 public:
  // While the index is failing, durable events wait in memory to be indexed;
  // past `max_unindexed` of them appends are refused (Unavailable) rather
  // than let that backlog grow without bound.
  static constexpr size_t kDefaultMaxUnindexed = 1'000'000;
  // Rounds smaller than this are flushed by the writer itself when nothing
  // is in flight; larger ones go to the flusher thread, so their (longer)
  // flush overlaps the writing of the next round.
  static constexpr size_t kMinPipelinedBytes = 64 << 10;
  // Starts the writer's two threads. Unavailable (and no thread left
  // running) when the process cannot have them: a thread limit must cost
  // the stream its service, never the process its life.
  static Result<std::unique_ptr<StreamWriter>> Start(StreamLog* log, Index* index, IdRegistry* ids,
                                                     std::string org, Uuid stream_id,
                                                     FsyncPolicy fsync,
                                                     size_t max_unindexed = kDefaultMaxUnindexed);
  ~StreamWriter();  // Stop()s
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  void Append(std::vector<EventDraft> events, AppendCallback done);
  // Completes everything queued, flushes, and joins the threads. Later
  // appends fail with Aborted.
  void Stop();
  // False from a failed write or flush until the log is rewound.
  bool healthy() const { return healthy_.load() && !log_->seal_sync_failed(); }
  const WriterStats& stats() const { return stats_; }
  // Reports later rounds and flushes to `observer` (nullptr: to no one). The
  // observer must outlive the writer (or its Stop()).
  void SetObserver(WriterObserver* observer) { observer_.store(observer); }

 private:
  StreamWriter(StreamLog* log, Index* index, IdRegistry* ids, std::string org, Uuid stream_id,
               FsyncPolicy fsync, size_t max_unindexed);

  struct Request {
    std::vector<EventDraft> events;
    AppendCallback done;
    std::vector<EventAck> acks;
    Status status;
  };
  // Requests written together, on their way from the writer to the flusher.
  struct Round {
    std::vector<Request> requests;
    std::vector<IndexedEvent> ids;           // ids stored by this round
    std::vector<Uuid> held;                  // those of them reserved in ids_
    std::optional<StreamLog::Mark> written;  // nullopt: nothing to write (all duplicates)
    uint64_t bytes = 0;
  };
  // At most this many written rounds wait for the flusher; the writer waits
  // beyond that, so memory stays bounded when the disk is slow.
  static constexpr size_t kMaxWaitingRounds = 4;
  // The writer's wait for more requests is capped here, whatever a flush takes.
  static constexpr int64_t kMaxLingerNs = 20'000'000;

  // --- writer thread ---
  void Run();
  // Under fsync always, after a small round the writer flushed itself: when
  // fewer requests wait than that round had, waits (with mu_ held by `lock`)
  // up to a third of the last flush's time for as many. Without it the
  // next round carries only the few of that round's producers that came
  // back first, and the rest wait a whole flush more (measured with 64
  // single-event producers: p99 7.4 -> 4.0 ms, same throughput). A lone
  // producer never waits: its round had one request.
  void LingerForLastRoundsCount(std::unique_lock<std::mutex>& lock);
  // Dedupes, assigns offsets and encodes `req` at the end of buf_. Returns
  // false (with req.status set) if the request is refused.
  bool Prepare(Request& req);
  // Writes buf_ (offsets up to `next`) and hands round_ to the flusher.
  // False if the round failed.
  bool WriteRound(uint64_t next, int64_t last_ts);
  // Waits until the flusher has answered every round handed to it. False if
  // one of them failed (the log must be rewound first).
  bool AwaitFlushed();
  // Waits (with flush_mu_ held by `lock`) until no round waits for the
  // flusher stage and none is being flushed.
  void WaitForFlusherIdle(std::unique_lock<std::mutex>& lock);
  // After a failed round: waits for the flusher to answer the rounds before
  // it, then rewinds the log. False while the log cannot be rewound.
  bool RecoverIfFailed();

  // --- flusher stage: the flusher thread, or the writer thread when there
  // is nothing to overlap (whoever set flusher_busy_) ---
  void RunFlusher();
  // Syncs, indexes, publishes and answers `rounds` (or fails them all with
  // `failure`, or with a failed sync's error). False if they failed.
  bool FlushAndAnswer(std::vector<Round>& rounds, Status failure);
  // Interval policy: flushes what a quiet period left unflushed.
  void SyncQuietLog();
  // After a failed flush of `m` (any thread): no acknowledgement past it;
  // the writer recovers (RecoverIfFailed) before the next append.
  void NoteFlushFailed(const Status& s);
  // Rewind, or under fsync interval/never after a failed flush, Relocate.
  Status RecoverLog();
  // Flushes `rounds` per the policy.
  Status SyncRounds(const std::vector<Round>& rounds);
  // Indexes, publishes and answers `rounds`, which are durable per the policy.
  void CompleteRounds(std::vector<Round>& rounds);
  // StreamLog::Sync, timed: last_flush_ns_ and the observer get its duration.
  Status SyncLog(const StreamLog::Mark& m);

  // Any thread: answers the round's requests with `s`, releases its ids.
  void FailRound(Round& round, const Status& s);
  void ReleaseReservations(const std::vector<Uuid>& ids);

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
  bool recovery_due_ = false;  // the flusher failed a round; the writer rewinds
  size_t wake_at_ = 1;         // Append wakes the writer once this many requests wait

  // Writer-thread state.
  std::string buf_;
  Round round_;
  uint64_t next_offset_ = 0;
  int64_t last_ts_ = 0;
  bool needs_rewind_ = false;  // a write failed (or a rewind did)
  // When the last relocation was tried (Relocate is a copy of the active
  // segment: on a failing disk, at most one attempt a second).
  int64_t last_relocate_ms_ = 0;
  size_t last_round_requests_ = 0;
  bool linger_inline_ = false;  // the last round was small and flushed by the writer

  // Between the threads, guarded by flush_mu_.
  std::mutex flush_mu_;
  std::condition_variable flush_cv_;  // both directions; notify_all
  std::deque<Round> waiting_rounds_;
  bool flusher_busy_ = false;  // a thread holds rounds it has not answered yet
                               // (and with it the flusher-stage state below)
  Status flush_failure_;       // set when a round failed, until the rewind
  // A flush failed under fsync interval/never with acknowledged records
  // not yet synced: recovery relocates them instead of trusting a retry.
  bool needs_relocation_ = false;
  bool flusher_stopping_ = false;

  // Flusher-stage state, owned by whoever set flusher_busy_.
  std::vector<IndexedEvent> unindexed_;      // durable, not yet in the index
  std::vector<Uuid> unindexed_held_;         // those of them held in ids_
  uint64_t indexed_next_ = 0;                // checkpoint: one past the last durable offset
  std::optional<StreamLog::Mark> unsynced_;  // written past the last flush (interval policy)
  int64_t last_sync_ms_ = 0;

  std::atomic<int64_t> last_flush_ns_{0};  // how long the last fdatasync took
  std::atomic<bool> healthy_{true};
  std::atomic<WriterObserver*> observer_{nullptr};
  WriterStats stats_;
  std::thread flusher_thread_;
  std::thread thread_;
};

}  // namespace eventflow
