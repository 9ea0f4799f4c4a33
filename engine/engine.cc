#include "engine/engine.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "formats/stored_event.h"
#include "formats/timestamp.h"

namespace eventflow {

namespace fs = std::filesystem;

namespace {
constexpr size_t kReindexChunk = 10000;

std::string StreamsDir(const std::string& data_dir) { return data_dir + "/streams"; }
std::string IndexDir(const std::string& data_dir) { return data_dir + "/index"; }

// Indexes the events of `log` from offset `from`, in chunks.
Status IndexLog(Index& index, const Manifest& m, const StreamLog& log, uint64_t from,
                uint64_t* indexed) {
  std::vector<IndexedEvent> chunk;
  Status put;
  Status read = log.Read(from, [&](const RecordView& r) {
    auto id = PeekEventId(r.payload);
    if (!id) return true;  // not an event we rendered; nothing to index
    chunk.push_back({*id, EventLocation{m.stream_id, r.offset, r.timestamp_ms}});
    if (chunk.size() >= kReindexChunk) {
      put = index.PutEvents(m.org_id, m.stream_id, chunk, r.offset);
      *indexed += chunk.size();
      chunk.clear();
      return put.ok();
    }
    return true;
  });
  EF_RETURN_IF_ERROR(read);
  EF_RETURN_IF_ERROR(put);
  if (!chunk.empty()) {
    EF_RETURN_IF_ERROR(index.PutEvents(m.org_id, m.stream_id, chunk, chunk.back().location.offset));
    *indexed += chunk.size();
  }
  return Status::Ok();
}
}  // namespace

Result<int> LockDataDir(const std::string& data_dir, FileOps* fops) {
  EF_RETURN_IF_ERROR(fops->MakeDirs(data_dir));
  const std::string path = data_dir + "/LOCK";
  auto fd = fops->Open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (!fd.ok()) return fd.status();
  if (::flock(*fd, LOCK_EX | LOCK_NB) != 0) {
    fops->Close(*fd);
    return Status::Busy(data_dir + " is in use by another eventflow process (" + path +
                        " is locked)");
  }
  return *fd;
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {
std::string IndexReservePath(const std::string& data_dir) { return data_dir + "/index.reserve"; }
}  // namespace

Result<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options) {
  std::unique_ptr<Engine> engine(new Engine(options));
  auto lock = LockDataDir(options.data_dir, options.fops);
  if (!lock.ok()) return lock.status();
  engine->lock_fd_ = *lock;
  EF_RETURN_IF_ERROR(options.fops->MakeDirs(StreamsDir(options.data_dir)));
  // What a previous run wrote but never synced (it was killed) may still be
  // only in the page cache; recovery reads it as the log. Make it durable
  // first, so each log's durable frontier starts at its end
  // (StreamLog::durable_next).
  EF_RETURN_IF_ERROR(options.fops->SyncFilesystem(options.data_dir));
  struct statvfs fs;
  if (::statvfs(options.data_dir.c_str(), &fs) == 0) {
    const uint64_t size = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
    engine->index_headroom_ = std::min<uint64_t>(options.max_index_headroom, size / 20);
  }
  EF_RETURN_IF_ERROR(engine->ReleaseIndexReserve());
  Index::Options io;
  io.env = options.index_env;
  io.max_open_files = options.index_max_open_files;
  io.min_free_bytes = engine->index_headroom_ / 4;
  io.on_low_space = [e = engine.get()] {
    std::error_code ec;
    if (!fs::exists(IndexReservePath(e->options_.data_dir), ec)) return;
    if (Status s = e->ReleaseIndexReserve(); !s.ok()) {
      spdlog::error("the disk is nearly full and the index reserve could not be removed: {}",
                    s.ToString());
    } else {
      spdlog::warn("the disk is nearly full: the index reserve was removed to give the index room");
    }
  };
  auto index = Index::Open(IndexDir(options.data_dir), io);
  if (!index.ok()) return index.status();
  engine->index_ = std::move(*index);

  EF_RETURN_IF_ERROR(engine->FinishDeletes());
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(StreamsDir(options.data_dir), ec)) {
    if (!entry.is_directory()) continue;
    if (!Uuid::Parse(entry.path().filename().string())) continue;
    const std::string dir = entry.path().string();
    if (!fs::exists(dir + "/" + kManifestFile)) {
      // A create that never finished (its manifest is written last) or a
      // delete past its first step: no stream, and nothing in it promised.
      spdlog::warn("removing {}: a stream directory without a manifest", dir);
      EF_RETURN_IF_ERROR(engine->RemoveStreamDir(dir));
      continue;
    }
    auto manifest = Manifest::Read(dir);
    if (!manifest.ok()) {
      spdlog::error("skipping {}: {}", dir, manifest.status().ToString());
      continue;
    }
    std::shared_ptr<Stream> stream;
    (void)engine->OpenStream(std::move(*manifest), dir, options.start_writers, &stream);
    engine->streams_[stream->manifest.stream_id] = stream;
  }
  if (ec) return Status::IOError("list " + StreamsDir(options.data_dir) + ": " + ec.message());
  engine->MakeIndexReserve();
  return engine;
}

