// Engine: one data directory (docs/segment-format.md): the LOCK, the RocksDB
// index and every stream's log and writer. Open recovers each stream (tail
// truncation, re-indexing past the index checkpoint); a stream whose log is
// corrupt is kept out of service and reported, the others open. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/cleanup.h"
#include "engine/file_ops.h"
#include "engine/id_registry.h"
#include "engine/index.h"
#include "engine/manifest.h"
#include "engine/stream_log.h"
#include "engine/stream_writer.h"
#include "formats/status.h"

namespace eventflow {

struct EngineOptions {
  std::string data_dir = "./data";
  uint64_t segment_bytes = 128u << 20;
  FsyncPolicy fsync;
  FileOps* fops = FileOps::Posix();
  rocksdb::Env* index_env = nullptr;
  // The most table files the index keeps open (its descriptors).
  int index_max_open_files = Index::kDefaultMaxOpenFiles;
  size_t max_unindexed_events = StreamWriter::kDefaultMaxUnindexed;  // per stream
  // CreateStream refuses (QuotaExceeded) an org's stream past this many.
  size_t max_streams_per_org = 10'000;
  // The most the index's free-space headroom and reserve file take
  // (Engine::index_headroom_); tests on tmpfs, where the reserve is memory,
  // set less.
  uint64_t max_index_headroom = 64u << 20;
  // Whether Open starts each stream's writer threads. The server starts them
  // itself (StartWriters) once its own fixed threads run, so that a thread
  // limit costs streams their writes, never the process its start.
  bool start_writers = true;
};

// A stream as the engine serves it. `log` and `writer` are null when the
// stream could not be opened (`open_status` says why); `writer` alone is
// null while its threads could not be started (reads work, appends fail).
struct Stream {
  // manifest.settings_json changes (UpdateStreamSettings); read it through
  // settings_json(). The other manifest fields never change.
  Manifest manifest;
  std::unique_ptr<StreamLog> log;
  std::unique_ptr<StreamWriter> writer;
  Status open_status;
  TailRecovery recovery;
  bool serving() const { return open_status.ok(); }
  std::string settings_json() const {
    std::lock_guard lock(settings_mu);
    return manifest.settings_json;
  }
  mutable std::mutex settings_mu;  // guards manifest.settings_json and deleted
  bool deleted = false;            // DeleteStream began; settings are frozen
  std::mutex cleanup_mu;           // one retention/compaction run at a time
};

class Engine {
 public:
  // Busy if another process holds DATA/LOCK.
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options);
  ~Engine();  // Close()s
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Creates a stream (directory, first segment, manifest). AlreadyExists if
  // the org has a stream of that name, QuotaExceeded if it has
  // max_streams_per_org, Unavailable if the stream cannot be served (e.g.
  // no thread for its writer): then nothing of it is left on disk.
  Result<std::shared_ptr<Stream>> CreateStream(const std::string& org, const std::string& name,
                                               const std::string& settings_json);
  // Replaces the stream's settings: the manifest is rewritten atomically
  // (durable when this returns OK), then settings_json() answers the new text.
  Status UpdateStreamSettings(const Uuid& stream_id, const std::string& settings_json);
  // Removes the stream's directory and its event ids.
  Status DeleteStream(const Uuid& stream_id);
  std::shared_ptr<Stream> FindStream(const Uuid& stream_id) const;
  std::shared_ptr<Stream> FindStreamByName(const std::string& org, const std::string& name) const;
  std::vector<std::shared_ptr<Stream>> ListStreams() const;

  // Queues an append on the stream's writer; `done` runs after the group
  // commit that covers it (see StreamWriter).
  void Append(const std::shared_ptr<Stream>& stream, std::vector<EventDraft> events,
              AppendCallback done);
  // Where (org, event_id) is stored, including ids not indexed yet.
  Result<std::optional<EventLocation>> Lookup(const std::string& org, const Uuid& event_id) const;

  // Runs retention and compaction on the stream now (see cleanup.h).
  Status CleanUp(const std::shared_ptr<Stream>& stream, const CleanupPolicy& policy, int64_t now_ms,
                 CleanupReport* report);

  Index& index() { return *index_; }
  const std::string& data_dir() const { return options_.data_dir; }
  // Stops every writer after it completes what is queued, flushes, closes.
  void Close();
  // State key of a deletion in progress: "deleting/<stream_id>" -> org.
  static constexpr char kDeletingPrefix[] = "deleting/";
  // Starts the writer of every served stream that has none (options'
  // start_writers false, or threads that could not be had). Call before
  // requests arrive. Returns how many streams are left without a writer.
  size_t StartWriters();

  // Rebuilds the event index of a closed data dir from its segments and
  // manifests (the `eventflow index rebuild` command). Returns the number
  // of events indexed. `on_stream_done` (optional) gets each stream's log
  // bytes as it is finished, for progress lines.
  static Result<uint64_t> RebuildIndex(const EngineOptions& options,
                                       const std::function<void(uint64_t)>& on_stream_done = {});

 private:
  explicit Engine(EngineOptions options) : options_(std::move(options)) {}
  // Opens the stream of `manifest` in `dir` (and starts its writer when
  // `start_writer`). *out is set even when it fails (open_status says why).
  Status OpenStream(Manifest manifest, const std::string& dir, bool start_writer,
                    std::shared_ptr<Stream>* out);
  // Removes a stream directory: its manifest first and durably, then the
  // rest, then syncs the streams directory.
  Status RemoveStreamDir(const std::string& dir);
  // Finishes the deletions a stop interrupted (state kDeletingPrefix).
  Status FinishDeletes();

  // Starts the stream's writer threads (Unavailable when there are none).
  Status StartWriter(Stream& stream);
  // Indexes the stream's events after the index checkpoint.
  Status CatchUpIndex(Stream& stream, std::optional<uint64_t> checkpoint);

  // The index (RocksDB) must never meet a full disk: its writers assert on a
  // second error (Debian's build keeps assertions on), at the stop and at
  // every start after it. So segments stop growing index_headroom_ bytes
  // (at most EngineOptions::max_index_headroom) before the filesystem is full, and
  // DATA/index.reserve holds that much again, allocated, for the index's own writes: it is removed
  // before the index opens and before it closes (whatever else filled the disk), and made again
  // once the index is open and space allows.
  Status ReleaseIndexReserve();
  void MakeIndexReserve();

  const EngineOptions options_;
  uint64_t index_headroom_ = 0;
  int lock_fd_ = -1;
  std::unique_ptr<Index> index_;
  IdRegistry ids_;
  mutable std::shared_mutex mu_;
  std::unordered_map<Uuid, std::shared_ptr<Stream>, UuidHash> streams_;
  bool closed_ = false;
};

// Replaces the index entries of one stream by those of its log (opened with
// the index checkpoint as its offset floor); adds the events indexed to
// `*indexed`.
Status RebuildStreamIndex(Index& index, const Manifest& manifest, const StreamLog& log,
                          uint64_t* indexed);

// Takes the data dir's LOCK (flock); Busy naming the holder if it is held.
Result<int> LockDataDir(const std::string& data_dir, FileOps* fops = FileOps::Posix());

// DATA/LOCK held for the life of the object, for the offline commands.
class DataDirLock {
 public:
  static Result<DataDirLock> Acquire(const std::string& data_dir) {
    auto fd = LockDataDir(data_dir);
    if (!fd.ok()) return fd.status();
    return DataDirLock(*fd);
  }
  DataDirLock(DataDirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  DataDirLock& operator=(DataDirLock&&) = delete;
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace eventflow
