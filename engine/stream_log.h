// StreamLog: the segment files of one stream, DATA/streams/<id>/*.seg, as one
// log of dense offsets. One writer (the stream's StreamWriter) appends whole
// batches, syncs and publishes; any thread reads committed records by offset
// or time without locks (segment list snapshots are swapped atomically).
// Durability: Append puts bytes in the page cache, Sync on disk, Publish makes
// them visible and wakes the commit waiters. Sync and Publish of a Mark may
// run on a second thread while the writer appends after it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/commit_waiters.h"
#include "engine/file_ops.h"
#include "engine/segment.h"
#include "formats/status.h"
#include "formats/uuid.h"

namespace eventflow {

struct StreamLogOptions {
  uint64_t segment_bytes = 128u << 20;
  FileOps* fops = FileOps::Posix();
  // Segment::EnableZeroAhead on each active segment: for logs whose writer
  // flushes often (fsync always or interval).
  bool zero_ahead = false;
  // Segments do not grow into the last this many free bytes of the
  // filesystem: the index needs them (Engine::Open says how many).
  uint64_t min_free_bytes = 0;
};

class StreamLog {
 public:
  using SegmentList = std::vector<std::shared_ptr<Segment>>;
  // How far the log's appends had reached at one moment (taken after an
  // Append, so `at` holds the last record written).
  struct Mark {
    std::shared_ptr<Segment> segment;  // the active segment they went to
    Segment::Mark at;
    uint64_t next() const { return at.last_offset + 1; }  // one past the last offset written
  };

  // Opens (or creates, when `dir` has no segment) the log in `dir`. The
  // newest segment's torn tail is truncated; Corruption if it holds a bad
  // record followed by valid ones. Offsets continue at or after
  // `min_next_offset` (what the index has ever seen), so none is reused.
  static Result<std::unique_ptr<StreamLog>> Open(const std::string& dir,
                                                 const StreamLogOptions& options,
                                                 uint64_t min_next_offset,
                                                 TailRecovery* recovery = nullptr);
  ~StreamLog();  // waits for the background seal syncs
  StreamLog(const StreamLog&) = delete;
  StreamLog& operator=(const StreamLog&) = delete;

  // --- writer (one thread) ---
  uint64_t next_offset() const { return next_offset_; }
  int64_t last_timestamp_ms() const { return last_ts_; }
  // Whether `bytes` more fit in the active segment.
  bool Fits(size_t bytes) const;
  // How a roll makes the segment it seals durable. kNow: synced before Roll
  // returns (fsync always, where its records are on disk already, so only
  // the cut is new). kBackground (never, interval): synced by a thread of
  // its own while appends go on in the next segment; a 128 MiB sync held
  // the writer ~0.4 s per roll. The directory sync that makes the new
  // segment's name durable goes to that thread too. At most kMaxUnsyncedSealed segments wait
  // for their sync (a roll waits for the oldest beyond that), so the
  // unsynced data stays bounded, and Open cuts the zero tails a crash may
  // leave in the newest ones.
  enum class SealSync { kNow, kBackground };
  static constexpr size_t kMaxUnsyncedSealed = 4;
  // Seals the active segment and starts one at next_offset() big enough for
  // `bytes`. Only call with nothing unpublished and no Sync or Publish running.
  Status Roll(size_t bytes, SealSync seal_sync = SealSync::kNow);
  // Waits for every background seal sync still running; returns the first
  // failure (failures are also logged when they happen).
  Status AwaitSealSyncs();
  // Appends encoded records holding offsets [next_offset(), next) with
  // timestamps up to `last_ts`. Not visible until Publish.
  Status Append(std::string_view records, uint64_t next, int64_t last_ts);
  // Starts writing the last `bytes` appended back to the disk, so a Sync
  // soon after finds them on their way (Segment::StartWriteback).
  void StartWriteback(uint64_t bytes) { active_->StartWriteback(bytes); }
  // Where the appends so far end (after at least one Append to the active
  // segment).
  Mark mark() const;
  // Puts the segment of `m` on disk, up to at least `m`. Any thread. Waits
  // first for the background syncs of the segments sealed before it, so a
  // completed sync always leaves every earlier offset durable too (the log
  // stays a prefix after a power loss); IOError if one of them failed.
  Status Sync(const Mark& m);
  // Every offset below this was covered by a completed sync: the writer's
  // flushes (NoteSynced), the syncs of sealed segments, and at Open the
  // whole log (the caller made the data dir durable first: Engine::Open
  // syncs the filesystem). The writer marks each batch with it (record.h,
  // kSyncedBefore) so that recovery can tell a torn write from damage.
  uint64_t durable_next() const { return durable_next_.load(std::memory_order_acquire); }
  // A sync of the active segment up to `m` completed. Any thread.
  void NoteSynced(const Mark& m);
  // Makes the records up to `m` visible and wakes waiters. Marks are
  // published in the order they were taken, from one thread at a time.
  void Publish(const Mark& m);
  // After a failed Append/Sync: drops everything unpublished from the file
  // so it can never reappear; appends may resume once this returns OK. Only
  // with no Sync or Publish running.
  Status Rewind();

