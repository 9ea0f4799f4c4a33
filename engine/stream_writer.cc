#include "engine/stream_writer.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <system_error>
#include <unordered_map>

#include "formats/record.h"
#include "formats/thread_name.h"
#include "formats/timestamp.h"

namespace eventflow {

Result<FsyncPolicy> FsyncPolicy::Parse(std::string_view text) {
  FsyncPolicy p;
  if (text == "always") return p;
  if (text == "never") {
    p.mode = Mode::kNever;
    return p;
  }
  constexpr std::string_view kInterval = "interval:";
  if (text.starts_with(kInterval)) {
    const std::string_view ms = text.substr(kInterval.size());
    int value = 0;
    auto [ptr, ec] = std::from_chars(ms.data(), ms.data() + ms.size(), value);
    if (ec == std::errc() && ptr == ms.data() + ms.size() && value > 0 && value <= 60000) {
      p.mode = Mode::kInterval;
      p.interval_ms = value;
      return p;
    }
  }
  return Status::InvalidArgument(
      "fsync policy must be always, never or interval:MS (1..60000), not '" + std::string(text) +
      "'");
}

StreamWriter::StreamWriter(StreamLog* log, Index* index, IdRegistry* ids, std::string org,
                           Uuid stream_id, FsyncPolicy fsync, size_t max_unindexed)
    : log_(log),
      index_(index),
      ids_(ids),
      org_(std::move(org)),
      stream_id_(stream_id),
      fsync_(fsync),
      max_unindexed_(max_unindexed),
      indexed_next_(log->committed_next()) {}

Result<std::unique_ptr<StreamWriter>> StreamWriter::Start(StreamLog* log, Index* index,
                                                          IdRegistry* ids, std::string org,
                                                          Uuid stream_id, FsyncPolicy fsync,
                                                          size_t max_unindexed) {
  std::unique_ptr<StreamWriter> w(
      new StreamWriter(log, index, ids, std::move(org), stream_id, fsync, max_unindexed));
  // std::thread throws std::system_error (EAGAIN) past a thread limit.
  try {
    w->flusher_thread_ = std::thread([p = w.get()] { p->RunFlusher(); });
  } catch (const std::system_error& e) {
    return Status::Unavailable(std::string("cannot start the stream's flusher thread: ") +
                               e.what());
  }
  NameThread(w->flusher_thread_, "ef-flusher");
  try {
    w->thread_ = std::thread([p = w.get()] { p->Run(); });
  } catch (const std::system_error& e) {
    {
      std::lock_guard lock(w->flush_mu_);
      w->flusher_stopping_ = true;
      w->flush_cv_.notify_all();
    }
    w->flusher_thread_.join();
    return Status::Unavailable(std::string("cannot start the stream's writer thread: ") + e.what());
  }
  NameThread(w->thread_, "ef-writer");
  return w;
}

StreamWriter::~StreamWriter() { Stop(); }

void StreamWriter::Append(std::vector<EventDraft> events, AppendCallback done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(Request{std::move(events), std::move(done), {}, {}});
      if (queue_.size() >= wake_at_) cv_.notify_one();
      return;
    }
  }
  done(Status::Aborted("stream writer is shut down"), {});
}

