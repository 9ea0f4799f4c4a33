#include "engine/processor.h"

#include <spdlog/spdlog.h>

#include "formats/random.h"
#include "formats/saturating.h"
#include "formats/stored_event.h"
#include "formats/thread_name.h"
#include "formats/timestamp.h"

namespace eventflow {

struct Processor::Entry {
  std::shared_ptr<Stream> stream;
  std::shared_ptr<ProcessedView> view;
  // Guarded by mu_:
  ProcessingConfig config;
  bool queued = false;                        // in ready_
  bool busy = false;                          // the thread is processing it
  bool dropped = false;                       // Drop began
  std::optional<Clock::time_point> retry_at;  // a failed event waits until then
  CommitWaiters::Token token = 0;
  bool writing = false;  // a ViewWrite of it is in flight
  // The thread's own: where the next batch starts (past the batches handed
  // to the write thread; the view's frontier is what is durable), and the
  // event that failed and its tries so far.
  uint64_t cursor = 0;
  uint64_t failing_offset = UINT64_MAX;
  uint32_t attempts = 0;
  uint64_t trimmed_below = 0;  // view entries below it are deleted
};

// One batch's synced write, and what to publish once it is durable.
struct Processor::ViewWrite {
  std::shared_ptr<Entry> entry;
  std::vector<Index::StateWrite> writes;
  uint64_t next = 0;  // the frontier once written
  std::vector<int64_t> latency_ms;
  std::vector<DlqEntry> dead;
};

Processor::Processor(Index* index, ProcessorObserver* observer)
    : index_(index),
      observer_(observer),
      write_thread_([this] { WriteLoop(); }),
      thread_([this] { Run(); }) {
  NameThread(write_thread_, "ef-view-write");
  NameThread(thread_, "ef-processor");
}

Processor::~Processor() { Stop(); }

void Processor::Stop() {
  std::vector<std::shared_ptr<Entry>> entries;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    for (auto& [id, e] : entries_) entries.push_back(e);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(write_mu_);
    write_stop_ = true;  // after the write in flight, if any
  }
  write_cv_.notify_all();
  if (write_thread_.joinable()) write_thread_.join();
  for (auto& e : entries) {
    CommitWaiters::Token token;
    {
      std::lock_guard lock(mu_);
      token = std::exchange(e->token, 0);
    }
    if (token != 0 && e->stream->log) e->stream->log->waiters().Cancel(token);
    e->view->waiters().Shutdown();
  }
}

Result<std::shared_ptr<ProcessedView>> Processor::Configure(const std::shared_ptr<Stream>& stream,
                                                            ProcessingConfig config,
                                                            bool from_start) {
  const Uuid id = stream->manifest.stream_id;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it != entries_.end()) {
      it->second->config = std::move(config);
      it->second->retry_at.reset();  // new rules: try the failing event again now
      ScheduleLocked(it->second);
      return it->second->view;
    }
  }
  if (!stream->log) return Status::Unavailable("stream " + id.ToString() + " is not served");
  auto stored = ProcessedView::StoredFrontier(*index_, id);
  if (!stored.ok()) return stored.status();
  uint64_t frontier;
  if (stored->has_value()) {
    frontier = **stored;
  } else {
    frontier = from_start ? 0 : stream->log->committed_next();
    EF_RETURN_IF_ERROR(index_->PutState(ProcessedView::FrontierKey(id), std::to_string(frontier)));
  }
  auto e = std::make_shared<Entry>();
  e->stream = stream;
  e->view = std::make_shared<ProcessedView>(index_, id, frontier);
  e->cursor = frontier;
  e->config = std::move(config);
  std::lock_guard lock(mu_);
  auto [it, added] = entries_.emplace(id, e);
  if (!added) {  // configured concurrently: that one stands, with this config
    it->second->config = e->config;
    return it->second->view;
  }
  if (stop_) e->view->waiters().Shutdown();
  ScheduleLocked(e);
  return e->view;
}

std::shared_ptr<ProcessedView> Processor::Find(const Uuid& stream_id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(stream_id);
  return it == entries_.end() ? nullptr : it->second->view;
}

Status Processor::Drop(const Uuid& stream_id) {
  std::shared_ptr<Entry> e;
  CommitWaiters::Token token = 0;
  {
    std::unique_lock lock(mu_);
    auto it = entries_.find(stream_id);
    if (it != entries_.end()) {
      e = it->second;
      e->dropped = true;
      cv_.wait(lock, [&] { return !e->busy && !e->writing; });
      token = std::exchange(e->token, 0);
      entries_.erase(it);
    }
  }
  if (e) {
    if (token != 0 && e->stream->log) e->stream->log->waiters().Cancel(token);
    e->view->waiters().Shutdown();
  }
  std::string prefix = ProcessedView::EntryPrefix(stream_id);
  std::string past = prefix;
  ++past.back();  // the first key after every key with the prefix
  EF_RETURN_IF_ERROR(index_->DeleteStateRange(prefix, past));
  return index_->DeleteState(ProcessedView::FrontierKey(stream_id));
}