Status Engine::RemoveStreamDir(const std::string& dir) {
  // The manifest goes first, durably: from then on the directory is no
  // stream (Open removes what is left), so a crash midway never leaves half
  // of one.
  const std::string manifest = dir + "/" + kManifestFile;
  if (fs::exists(manifest)) {
    EF_RETURN_IF_ERROR(options_.fops->Remove(manifest));
    EF_RETURN_IF_ERROR(options_.fops->SyncDir(dir));
  }
  // A stream directory holds only files (segments, their temporaries).
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) files.push_back(entry.path().string());
  if (ec && ec != std::errc::no_such_file_or_directory)
    return Status::IOError("list " + dir + ": " + ec.message());
  if (ec) return options_.fops->SyncDir(StreamsDir(options_.data_dir));
  for (const std::string& file : files) EF_RETURN_IF_ERROR(options_.fops->Remove(file));
  EF_RETURN_IF_ERROR(options_.fops->RemoveDir(dir));
  return options_.fops->SyncDir(StreamsDir(options_.data_dir));
}

Status Engine::FinishDeletes() {
  auto intents = index_->ScanState(kDeletingPrefix);
  if (!intents.ok()) return intents.status();
  for (const auto& [key, org] : *intents) {
    const std::string id_text = key.substr(std::string_view(kDeletingPrefix).size());
    auto id = Uuid::Parse(id_text);
    if (!id) return Status::Corruption("bad state key " + key);
    spdlog::warn("stream {}: finishing its deletion, which a stop interrupted", id_text);
    EF_RETURN_IF_ERROR(RemoveStreamDir(StreamsDir(options_.data_dir) + "/" + id_text));
    EF_RETURN_IF_ERROR(index_->DeleteStreamEvents(org, *id));
    EF_RETURN_IF_ERROR(index_->DeleteState(key));
  }
  return Status::Ok();
}

Status Engine::OpenStream(Manifest manifest, const std::string& dir, bool start_writer,
                          std::shared_ptr<Stream>* out) {
  auto stream = std::make_shared<Stream>();
  stream->manifest = std::move(manifest);
  *out = stream;
  const std::string id = stream->manifest.stream_id.ToString();
  auto checkpoint = index_->GetCheckpoint(stream->manifest.stream_id);
  if (!checkpoint.ok()) return stream->open_status = checkpoint.status();
  const uint64_t min_next = checkpoint->has_value() ? **checkpoint + 1 : 0;
  StreamLogOptions lo{options_.segment_bytes, options_.fops};
  lo.zero_ahead = options_.fsync.mode != FsyncPolicy::Mode::kNever;
  lo.min_free_bytes = index_headroom_;
  auto log = StreamLog::Open(dir, lo, min_next, &stream->recovery);
  if (!log.ok()) {
    stream->open_status = log.status();
    spdlog::critical("stream {} ({}) is NOT served: {}{}", id, stream->manifest.name,
                     log.status().ToString(),
                     log.status().IsCorruption() ? "; run `eventflow repair`" : "");
    return stream->open_status;
  }
  stream->log = std::move(*log);
  if (checkpoint->has_value() && **checkpoint >= stream->log->recovered_next()) {
    // The index holds ids of events the log no longer has (a power loss took
    // unflushed records under fsync interval/never, or repair dropped them).
    Status s = index_->DeleteStreamEventsFrom(stream->manifest.org_id, stream->manifest.stream_id,
                                              stream->log->recovered_next());
    if (!s.ok()) {
      stream->open_status = s;
      stream->log.reset();
      return s;
    }
    spdlog::warn(
        "stream {}: the log ends at offset {} but the index had reached {}; dropped "
        "index entries past the log (offsets continue after {})",
        id, stream->log->recovered_next(), **checkpoint, **checkpoint);
  }
  if (stream->recovery.truncated_bytes > 0) {
    spdlog::warn("stream {}: truncated a torn tail of {} bytes ({})", id,
                 stream->recovery.truncated_bytes, stream->recovery.reason);
  }
  if (const DroppedRecords& d = stream->recovery.dropped; d.count > 0) {
    // Rule 8.9: records past the tear were never covered by a completed
    // sync; under --fsync always none was acknowledged unless the disk
    // damaged bytes inside the last flush window.
    spdlog::error(
        "stream {}: dropped {} record(s) of a torn tail, offsets {} to {}: they were written "
        "after the last completed sync and the power loss or crash tore their batch or one "
        "before it",
        id, d.count, d.first_offset, d.last_offset);
  }
  if (Status s = CatchUpIndex(*stream, *checkpoint); !s.ok()) {
    stream->open_status = s;
    stream->log.reset();
    spdlog::critical("stream {} is NOT served: re-indexing failed: {}", id, s.ToString());
    return s;
  }
  if (Status s = FinishCleanupIntents(*stream->log, *index_, stream->manifest.org_id,
                                      stream->manifest.stream_id);
      !s.ok()) {
    // The stream serves; ids of removed events may answer as known until
    // the next cleanup run settles this.
    spdlog::error("stream {}: settling an interrupted cleanup failed: {}", id, s.ToString());
  }
  if (!start_writer) return Status::Ok();
  if (Status s = StartWriter(*stream); !s.ok()) {
    stream->open_status = s;
    stream->log.reset();
    spdlog::critical("stream {} ({}) is NOT served: {}", id, stream->manifest.name, s.ToString());
    return s;
  }
  return Status::Ok();
}