void StreamWriter::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void StreamWriter::Run() {
  std::vector<Request> batch;
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || stopping_ || recovery_due_; });
      LingerForLastRoundsCount(lock);
      recovery_due_ = false;
      if (queue_.empty() && stopping_) break;  // everything is answered
      for (auto& r : queue_) batch.push_back(std::move(r));
      queue_.clear();
    }
    if (batch.empty()) {  // the flusher failed a round: rewind now, not at the next append
      RecoverIfFailed();
      continue;
    }
    if (!RecoverIfFailed()) {
      for (auto& r : batch) r.done(Status::Unavailable("stream writer is recovering"), {});
      batch.clear();
      continue;
    }
    next_offset_ = log_->next_offset();
    last_ts_ = log_->last_timestamp_ms();
    uint64_t buf_next = next_offset_;
    int64_t buf_ts = last_ts_;
    bool failed = false;
    for (auto& req : batch) {
      if (failed) {  // the round before it failed; nothing of it was stored
        req.done(Status::Unavailable("stream writer is recovering"), {});
        continue;
      }
      const size_t mark = buf_.size();
      const size_t mark_ids = round_.ids.size();
      const size_t mark_held = round_.held.size();
      if (!Prepare(req)) {
        req.done(req.status, {});
        continue;
      }
      if (!log_->Fits(buf_.size())) {
        // Write what is buffered, let it be published, then start a segment
        // for this request.
        std::string tail = buf_.substr(mark);
        std::vector<IndexedEvent> tail_ids(round_.ids.begin() + mark_ids, round_.ids.end());
        std::vector<Uuid> tail_held(round_.held.begin() + mark_held, round_.held.end());
        buf_.resize(mark);
        round_.ids.resize(mark_ids);
        round_.held.resize(mark_held);
        Status s = WriteRound(buf_next, buf_ts) && AwaitFlushed()
                       ? log_->Roll(tail.size(), fsync_.mode == FsyncPolicy::Mode::kAlways
                                                     ? StreamLog::SealSync::kNow
                                                     : StreamLog::SealSync::kBackground)
                       : Status::Unavailable("stream writer is recovering");
        if (!s.ok()) {
          ReleaseReservations(tail_held);
          req.done(s, {});
          failed = true;
          continue;
        }
        buf_ = std::move(tail);
        round_.ids = std::move(tail_ids);
        round_.held = std::move(tail_held);
      }
      buf_next = next_offset_;
      buf_ts = last_ts_;
      round_.requests.push_back(std::move(req));
    }
    if (!failed) WriteRound(buf_next, buf_ts);
    batch.clear();
    if (needs_rewind_) RecoverIfFailed();
  }
  {
    std::lock_guard lock(flush_mu_);
    flusher_stopping_ = true;
    flush_cv_.notify_all();
  }
  flusher_thread_.join();
  // A round that failed just before the stop is cut from the file now, so
  // its bytes cannot reach the disk later and be found at the next open.
  RecoverIfFailed();
  // A stop leaves every segment synced (the newest sealed ones may still be).
  (void)log_->AwaitSealSyncs();  // a failure was logged when it happened
}

void StreamWriter::LingerForLastRoundsCount(std::unique_lock<std::mutex>& lock) {
  const size_t want = last_round_requests_;
  const int64_t linger_ns = last_flush_ns_.load(std::memory_order_relaxed) / 3;
  if (linger_inline_ && linger_ns > 0 && queue_.size() < want && !stopping_ && !recovery_due_) {
    wake_at_ = want;
    cv_.wait_for(lock, std::chrono::nanoseconds(std::min<int64_t>(linger_ns, kMaxLingerNs)),
                 [&] { return queue_.size() >= want || stopping_ || recovery_due_; });
    wake_at_ = 1;
  }
  last_round_requests_ = queue_.size();
}