Status Processor::Trim(const Uuid& stream_id, uint64_t first_offset) {
  // A blob's key is its last entry's offset: those below are wholly gone.
  return index_->DeleteStateRange(ProcessedView::EntryPrefix(stream_id),
                                  ProcessedView::EntryKey(stream_id, first_offset));
}

void Processor::Schedule(const std::shared_ptr<Entry>& e) {
  std::lock_guard lock(mu_);
  ScheduleLocked(e);
}

void Processor::ScheduleLocked(const std::shared_ptr<Entry>& e) {
  if (e->queued || e->dropped || e->retry_at || stop_) return;
  e->queued = true;
  ready_.push_back(e);
  cv_.notify_all();
}

void Processor::WaitForEvents(const std::shared_ptr<Entry>& e) {
  std::weak_ptr<Entry> weak = e;
  const auto token = e->stream->log->waiters().Wait(e->cursor, [this, weak](bool woken) {
    // Runs on the writer's thread (or here, at once): only queue the stream.
    if (!woken) return;
    if (auto entry = weak.lock()) Schedule(entry);
  });
  std::lock_guard lock(mu_);
  e->token = token;
}

void Processor::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    const auto now = Clock::now();
    std::optional<Clock::time_point> next_retry;
    for (auto& [id, e] : entries_) {
      if (!e->retry_at) continue;
      if (*e->retry_at <= now) {
        e->retry_at.reset();
        ScheduleLocked(e);
      } else {
        next_retry = std::min(next_retry.value_or(*e->retry_at), *e->retry_at);
      }
    }
    if (ready_.empty()) {
      if (next_retry) {
        cv_.wait_until(lock, *next_retry);
      } else {
        cv_.wait(lock);
      }
      continue;
    }
    auto e = ready_.front();
    ready_.pop_front();
    e->queued = false;
    if (e->dropped || e->retry_at) continue;  // a retry is scheduled when due
    e->busy = true;
    const ProcessingConfig config = e->config;
    lock.unlock();
    const Next next = ProcessBatch(e, config);
    if (next.kind == Next::Kind::kWaitForEvents) WaitForEvents(e);
    lock.lock();
    e->busy = false;
    cv_.notify_all();  // a Drop may be waiting
    if (e->dropped) continue;
    if (next.kind == Next::Kind::kMore) ScheduleLocked(e);
    if (next.kind == Next::Kind::kRetryAt) e->retry_at = next.at;
  }
}

