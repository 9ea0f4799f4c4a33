// Index: the RocksDB database in DATA/index/. Column families:
//   events  (event_id, org) -> (stream_id, offset, created_at) for ids that
//           are not time-ordered (random v4 ids clients send), plus one
//           checkpoint per stream (the highest offset indexed).
//   events_by_time  the same for UUIDv7 ids (the server's, and clients'
//           that use v7): an id's version picks its family, so a lookup
//           reads one. Keys that arrive nearly sorted suit an ordered
//           memtable; random ones a hashed one (see Open).
//           Both are written without the WAL: the segments are the source
//           of truth, and on open every event past a stream's checkpoint is
//           indexed again. Entries and checkpoint share a write batch, and
//           flushes are atomic across families, so they reach disk together
//           (see docs/segment-format.md).
//   event_runs  (org, first event_id) -> (stream_id, first offset,
//           created_at, count): one entry standing for `count` events whose
//           ids follow each other (Uuid::Successor) at consecutive offsets
//           with one created_at, as the writer assigns them to a request's
//           events. PutEvents folds such sequences into runs by itself, so
//           callers pass events one by one and lookups cannot tell the
//           difference; a 1000-event batch costs one entry instead of 1000.
//           Written like the two families above (no WAL, same checkpoint).
//   state   consumer groups, delivery attempts, DLQ entries, keys, stream
//           settings: durable only here, written with WAL + sync.
// Thread-safe (RocksDB is).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "formats/status.h"
#include "formats/uuid.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Env;
class Status;
}  // namespace rocksdb

namespace eventflow {

struct EventLocation {
  Uuid stream_id;
  uint64_t offset = 0;
  int64_t created_at_ms = 0;
};

struct IndexedEvent {
  Uuid event_id;
  EventLocation location;
};

class Index {
 public:
  static constexpr int kDefaultMaxOpenFiles = 512;
  struct Options {
    bool read_only = false;
    rocksdb::Env* env = nullptr;  // tests inject faults through an Env wrapper
    // Send event entries through the WAL too (only to measure what skipping
    // it saves; see docs/benchmarks.md).
    bool event_wal = false;
    // The most table files RocksDB keeps open at once (it opens them all
    // by default): their descriptors are counted against the open-file
    // limit beside connections and segments.
    int max_open_files = kDefaultMaxOpenFiles;
    // RocksDB's file writers assert (in Debian's build) when used again after
    // a failed write, so a full disk must never reach them: below this many
    // free bytes, `on_low_space` runs (it frees the engine's reserve) and, if
    // that did not help, writes are refused with NoSpace without calling
    // RocksDB, and the close skips its flush. 0: no guard.
    uint64_t min_free_bytes = 0;
    std::function<void()> on_low_space;
  };
  static Result<std::unique_ptr<Index>> Open(const std::string& path, const Options& options);
  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;

  // --- event index ---
  Result<std::optional<EventLocation>> GetEvent(std::string_view org, const Uuid& event_id) const;
  // Looks up many ids at once; `out` gets one entry per id.
  Status GetEvents(std::string_view org, const std::vector<Uuid>& ids,
                   std::vector<std::optional<EventLocation>>* out) const;
  // Adds `events` of one stream and moves its checkpoint to `checkpoint`.
  Status PutEvents(std::string_view org, const Uuid& stream_id,
                   const std::vector<IndexedEvent>& events, uint64_t checkpoint);
  // The highest offset of `stream_id` known to be indexed, if any.
  Result<std::optional<uint64_t>> GetCheckpoint(const Uuid& stream_id) const;
  // Removes every event entry of `stream_id` in `org`, and its checkpoint.
  Status DeleteStreamEvents(std::string_view org, const Uuid& stream_id);
  // Removes the stream's entries at or after `from` (entries the index
  // holds for events a crash took from the log); the checkpoint stays.
  Status DeleteStreamEventsFrom(std::string_view org, const Uuid& stream_id, uint64_t from);
  // Removes the entries of `event_ids` of `org` (events retention or
  // compaction dropped from the log), durably (WAL + sync).
  Status DeleteEvents(std::string_view org, const std::vector<Uuid>& event_ids);
  // Counts indexed events, a run counting as its events (tests and `index
  // rebuild` reports).
  Result<uint64_t> CountEvents() const;
  // Counts the entries that hold them: one per run, one per other event
  // (tests and benchmarks).
  Result<uint64_t> CountEventEntries() const;

  // --- durable state: WAL + sync, durable when the call returns ---
  Status PutState(std::string_view key, std::string_view value);
  Status DeleteState(std::string_view key);
  // Deletes every key in [begin, end), synced.
  Status DeleteStateRange(std::string_view begin, std::string_view end);
  // Puts (value set) and deletes (no value) applied together in one synced
  // write: all of them or none survive a crash.
  struct StateWrite {
    std::string key;
    std::optional<std::string> value;
  };
  Status ApplyState(const std::vector<StateWrite>& writes);
  Result<std::optional<std::string>> GetState(std::string_view key) const;
  // Every (key, value) whose key starts with `prefix`, in key order.
  Result<std::vector<std::pair<std::string, std::string>>> ScanState(std::string_view prefix) const;
  // At most `limit` pairs whose key starts with `prefix` and is >= `from`,
  // in key order.
  Result<std::vector<std::pair<std::string, std::string>>> ScanStateFrom(std::string_view prefix,
                                                                         std::string_view from,
                                                                         size_t limit) const;

  // Flushes memtables to SST files (tests; clean shutdown).
  Status Flush();

 private:
  Index() = default;
  // Options::min_free_bytes: OK when a write may go to RocksDB. Then
  // ResumeIfStopped().
  Status GuardSpace();
  // RocksDB stops writing after a write fails (an I/O error, a full disk)
  // until DB::Resume(); this resumes it, trying at most every 200 ms (each
  // try flushes), Unavailable meanwhile. OK when it was not stopped.
  Status ResumeIfStopped();
  // `s` as a Status; notes a failed write for ResumeIfStopped().
  Status Track(const rocksdb::Status& s, std::string_view what);
  std::string path_;
  uint64_t min_free_bytes_ = 0;
  std::function<void()> on_low_space_;
  std::mutex space_mu_;
  bool stopped_ = false;  // a write failed: Resume() due
  std::string stopped_by_;
  int64_t last_resume_ms_ = 0;
  bool event_wal_ = false;
  std::unique_ptr<rocksdb::DB> db_;
  // The family holding `id`'s entry.
  rocksdb::ColumnFamilyHandle* EventsFor(const Uuid& id) const {
    return (id.bytes[6] >> 4) == 7 ? events_by_time_ : events_;
  }
  rocksdb::ColumnFamilyHandle* events_ = nullptr;
  rocksdb::ColumnFamilyHandle* events_by_time_ = nullptr;
  // Null only in a read-only open of an index made before runs existed.
  rocksdb::ColumnFamilyHandle* runs_ = nullptr;
  // Counts the non-checkpoint entries of the event families; with
  // `expand_runs` a run counts as its events.
  Result<uint64_t> CountEventFamilies(bool expand_runs) const;
  rocksdb::ColumnFamilyHandle* state_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace eventflow