bool StreamWriter::Prepare(Request& req) {
  const size_t n = req.events.size();
  if (const uint64_t waiting = stats_.unindexed.load(); waiting >= max_unindexed_) {
    req.status = Status::Unavailable("the event index is failing: " + std::to_string(waiting) +
                                     " durable events wait to be indexed; appends resume once "
                                     "they are");
    return false;
  }
  req.acks.assign(n, EventAck{});
  enum class Fate : uint8_t { kNew, kDuplicate };
  std::vector<Fate> fate(n, Fate::kNew);
  std::unordered_map<Uuid, size_t, UuidHash> first_in_request;
  std::vector<Uuid> reserved;  // ids this call reserved, to check in the index
  std::vector<size_t> reserved_at;
  std::vector<bool> still_held;  // per reserved id: not released yet
  auto release_all = [&] {
    for (size_t k = 0; k < reserved.size(); ++k) {
      if (still_held[k]) ids_->Release(org_, reserved[k]);
    }
  };
  const EventLocation placeholder{stream_id_, IdRegistry::kUnassigned, 0};
  for (size_t i = 0; i < n; ++i) {
    const Uuid& id = req.events[i].event_id;
    req.acks[i].event_id = id;
    if (req.events[i].id_assigned_by_server) continue;  // new by construction
    if (auto [it, inserted] = first_in_request.try_emplace(id, i); !inserted) {
      fate[i] = Fate::kDuplicate;  // resolved below, once the first one has an offset
      continue;
    }
    if (auto held = ids_->TryReserve(org_, id, placeholder)) {
      if (held->stream_id != stream_id_) {
        release_all();
        req.status = Status::Conflict("event_id " + id.ToString() + " belongs to another stream");
        return false;
      }
      fate[i] = Fate::kDuplicate;
      req.acks[i] = EventAck{id, held->offset, held->created_at_ms, true};
      continue;
    }
    reserved.push_back(id);
    reserved_at.push_back(i);
    still_held.push_back(true);
  }
  std::vector<std::optional<EventLocation>> found;
  if (Status s = index_->GetEvents(org_, reserved, &found); !s.ok()) {
    release_all();
    req.status = s;
    return false;
  }
  for (size_t k = 0; k < reserved.size(); ++k) {
    if (!found[k]) continue;
    if (found[k]->stream_id != stream_id_) {
      release_all();
      req.status =
          Status::Conflict("event_id " + reserved[k].ToString() + " belongs to another stream");
      return false;
    }
    const size_t i = reserved_at[k];
    fate[i] = Fate::kDuplicate;
    req.acks[i] = EventAck{reserved[k], found[k]->offset, found[k]->created_at_ms, true};
    ids_->Release(org_, reserved[k]);
    still_held[k] = false;
  }
  size_t fresh = 0;
  for (size_t i = 0; i < n; ++i) {
    if (fate[i] != Fate::kNew) continue;
    ++fresh;
    if (req.events[i].CompactSize() > record::kMaxPayloadBytes) {
      release_all();
      req.status = Status::InvalidArgument("event " + std::to_string(i) + " is larger than " +
                                           std::to_string(record::kMaxPayloadBytes) + " bytes");
      return false;
    }
  }
  size_t done = 0;
  // One timestamp for the request, and ids that follow each other for the
  // events the server names in it: with their consecutive offsets the index
  // keeps each such run as one entry (Index, event_runs). A run never goes
  // on into the next request: each request's first id is fresh (random bits
  // from a CSPRNG), so no client can tell from its own acks which ids
  // another request will get, and claim them first.
  const int64_t ts = std::max(timestamp::NowMs(), last_ts_);
  std::optional<Uuid> run_next;
  for (size_t i = 0; i < n; ++i) {
    if (fate[i] != Fate::kNew) continue;
    EventDraft& draft = req.events[i];
    if (draft.id_assigned_by_server) {
      draft.event_id = run_next ? *run_next : Uuid::TimeOrdered();
      run_next = draft.event_id.Successor();
    } else {
      run_next.reset();
    }
    const uint64_t offset = next_offset_;
    const size_t at = buf_.size();
    buf_.resize(at + record::EncodedSize(draft.CompactSize()));
    record::Header h;
    h.length =
        static_cast<uint32_t>(RenderCompactEvent(draft, buf_.data() + at + record::kHeaderSize));
    h.offset = offset;
    h.timestamp_ms = ts;
    h.flags = record::kCompactEvent | (done == 0 ? record::kBatchBegin : 0) |
              (done + 1 == fresh ? record::kBatchEnd : 0);
    // A batch's first record says what was durable when it was encoded
    // (docs/segment-format.md, rule 8.9).
    if (done == 0) h.set_synced_before(log_->durable_next());
    buf_.resize(at + record::EncodeInPlace(h, buf_.data() + at));
    ++done;
    ++next_offset_;
    last_ts_ = ts;
    const EventLocation loc{stream_id_, offset, ts};
    if (!draft.id_assigned_by_server) {
      ids_->Update(org_, draft.event_id, loc);
      round_.held.push_back(draft.event_id);
    }
    round_.ids.push_back(IndexedEvent{draft.event_id, loc});
    req.acks[i] = EventAck{draft.event_id, offset, ts, false};
  }
  // Repeats inside the request take the first occurrence's answer.
  for (size_t i = 0; i < n; ++i) {
    if (req.events[i].id_assigned_by_server) continue;
    const size_t first = first_in_request[req.acks[i].event_id];
    if (first != i) {
      req.acks[i] = req.acks[first];
      req.acks[i].duplicate = true;
    }
  }
  return true;
}

