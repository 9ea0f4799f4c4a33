// Segment: one log file of a stream, "{base_offset:020}.seg", mapped
// read-only with mmap. One writer appends encoded records with pwrite (so
// errors come back as values, never as SIGBUS from a full disk), allocating
// the file in growing steps; readers use the mapping without locks up to the
// published commit point. Thread safety: writer calls (Append, Seal, Rewind)
// from one thread at a time; Sync and Publish(mark) may run on a second
// thread beside later Appends (the pipelined commit); reader calls from any
// thread. Durability: after Append the bytes are in the page cache; after
// Sync they are on disk; after Publish readers see them.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "engine/file_ops.h"
#include "engine/segment_scan.h"
#include "engine/sparse_index.h"
#include "formats/record.h"
#include "formats/status.h"

namespace eventflow {

// What Segment::OpenActive found and did at the tail.
struct TailRecovery {
  uint64_t truncated_bytes = 0;  // torn bytes removed (0 when the end was clean)
  std::string reason;            // why the tail was bad, when it was
  bool scanned = false;          // the records were scanned (not left for later)
  // A rewritten segment's original end (ScanResult::segment_end).
  std::optional<uint64_t> segment_end;
  // The largest synced-before mark of the tail's records (ScanResult).
  std::optional<uint64_t> synced_before;
  // CRC-valid records a torn tail dropped (in no complete batch, or after
  // the tear), for the error log and the metric.
  DroppedRecords dropped;
};

struct RecordView {
  uint64_t offset;
  int64_t timestamp_ms;
  uint16_t flags;
  std::string_view payload;  // points into the mapping
};

class Segment {
 public:
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  // Creates an empty segment file able to grow to `capacity` bytes and
  // (with `sync_dir`) fsyncs its directory.
  static Result<std::shared_ptr<Segment>> Create(const std::string& dir, uint64_t base_offset,
                                                 uint64_t capacity, FileOps* fops,
                                                 bool sync_dir = true);
  // Opens the newest segment for appending. A torn tail (a bad record with
  // nothing valid after it, or an unfinished batch) is truncated and synced;
  // a bad record followed by valid ones is Corruption and nothing changes.
  // `synced_floor`: a synced-before mark known from later segments.
  static Result<std::shared_ptr<Segment>> OpenActive(const std::string& path, uint64_t base_offset,
                                                     uint64_t capacity, FileOps* fops,
                                                     TailRecovery* recovery,
                                                     std::optional<uint64_t> synced_floor = {});
  // Opens one of the newest sealed segments, which a roll under any fsync
  // policy may have sealed before its sync completed (StreamLog::SealSync).
  // Unless a synced-before mark of the later segments (`synced_floor`)
  // covers it whole (up to `next_base`, the next segment's base), a power
  // loss can have left any of its unsynced pages unwritten: zeros inside,
  // records cut, the file at its preallocated size. Covered or not, a file
  // that ends in zeros kept its preallocated size (the seal's cut was not
  // durable yet). Either way it is scanned as an
  // active segment, which cuts a torn tail under the synced-before rule
  // (docs/segment-format.md 8.9), and sealed again with a sync; `recovery`
  // says what was cut and why. A damaged one is opened as it is, for
  // readers to quarantine.
  static Result<std::shared_ptr<Segment>> OpenRecentlySealed(const std::string& path,
                                                             uint64_t base_offset, FileOps* fops,
                                                             std::optional<uint64_t> synced_floor,
                                                             uint64_t next_base,
                                                             TailRecovery* recovery);
  // Opens a sealed segment. Its records are scanned (headers only) on first
  // use; CRCs are checked as records are read.
  static Result<std::shared_ptr<Segment>> OpenSealed(const std::string& path, uint64_t base_offset,
                                                     FileOps* fops);