Status Engine::ReleaseIndexReserve() {
  const std::string path = IndexReservePath(options_.data_dir);
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::Ok();
  EF_RETURN_IF_ERROR(options_.fops->Remove(path));
  return options_.fops->SyncDir(options_.data_dir);
}

void Engine::MakeIndexReserve() {
  if (index_headroom_ == 0) return;
  struct statvfs fs;
  if (::statvfs(options_.data_dir.c_str(), &fs) != 0) return;
  const uint64_t free = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (free < 2 * index_headroom_) {
    spdlog::warn(
        "the data dir's filesystem has {} bytes free: no index reserve made ({} bytes wanted, "
        "with as much again free); the next start tries again",
        free, index_headroom_);
    return;
  }
  const std::string path = IndexReservePath(options_.data_dir);
  auto fd = options_.fops->Open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  Status s = fd.status();
  if (s.ok()) {
    s = options_.fops->Allocate(*fd, 0, index_headroom_, path);
    if (s.ok()) s = options_.fops->Sync(*fd, path);
    options_.fops->Close(*fd);
  }
  if (s.ok()) s = options_.fops->SyncDir(options_.data_dir);
  if (!s.ok()) {
    spdlog::warn("no index reserve made: {}", s.ToString());
    (void)options_.fops->Remove(path);
  }
}

Status Engine::StartWriter(Stream& stream) {
  auto writer =
      StreamWriter::Start(stream.log.get(), index_.get(), &ids_, stream.manifest.org_id,
                          stream.manifest.stream_id, options_.fsync, options_.max_unindexed_events);
  if (!writer.ok()) return writer.status();
  stream.writer = std::move(*writer);
  return Status::Ok();
}

size_t Engine::StartWriters() {
  std::unique_lock lock(mu_);
  size_t without = 0;
  for (auto& [id, stream] : streams_) {
    if (!stream->log || stream->writer) continue;
    if (Status s = StartWriter(*stream); !s.ok()) {
      ++without;
      spdlog::critical("stream {} ({}) takes no appends: {}", id.ToString(), stream->manifest.name,
                       s.ToString());
    }
  }
  return without;
}

Status Engine::CatchUpIndex(Stream& stream, std::optional<uint64_t> checkpoint) {
  const uint64_t from = checkpoint ? *checkpoint + 1 : 0;
  if (from >= stream.log->committed_next()) return Status::Ok();
  uint64_t indexed = 0;
  EF_RETURN_IF_ERROR(IndexLog(*index_, stream.manifest, *stream.log, from, &indexed));
  if (indexed > 0) {
    spdlog::info("stream {}: re-indexed {} event(s) past the index checkpoint",
                 stream.manifest.stream_id.ToString(), indexed);
  }
  return Status::Ok();
}

Engine::~Engine() { Close(); }