bool StreamWriter::WriteRound(uint64_t next, int64_t last_ts) {
  if (round_.requests.empty()) return true;
  Round round = std::move(round_);
  round_ = Round{};
  round.bytes = buf_.size();
  if (!buf_.empty()) {
    Status s = log_->Append(buf_, next, last_ts);
    buf_.clear();
    if (!s.ok()) {
      // Rounds before this one may still be flushed and published; the
      // rewind waits for them.
      needs_rewind_ = true;
      healthy_ = false;
      FailRound(round, s);
      return false;
    }
    round.written = log_->mark();
    if (fsync_.mode == FsyncPolicy::Mode::kAlways && round.bytes >= kMinPipelinedBytes) {
      // Its flush may wait behind the one in progress; let the disk start
      // on it meanwhile (measured: batches of 1000, 1.10x).
      log_->StartWriteback(round.bytes);
    }
  }
  std::unique_lock lock(flush_mu_);
  flush_cv_.wait(lock, [&] { return waiting_rounds_.size() < kMaxWaitingRounds; });
  if (!flush_failure_.ok()) {
    // A round before this one failed to flush: this one was written after
    // bytes that may never reach the disk, so it fails too.
    lock.unlock();
    FailRound(round, Status::Unavailable("stream writer is recovering"));
    return false;
  }
  const bool inline_flush =
      round.bytes < kMinPipelinedBytes && waiting_rounds_.empty() && !flusher_busy_;
  linger_inline_ = inline_flush && fsync_.mode == FsyncPolicy::Mode::kAlways;
  if (inline_flush) {
    // A small round with nothing in flight: its flush is short, and a
    // handoff to the flusher thread costs more than the overlap saves
    // (measured with single-event producers: p99 8.6 -> 12-14 ms when
    // every round went through the flusher thread). The writer flushes it.
    flusher_busy_ = true;
    lock.unlock();
    std::vector<Round> rounds;
    rounds.push_back(std::move(round));
    const bool ok = FlushAndAnswer(rounds, Status::Ok());
    lock.lock();
    // No notify: only this thread hands rounds over or stops the flusher,
    // so no one else waits for this (waking the flusher thread for nothing
    // cost batch-of-one appends ~20%).
    flusher_busy_ = false;
    return ok;
  }
  waiting_rounds_.push_back(std::move(round));
  flush_cv_.notify_all();
  return true;
}

void StreamWriter::WaitForFlusherIdle(std::unique_lock<std::mutex>& lock) {
  flush_cv_.wait(lock, [&] { return waiting_rounds_.empty() && !flusher_busy_; });
}

bool StreamWriter::AwaitFlushed() {
  std::unique_lock lock(flush_mu_);
  WaitForFlusherIdle(lock);
  return flush_failure_.ok() && !needs_rewind_;
}

bool StreamWriter::RecoverIfFailed() {
  {
    std::unique_lock lock(flush_mu_);
    if (flush_failure_.ok() && !needs_rewind_ && !log_->seal_sync_failed()) return true;
    WaitForFlusherIdle(lock);
  }
  if (Status s = RecoverLog(); !s.ok()) {
    needs_rewind_ = true;
    spdlog::error("stream {}: recovery from a storage error failed, appends paused: {}",
                  stream_id_.ToString(), s.ToString());
    return false;
  }
  needs_rewind_ = false;
  {
    std::lock_guard lock(flush_mu_);
    flush_failure_ = Status::Ok();
    needs_relocation_ = false;
  }
  healthy_ = true;
  spdlog::info("stream {}: writer recovered, appends resume", stream_id_.ToString());
  return true;
}