  // After a failed flush under fsync interval or never. Records already
  // acknowledged may not be on disk, and a retried fsync proves nothing:
  // the kernel may have marked the failed pages clean. So the published
  // records of the active segment, each checked by its CRC, are copied from
  // the mapping through a new descriptor into <base>.seg.relocating, which
  // is synced and renamed over the active file (the directory synced); the
  // copy is the active segment from then on. Unpublished bytes stay behind
  // (as Rewind drops them). A rename, not a cut: readers still mapping the
  // old file never fault. Batches are copied whole or not at all; the
  // offsets of what could not be copied go to `lost`. Only with no Sync or
  // Publish running.
  struct LostRecords {
    uint64_t count = 0;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [first, last] offsets
  };
  Status Relocate(LostRecords* lost);
  // The same for sealed segments whose background sync failed
  // (SealSync::kBackground): each is rewritten through a new descriptor
  // and renamed over itself, as compaction does. Waits for the seal syncs
  // still running. Writer thread only.
  bool seal_sync_failed() const { return seal_sync_failed_.load(std::memory_order_acquire); }
  Status RelocateSealed(LostRecords* lost);

  // --- readers (any thread) ---
  // One past the last committed offset.
  uint64_t committed_next() const { return committed_next_.load(std::memory_order_acquire); }
  // First retained offset (== committed_next() while empty).
  uint64_t first_offset() const;
  std::shared_ptr<const SegmentList> segments() const { return segments_.load(); }
  // Visits committed records from `from` in order until `visit` returns
  // false. A corrupt record stops the read with Corruption; a corrupt sealed
  // segment is also quarantined (renamed *.seg.quarantined, never deleted,
  // logged loudly) so later reads skip it.
  Status Read(uint64_t from, const std::function<bool(const RecordView&)>& visit) const;
  // Read, for readers of events: `event` is the record's payload turned back
  // into the event JSON of stream `stream_id` (formats/stored_event.h), valid
  // until `visit` returns.
  using EventVisit = std::function<bool(const RecordView& record, std::string_view event)>;
  Status ReadEvents(uint64_t from, const Uuid& stream_id, const EventVisit& visit) const;
  // The first offset whose timestamp is >= ts, or committed_next() if none.
  uint64_t FindTime(int64_t ts) const;
  // One past the last record found in the files at Open (before the index's
  // floor was applied).
  uint64_t recovered_next() const { return recovered_next_; }
  CommitWaiters& waiters() { return waiters_; }

  // --- cleanup (retention, compaction): one caller at a time, beside the
  // writer and readers, on sealed segments only. Readers holding the old
  // segment keep its mapping until they let go. ---
  // Takes sealed segment `seg` out of the log and deletes its file.
  Status RemoveSegment(const std::shared_ptr<Segment>& seg);
  // Replaces sealed segment `seg` by the complete segment file at `tmp_path`
  // (same base offset, a subset of its records): renamed over seg's file,
  // the directory fsynced, the new file opened and swapped into the list.
  Status ReplaceSegment(const std::shared_ptr<Segment>& seg, const std::string& tmp_path);
  const std::string& dir() const { return dir_; }
  FileOps* fops() const { return options_.fops; }
  uint64_t bytes() const;
  // The same without scanning sealed segments (their file sizes): cheap
  // enough for a quota check.
  uint64_t stored_bytes() const;

 private:
  StreamLog(std::string dir, StreamLogOptions options) : dir_(std::move(dir)), options_(options) {}
  void SetSegments(SegmentList list) const {
    segments_.store(std::make_shared<const SegmentList>(std::move(list)));
  }
  void Quarantine(const std::shared_ptr<Segment>& seg, const Status& why) const;
  // SealSync::kBackground: syncs the directory (a new segment was created)
  // and then `sealed` (when a roll sealed one) on a thread of their own.
  void StartSealSync(std::shared_ptr<Segment> sealed);
  // Recomputes durable_next_ from the state below; durable_mu_ held.
  void UpdateDurableLocked();
  // Opens the segments of `bases` (sorted, not empty) into `list`; when a
  // recently sealed one proves torn, `*torn_at` gets its index (the caller
  // drops every segment after it).
  Status OpenSegments(const std::vector<uint64_t>& bases, SegmentList* list, TailRecovery* recovery,
                      size_t* torn_at);

  const std::string dir_;
  const StreamLogOptions options_;
  std::shared_ptr<Segment> active_;
  bool active_removed_ = false;  // Roll removed the empty active file and has no new one yet
  uint64_t recovered_next_ = 0;
  uint64_t next_offset_ = 0;     // writer: next offset to assign
  uint64_t published_next_ = 0;  // writer: next offset at the last Publish
  int64_t last_ts_ = 0;
  int64_t published_ts_ = 0;
  std::atomic<uint64_t> committed_next_{0};
  mutable std::mutex list_mu_;  // serialises changes of the segment list
  mutable std::atomic<std::shared_ptr<const SegmentList>> segments_;
  CommitWaiters waiters_;
  // SealSync::kBackground: syncs of sealed segments still running, oldest
  // first; each waits for the one before it, so they complete in order.
  std::deque<std::shared_future<Status>> seal_syncs_;
  // What durable_next() is made of.
  std::mutex durable_mu_;
  uint64_t active_base_ = 0;            // base of the active segment
  uint64_t active_synced_next_ = 0;     // the active segment is synced below this
  std::set<uint64_t> unsynced_sealed_;  // bases of sealed segments whose sync has not succeeded
  std::atomic<uint64_t> durable_next_{0};
  std::atomic<bool> seal_sync_failed_{false};  // a background seal sync failed
  // Signalled (durable_mu_) when unsynced_sealed_ shrinks or a seal sync fails.
  std::condition_variable seal_synced_cv_;
};

}  // namespace eventflow