void Engine::Close() {
  std::unique_lock lock(mu_);
  if (closed_) return;
  closed_ = true;
  for (auto& [id, stream] : streams_) {
    if (stream->log) stream->log->waiters().Shutdown();
    if (stream->writer) stream->writer->Stop();
  }
  if (index_) {
    // The flush and close write table files: give them the reserve.
    if (Status s = ReleaseIndexReserve(); !s.ok()) {
      spdlog::error("could not remove the index reserve before closing: {}", s.ToString());
    }
    (void)index_->Flush();
  }
  index_.reset();
  if (lock_fd_ >= 0) options_.fops->Close(lock_fd_);
  lock_fd_ = -1;
}

Result<std::shared_ptr<Stream>> Engine::CreateStream(const std::string& org,
                                                     const std::string& name,
                                                     const std::string& settings_json) {
  std::unique_lock lock(mu_);
  if (closed_) return Status::Aborted("engine is closed");
  size_t org_streams = 0;
  for (const auto& [id, s] : streams_) {
    if (s->manifest.org_id != org) continue;
    if (s->manifest.name == name) {
      return Status::AlreadyExists("stream '" + name + "' already exists");
    }
    ++org_streams;
  }
  if (org_streams >= options_.max_streams_per_org) {
    return Status::QuotaExceeded("org '" + org + "' has " + std::to_string(org_streams) +
                                 " streams, the most --max-streams-per-org allows");
  }
  Manifest m;
  m.stream_id = Uuid::Random();
  m.org_id = org;
  m.name = name;
  m.created_at_ms = timestamp::NowMs();
  m.settings_json = settings_json.empty() ? "{}" : settings_json;
  const std::string dir = StreamsDir(options_.data_dir) + "/" + m.stream_id.ToString();
  // The log first, the manifest last: the stream exists once its manifest
  // and the streams directory are synced, and a directory without a
  // manifest is a create that never finished (Open removes it).
  EF_RETURN_IF_ERROR(options_.fops->MakeDirs(dir));
  std::shared_ptr<Stream> stream;
  Status s = OpenStream(m, dir, /*start_writer=*/true, &stream);
  if (s.ok()) s = m.Write(dir, options_.fops);
  if (s.ok()) s = options_.fops->SyncDir(StreamsDir(options_.data_dir));
  if (!s.ok()) {
    // Nothing of a stream whose create failed may come back at a start.
    if (stream) {
      stream->writer.reset();  // stops it
      stream->log.reset();
    }
    if (Status removed = RemoveStreamDir(dir); !removed.ok()) {
      spdlog::error("create stream: removing {} failed: {} (it is removed at the next start)", dir,
                    removed.ToString());
    }
    return s.IsCorruption() ? Status::IOError(s.message()) : s;
  }
  streams_[m.stream_id] = stream;
  return stream;
}

Status Engine::UpdateStreamSettings(const Uuid& stream_id, const std::string& settings_json) {
  std::shared_ptr<Stream> stream = FindStream(stream_id);
  if (!stream) return Status::NotFound("no stream " + stream_id.ToString());
  std::lock_guard lock(stream->settings_mu);
  if (stream->deleted) return Status::NotFound("stream " + stream_id.ToString() + " is deleted");
  Manifest m = stream->manifest;
  m.settings_json = settings_json.empty() ? "{}" : settings_json;
  const std::string dir = StreamsDir(options_.data_dir) + "/" + stream_id.ToString();
  EF_RETURN_IF_ERROR(m.Write(dir, options_.fops));
  stream->manifest.settings_json = std::move(m.settings_json);
  return Status::Ok();
}

Status Engine::DeleteStream(const Uuid& stream_id) {
  std::shared_ptr<Stream> stream;
  const std::string intent = std::string(kDeletingPrefix) + stream_id.ToString();
  {
    std::unique_lock lock(mu_);
    auto it = streams_.find(stream_id);
    if (it == streams_.end()) return Status::NotFound("no stream " + stream_id.ToString());
    // Once this is durable the deletion is finished, now or at the next
    // start (FinishDeletes): a deleted stream never comes back, whole or half.
    EF_RETURN_IF_ERROR(index_->PutState(intent, it->second->manifest.org_id));
    stream = it->second;
    streams_.erase(it);
  }
  {
    // A settings update in flight finishes its manifest write first; none
    // starts after this, so no manifest reappears in the removed directory.
    std::lock_guard settings_lock(stream->settings_mu);
    stream->deleted = true;
  }
  // A retention/compaction run in progress finishes before the files go.
  { std::lock_guard cleanup_lock(stream->cleanup_mu); }
  if (stream->log) stream->log->waiters().Shutdown();
  if (stream->writer) stream->writer->Stop();
  EF_RETURN_IF_ERROR(RemoveStreamDir(StreamsDir(options_.data_dir) + "/" + stream_id.ToString()));
  EF_RETURN_IF_ERROR(index_->DeleteStreamEvents(stream->manifest.org_id, stream_id));
  return index_->DeleteState(intent);
}