  // How far the appends had reached at one moment: publishing a mark makes
  // the records up to it visible while later appends are still in flight.
  struct Mark {
    uint64_t end_pos = 0;
    size_t index_entries = 0;  // sparse index entries up to end_pos
    uint64_t index_next_pos = 0;
    uint64_t count = 0;  // records in the segment up to end_pos
    uint64_t first_offset = 0, last_offset = 0;
    int64_t first_ts = 0, last_ts = 0;
  };

  // --- writer ---
  // Bytes that still fit before the segment reaches its capacity.
  uint64_t Remaining() const { return capacity_ - write_pos_; }
  uint64_t write_pos() const { return write_pos_; }
  // Writes whole encoded records at the end. On error nothing is published
  // and the writer must Rewind before appending again.
  Status Append(std::string_view records);
  // From now on, while the appends are small (a group commit of single
  // events), keeps the space after the allocated one written as zeros and
  // synced, one growth step ahead, by a background thread. A flush of
  // appends into space already written needs no file-system metadata (no
  // block allocation or unwritten-extent conversion in the journal): ~0.3
  // instead of ~0.47 ms per fdatasync here (docs/benchmarks.md). Large
  // appends get plain preallocation: for them zeros would double the writes.
  // The zeros are only a hint; nothing depends on them being there. The job
  // writes and syncs through a descriptor of its own: Linux reports a
  // writeback error once per open file description, so a sync of the
  // writer's descriptor by the job could take the error the writer's next
  // flush must see. A failed job fails the next Sync instead (until Rewind).
  void EnableZeroAhead();
  // The sync of the segments before this one (StreamLog's seal syncs, run in
  // order). A zero-ahead job's fdatasync also makes this segment's records
  // durable, so it waits for `before` first: a later segment is never
  // durable before an earlier one (docs/segment-format.md rule 8.9). If
  // `before` failed, the job does not sync and fails the next Sync.
  void set_sync_after(std::shared_future<Status> before) { sync_after_ = std::move(before); }
  // Growth (and zero-ahead) never leaves less than `bytes` free on the
  // filesystem: past that, appends fail with NoSpace while the index,
  // whose writes must never meet a full disk, still has room.
  void set_min_free_bytes(uint64_t bytes) { min_free_bytes_ = bytes; }
  // Where the appends so far end.
  Mark mark() const;
  // fdatasync of the segment. Also fails (IOError) after a zero-ahead job
  // failed to write or sync, until Rewind: a sync failure on the segment by
  // any thread means no acknowledgement past it. May run beside a later
  // Append.
  Status Sync();
  // Starts writing the last `bytes` appended back to the disk, without
  // waiting (FileOps::StartWriteback).
  void StartWriteback(uint64_t bytes) { fops_->StartWriteback(fd_, write_pos_ - bytes, bytes); }
  // Makes the records up to `m` (a mark of this segment, not older than the
  // last one published) visible to readers. May run beside a later Append.
  void Publish(const Mark& m);
  // Makes everything appended so far visible to readers.
  void Publish() { Publish(mark()); }
  // Drops everything after the published commit point from the file (after a
  // failed write or sync) and syncs, so unacknowledged bytes never reappear.
  // Only with no Sync or Publish running.
  Status Rewind();
  // Cuts the preallocated tail off and marks the segment sealed; with
  // `sync`, syncs first. Without, the caller Sync()s it later.
  Status Seal(bool sync);

  // --- readers ---
  uint64_t base_offset() const { return base_offset_; }
  const std::string& path() const { return path_; }
  bool sealed() const { return sealed_.load(std::memory_order_acquire); }
  // Scans a sealed segment's headers once; no-op for the active one.
  Status EnsureLoaded() const;
  uint64_t committed_bytes() const { return committed_end_.load(std::memory_order_acquire); }
  // The mapping: committed_bytes() of records from here.
  const char* data() const { return map_; }
  // The bytes this segment takes for its records, without a scan: a sealed
  // one's file size, the active one's published bytes (quotas).
  uint64_t stored_bytes() const {
    return sealed() ? sealed_bytes_.load(std::memory_order_acquire) : committed_bytes();
  }
  // Last offset readers may see, or nullopt while empty.
  std::optional<uint64_t> last_offset() const;
  std::optional<uint64_t> first_offset() const;
  int64_t first_timestamp_ms() const { return first_ts_.load(std::memory_order_acquire); }
  int64_t last_timestamp_ms() const { return last_ts_.load(std::memory_order_acquire); }
  uint64_t record_count() const { return count_.load(std::memory_order_acquire); }