Status StreamWriter::RecoverLog() {
  bool relocate;
  {
    std::lock_guard lock(flush_mu_);
    relocate = needs_relocation_;
  }
  const bool sealed = log_->seal_sync_failed();
  // Only acknowledged records past the last good sync are at risk.
  if (!sealed && (!relocate || log_->durable_next() >= log_->committed_next())) {
    return log_->Rewind();
  }
  const int64_t now = timestamp::NowMs();
  if (now - last_relocate_ms_ < 1000) {
    return Status::Unavailable("relocation of the log tried less than a second ago");
  }
  last_relocate_ms_ = now;
  const uint64_t from = log_->durable_next();
  StreamLog::LostRecords lost;
  if (sealed) EF_RETURN_IF_ERROR(log_->RelocateSealed(&lost));
  EF_RETURN_IF_ERROR(relocate ? log_->Relocate(&lost) : log_->Rewind());
  if (lost.count == 0) {
    spdlog::warn(
        "stream {}: a flush failed; the acknowledged records from offset {} on were copied to a "
        "new file and synced",
        stream_id_.ToString(), from);
    return Status::Ok();
  }
  std::string ranges;
  for (const auto& [first, last] : lost.ranges) {
    if (!ranges.empty()) ranges += ", ";
    ranges += std::to_string(first) + (first == last ? "" : ".." + std::to_string(last));
  }
  stats_.acknowledged_lost += lost.count;
  spdlog::error(
      "stream {}: a flush failed and {} acknowledged event(s) could not be kept (their bytes "
      "failed their CRC when copied to a new file): offsets {}",
      stream_id_.ToString(), lost.count, ranges);
  return Status::Ok();
}

void StreamWriter::NoteFlushFailed(const Status& s) {
  {
    std::lock_guard lock(flush_mu_);
    if (flush_failure_.ok()) flush_failure_ = s;
    if (fsync_.mode != FsyncPolicy::Mode::kAlways) needs_relocation_ = true;
  }
  healthy_ = false;
  unsynced_.reset();  // recovery syncs or relocates what is kept
  std::lock_guard lock(mu_);
  recovery_due_ = true;
  cv_.notify_one();
}

void StreamWriter::RunFlusher() {
  std::vector<Round> rounds;
  while (true) {
    Status failure;
    {
      std::unique_lock lock(flush_mu_);
      // While the writer flushes a round itself it holds flusher_busy_.
      auto ready = [&] {
        return (!waiting_rounds_.empty() || flusher_stopping_) && !flusher_busy_;
      };
      if (fsync_.mode == FsyncPolicy::Mode::kInterval) {
        flush_cv_.wait_for(lock, std::chrono::milliseconds(fsync_.interval_ms), ready);
      } else {
        flush_cv_.wait(lock, ready);
      }
      if (flusher_busy_) continue;
      if (waiting_rounds_.empty()) {
        if (flusher_stopping_) break;
        flusher_busy_ = true;
        lock.unlock();
        SyncQuietLog();
        lock.lock();
        flusher_busy_ = false;
        flush_cv_.notify_all();
        continue;
      }
      for (auto& r : waiting_rounds_) rounds.push_back(std::move(r));
      waiting_rounds_.clear();
      flusher_busy_ = true;
      failure = flush_failure_;
      flush_cv_.notify_all();  // room for the writer
    }
    FlushAndAnswer(rounds, failure);
    rounds.clear();
    std::lock_guard lock(flush_mu_);
    flusher_busy_ = false;
    flush_cv_.notify_all();
  }
  if (unsynced_) {
    ++stats_.flushes;
    if (Status s = SyncLog(*unsynced_); !s.ok()) {
      spdlog::error("stream {}: the last flush before the stop failed: {}", stream_id_.ToString(),
                    s.ToString());
      NoteFlushFailed(s);  // the writer relocates after joining this thread
    }
  }
}

void StreamWriter::SyncQuietLog() {
  if (!unsynced_ || fsync_.mode != FsyncPolicy::Mode::kInterval) return;
  if (timestamp::NowMs() - last_sync_ms_ < fsync_.interval_ms) return;
  ++stats_.flushes;
  if (Status s = SyncLog(*unsynced_); s.ok()) {
    unsynced_.reset();
    last_sync_ms_ = timestamp::NowMs();
  } else {
    // Not retried: the failed pages may have been marked clean, so a
    // retry could succeed without writing them (docs/segment-format.md 9).
    spdlog::error("stream {}: background flush failed, appends stop until the log is relocated: {}",
                  stream_id_.ToString(), s.ToString());
    NoteFlushFailed(s);
  }
}