Processor::Next Processor::ProcessBatch(const std::shared_ptr<Entry>& entry,
                                        const ProcessingConfig& config) {
  Entry& e = *entry;
  const Stream& stream = *e.stream;
  const Uuid& id = stream.manifest.stream_id;
  const StreamLog& log = *stream.log;
  const uint64_t from = e.cursor;
  const uint64_t committed = log.committed_next();
  const int64_t now_ms = timestamp::NowMs();
  const bool has_rules = config.rules && !config.rules->empty();
  // Retention removed events: their outcomes go too.
  if (const uint64_t first = log.first_offset(); first > e.trimmed_below) {
    if (Status s = Trim(id, first); s.ok()) {
      e.trimmed_below = first;
    } else {
      spdlog::warn("processing stream {}: trimming the processed view: {}", id.ToString(),
                   s.ToString());
    }
  }

  std::vector<Index::StateWrite> writes;
  ProcessedBlob blob;
  // Blobs are cut at kBlobBytes so a reader loads little beyond what it reads.
  auto cut_if_full = [&] {
    if (blob.size() >= kBlobBytes) {
      writes.push_back({ProcessedView::EntryKey(id, blob.last()), blob.Take()});
    }
  };
  std::vector<DlqEntry> dead;
  std::vector<int64_t> latency_ms;
  uint64_t next = from;
  size_t bytes = 0;
  bool full = false;
  struct Failure {
    uint64_t offset;
    uint32_t attempt;
    std::string reason;
  };
  std::optional<Failure> failure;
  Status read = log.ReadEvents(from, id, [&](const RecordView& r, std::string_view event) {
    if (latency_ms.size() >= kBatchEvents || bytes >= kBatchBytes) {
      full = true;
      return false;
    }
    if (has_rules) {
      auto out = config.rules->Apply(event);
      if (out.ok() && out->transformed && out->transformed->size() > config.max_output_bytes) {
        out = Status::InvalidArgument(
            "the transformed event is " + std::to_string(out->transformed->size()) +
            " bytes, over the limit of " + std::to_string(config.max_output_bytes));
      }
      if (!out.ok()) {
        const uint32_t attempt = (e.failing_offset == r.offset ? e.attempts : 0) + 1;
        if (attempt < config.max_attempts) {
          failure = Failure{r.offset, attempt, out.status().message()};
          return false;
        }
        DlqEntry entry;
        const auto event_id = PeekEventId(event);
        entry.event_id = event_id ? event_id->ToString() : std::string();
        entry.offset = r.offset;
        entry.stage = "processing";
        entry.reason = out.status().message();
        entry.attempts = attempt;
        entry.failed_at_ms = now_ms;
        entry.event_json = std::string(event);
        writes.push_back(DeliveryStore::DlqPut(id, entry));
        blob.Add(r.offset, 'x');
        cut_if_full();
        dead.push_back(std::move(entry));
      } else if (out->filtered) {
        blob.Add(r.offset, 'f');
        cut_if_full();
      } else if (out->transformed) {
        blob.AddTransformed(r.offset, event, *out->transformed);
        cut_if_full();
      }
    }
    latency_ms.push_back(std::max<int64_t>(0, now_ms - r.timestamp_ms));
    bytes += event.size();
    next = r.offset + 1;
    return true;
  });
  if (!read.ok()) {
    spdlog::error("processing stream {}: reading the log at {}: {}", id.ToString(), from,
                  read.ToString());
    return {Next::Kind::kRetryAt, Clock::now() + std::chrono::seconds(1)};
  }
  // Everything committed was read (compaction may leave a gap at the end).
  if (!full && !failure) next = std::max(next, committed);
  if (!blob.empty()) writes.push_back({ProcessedView::EntryKey(id, blob.last()), blob.Take()});
  if (next > from) {
    writes.push_back({ProcessedView::FrontierKey(id), std::to_string(next)});
    if (!AwaitWrite(entry)) return {Next::Kind::kRetryAt, Clock::now() + std::chrono::seconds(1)};
    auto w = std::make_unique<ViewWrite>();
    w->entry = entry;
    w->writes = std::move(writes);
    w->next = next;
    w->latency_ms = std::move(latency_ms);
    w->dead = std::move(dead);
    {
      std::lock_guard lock(mu_);
      e.writing = true;
    }
    {
      std::lock_guard lock(write_mu_);
      write_ = std::move(w);
    }
    write_cv_.notify_all();
    e.cursor = next;
    if (e.failing_offset < next) e.failing_offset = UINT64_MAX, e.attempts = 0;
  }
  if (failure) {
    e.failing_offset = failure->offset;
    e.attempts = failure->attempt;
    if (observer_)
      observer_->OnRuleFailed(stream, failure->offset, failure->attempt, failure->reason);
    // Exponential backoff with "equal jitter": half the delay fixed, half
    // random, so retries of many streams spread out but never come early.
    const int shift = static_cast<int>(std::min<uint32_t>(failure->attempt - 1, 30));
    const int64_t delay =
        std::min<int64_t>(kMaxBackoffMs, SaturatingMul(config.backoff_ms, int64_t{1} << shift));
    const int64_t half = delay / 2;
    const int64_t jitter = half > 0 ? static_cast<int64_t>(RandomBits() % (half + 1)) : 0;
    return {Next::Kind::kRetryAt, Clock::now() + std::chrono::milliseconds(delay - half + jitter)};
  }
  if (full) return {Next::Kind::kMore, {}};
  return {Next::Kind::kWaitForEvents, {}};
}

bool Processor::AwaitWrite(const std::shared_ptr<Entry>& e) {
  std::vector<std::shared_ptr<Entry>> failed;
  {
    std::unique_lock lock(write_mu_);
    write_cv_.wait(lock, [&] { return write_ == nullptr; });
    failed.swap(failed_writes_);
  }
  bool ok = true;
  for (const auto& f : failed) {
    // Its later batches were computed past what is durable: do them again.
    f->cursor = f->view->frontier();
    std::lock_guard lock(mu_);
    f->retry_at = Clock::now() + std::chrono::seconds(1);
    if (f == e) ok = false;
  }
  return ok;
}

void Processor::WriteLoop() {
  std::unique_lock lock(write_mu_);
  while (true) {
    write_cv_.wait(lock, [&] { return write_ != nullptr || write_stop_; });
    if (write_ == nullptr) return;
    ViewWrite& w = *write_;
    lock.unlock();
    const Stream& stream = *w.entry->stream;
    Status s = index_->ApplyState(w.writes);
    if (s.ok()) {
      w.entry->view->Publish(w.next);
      if (observer_) {
        observer_->OnProcessed(stream, w.latency_ms);
        for (const DlqEntry& d : w.dead) observer_->OnDeadLettered(stream, d);
      }
    } else {
      spdlog::error("processing stream {}: writing the processed view: {}",
                    stream.manifest.stream_id.ToString(), s.ToString());
    }
    {
      std::lock_guard entries_lock(mu_);
      w.entry->writing = false;
    }
    cv_.notify_all();  // a Drop may be waiting
    lock.lock();
    if (!s.ok()) failed_writes_.push_back(w.entry);
    write_.reset();
    write_cv_.notify_all();
  }
}

}  // namespace eventflow