  // Calls `visit` for each committed record with offset >= `from`, in order,
  // until it returns false. Every record's CRC is checked: a bad one stops
  // the read with Corruption naming the file and byte position.
  Status Read(uint64_t from, const std::function<bool(const RecordView&)>& visit) const;
  // The offset of the first record with timestamp >= `ts`, or nullopt.
  std::optional<uint64_t> FindTime(int64_t ts) const;

 private:
  Segment(std::string path, uint64_t base_offset, uint64_t capacity, FileOps* fops);
  Status MapFile(int fd, size_t map_len);
  Status Grow(uint64_t needed_end);
  // Zero-ahead: starts the job for the step after allocated_, or waits for
  // the running one (before the file is cut or closed).
  void StartZeroAhead();
  void AwaitZeroAhead();
  Status LoadFromScan(size_t size, bool is_active, TailRecovery* recovery,
                      std::optional<uint64_t> synced_floor = {});
  // Whether the file's last 8 bytes (as opened) are zeros: a sealed file
  // whose cut to its data (the seal's truncate) is not durable yet.
  bool EndsInZeros() const {
    return write_pos_ >= 8 &&
           std::all_of(map_ + write_pos_ - 8, map_ + write_pos_, [](char c) { return c == 0; });
  }
  void NoteRecord(uint64_t offset, uint64_t pos, int64_t ts);

  const std::string path_;
  const uint64_t base_offset_;
  uint64_t capacity_;  // writes never go past this (the mapping covers it)
  FileOps* const fops_;
  int fd_ = -1;
  uint64_t min_free_bytes_ = 0;
  // Whether `bytes` more may be allocated without going below min_free_bytes_.
  bool MayAllocate(uint64_t bytes) const;
  const char* map_ = nullptr;
  size_t map_len_ = 0;

  // Writer state: what has been appended, published or not.
  uint64_t write_pos_ = 0;
  uint64_t allocated_ = 0;
  // Zero-ahead (EnableZeroAhead): the job writing [allocated_, zeroing_end_)
  // while it is valid. The writer never writes at or past allocated_, and
  // moves allocated_ past zeroing_end_ only after the job is done.
  bool zero_ahead_ = false;
  std::future<Status> zeroing_;
  std::shared_future<Status> sync_after_;  // see set_sync_after
  uint64_t zeroing_end_ = 0;
  // Set by a zero-ahead job that failed (its error under zero_failure_mu_);
  // cleared by Rewind once the kept bytes are synced.
  std::atomic<bool> zero_failed_{false};
  std::mutex zero_failure_mu_;
  Status zero_failure_;
  uint64_t step_start_ = 0;    // write_pos_ when the current step was taken
  uint64_t step_appends_ = 0;  // appends since
  uint64_t written_count_ = 0;
  uint64_t written_first_offset_ = 0, written_last_offset_ = 0;
  int64_t written_first_ts_ = 0, written_last_ts_ = 0;

  // Published state.
  std::unique_ptr<SparseIndex> index_;
  std::atomic<uint64_t> committed_end_{0};
  std::atomic<uint64_t> first_offset_{0}, last_offset_{0};
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> first_ts_{0}, last_ts_{0};
  std::atomic<bool> sealed_{false};
  std::atomic<uint64_t> sealed_bytes_{0};  // the file's size once sealed
  mutable std::once_flag load_once_;
  mutable Status load_status_;
};

}  // namespace eventflow