std::shared_ptr<Stream> Engine::FindStream(const Uuid& stream_id) const {
  std::shared_lock lock(mu_);
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second;
}

std::shared_ptr<Stream> Engine::FindStreamByName(const std::string& org,
                                                 const std::string& name) const {
  std::shared_lock lock(mu_);
  for (const auto& [id, s] : streams_) {
    if (s->manifest.org_id == org && s->manifest.name == name) return s;
  }
  return nullptr;
}

std::vector<std::shared_ptr<Stream>> Engine::ListStreams() const {
  std::shared_lock lock(mu_);
  std::vector<std::shared_ptr<Stream>> out;
  for (const auto& [id, s] : streams_) out.push_back(s);
  return out;
}

void Engine::Append(const std::shared_ptr<Stream>& stream, std::vector<EventDraft> events,
                    AppendCallback done) {
  if (!stream->serving()) {
    done(Status::Unavailable("stream is not served: " + stream->open_status.message()), {});
    return;
  }
  if (!stream->writer) {
    done(Status::Unavailable("the stream's writer could not be started (a thread limit); its "
                             "events can be read, and appends work again after a restart with "
                             "threads to spare"),
         {});
    return;
  }
  stream->writer->Append(std::move(events), std::move(done));
}

Status Engine::CleanUp(const std::shared_ptr<Stream>& stream, const CleanupPolicy& policy,
                       int64_t now_ms, CleanupReport* report) {
  if (!stream->serving()) {
    return Status::Unavailable("stream is not served: " + stream->open_status.message());
  }
  std::lock_guard lock(stream->cleanup_mu);
  {
    std::lock_guard settings_lock(stream->settings_mu);
    if (stream->deleted) return Status::NotFound("stream is deleted");
  }
  return CleanUpLog(*stream->log, *index_, stream->manifest.org_id, stream->manifest.stream_id,
                    policy, now_ms, report);
}

Result<std::optional<EventLocation>> Engine::Lookup(const std::string& org,
                                                    const Uuid& event_id) const {
  if (auto held = ids_.Find(org, event_id)) return held;
  return index_->GetEvent(org, event_id);
}

Status RebuildStreamIndex(Index& index, const Manifest& manifest, const StreamLog& log,
                          uint64_t* indexed) {
  EF_RETURN_IF_ERROR(index.DeleteStreamEvents(manifest.org_id, manifest.stream_id));
  EF_RETURN_IF_ERROR(IndexLog(index, manifest, log, 0, indexed));
  // The checkpoint is also the floor for new offsets: keep the highest
  // offset ever seen (the log was opened with it), so none is reused after
  // records were dropped.
  if (log.committed_next() > 0) {
    EF_RETURN_IF_ERROR(
        index.PutEvents(manifest.org_id, manifest.stream_id, {}, log.committed_next() - 1));
  }
  return Status::Ok();
}

Result<uint64_t> Engine::RebuildIndex(const EngineOptions& options,
                                      const std::function<void(uint64_t)>& on_stream_done) {
  auto lock = DataDirLock::Acquire(options.data_dir);
  if (!lock.ok()) return lock.status();
  Index::Options io;
  io.env = options.index_env;
  auto index = Index::Open(IndexDir(options.data_dir), io);
  if (!index.ok()) return index.status();
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(StreamsDir(options.data_dir), ec)) {
    auto manifest = Manifest::Read(entry.path().string());
    if (!manifest.ok()) continue;
    auto checkpoint = (*index)->GetCheckpoint(manifest->stream_id);
    if (!checkpoint.ok()) return checkpoint.status();
    // Open the log before touching the index, so a log that cannot be read
    // leaves the stream's entries as they were.
    StreamLogOptions lo{options.segment_bytes, options.fops};
    const uint64_t min_next = checkpoint->has_value() ? **checkpoint + 1 : 0;
    auto log = StreamLog::Open(entry.path().string(), lo, min_next);
    if (!log.ok()) return log.status();
    EF_RETURN_IF_ERROR(RebuildStreamIndex(**index, *manifest, **log, &total));
    if (on_stream_done) on_stream_done((*log)->bytes());
  }
  if (ec) return Status::IOError("list streams: " + ec.message());
  EF_RETURN_IF_ERROR((*index)->Flush());
  return total;
}

}  // namespace eventflow