bool StreamWriter::FlushAndAnswer(std::vector<Round>& rounds, Status failure) {
  if (failure.ok()) failure = SyncRounds(rounds);
  if (failure.ok()) {
    CompleteRounds(rounds);
    return true;
  }
  NoteFlushFailed(failure);  // before the answers: later rounds must fail too
  for (Round& r : rounds) FailRound(r, failure);
  return false;
}

Status StreamWriter::SyncRounds(const std::vector<Round>& rounds) {
  // The last round's mark covers them all: the writer rolls to a new
  // segment only once the flusher stage is idle, so rounds in flight share
  // one segment (the roll makes the old one durable, now or in the
  // background per StreamLog::SealSync).
  const StreamLog::Mark* last = nullptr;
  for (const Round& r : rounds) {
    if (r.written) last = &*r.written;
  }
  if (last == nullptr) return Status::Ok();
  unsynced_ = *last;
  const int64_t now = timestamp::NowMs();
  if (fsync_.mode == FsyncPolicy::Mode::kAlways ||
      (fsync_.mode == FsyncPolicy::Mode::kInterval && now - last_sync_ms_ >= fsync_.interval_ms)) {
    Status s = SyncLog(*last);
    ++stats_.flushes;
    if (!s.ok()) return s;
    unsynced_.reset();
    last_sync_ms_ = now;
  }
  return Status::Ok();
}

void StreamWriter::CompleteRounds(std::vector<Round>& rounds) {
  const StreamLog::Mark* last = nullptr;
  for (Round& r : rounds) {
    if (r.written) last = &*r.written;
    unindexed_.insert(unindexed_.end(), r.ids.begin(), r.ids.end());
    unindexed_held_.insert(unindexed_held_.end(), r.held.begin(), r.held.end());
  }
  if (last != nullptr) indexed_next_ = last->next();
  // Index before publishing, so an id a consumer can see is also found.
  if (!unindexed_.empty()) {
    if (Status is = index_->PutEvents(org_, stream_id_, unindexed_, indexed_next_ - 1); is.ok()) {
      ReleaseReservations(unindexed_held_);
      unindexed_.clear();
      unindexed_held_.clear();
      stats_.unindexed = 0;
    } else {
      // The events are durable in the log; the registry answers for all of
      // them (server-assigned ids included, so lookups by id find them) and
      // the next round retries (a restart re-indexes them anyway).
      unindexed_held_.clear();
      for (const IndexedEvent& e : unindexed_) {
        ids_->Update(org_, e.event_id, e.location);
        unindexed_held_.push_back(e.event_id);
      }
      stats_.unindexed = unindexed_.size();
      spdlog::warn("stream {}: index write failed, will retry: {}", stream_id_.ToString(),
                   is.ToString());
    }
  }
  if (last != nullptr) log_->Publish(*last);
  WriterObserver* observer = observer_.load();
  for (Round& r : rounds) {
    uint64_t stored = 0;
    for (const auto& req : r.requests) {
      for (const auto& a : req.acks) stored += a.duplicate ? 0 : 1;
    }
    ++stats_.rounds;
    stats_.appends += r.requests.size();
    stats_.events += stored;
    if (observer != nullptr) observer->OnRound(r.requests.size(), stored, r.bytes);
    for (auto& req : r.requests) req.done(Status::Ok(), std::move(req.acks));
  }
}

void StreamWriter::FailRound(Round& round, const Status& s) {
  ++stats_.failures;
  spdlog::error("stream {}: append failed, {} request(s) refused: {}", stream_id_.ToString(),
                round.requests.size(), s.ToString());
  ReleaseReservations(round.held);
  for (auto& req : round.requests) req.done(s, {});
  round.requests.clear();
}

Status StreamWriter::SyncLog(const StreamLog::Mark& m) {
  const auto start = std::chrono::steady_clock::now();
  Status s = log_->Sync(m);
  if (s.ok()) log_->NoteSynced(m);
  const auto took = std::chrono::steady_clock::now() - start;
  last_flush_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count(),
                       std::memory_order_relaxed);
  if (WriterObserver* o = observer_.load()) o->OnFlush(std::chrono::duration<double>(took).count());
  return s;
}

void StreamWriter::ReleaseReservations(const std::vector<Uuid>& ids) {
  for (const Uuid& id : ids) ids_->Release(org_, id);
}

}  // namespace eventflow
