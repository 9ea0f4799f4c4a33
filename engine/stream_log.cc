#include "engine/stream_log.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include <spdlog/spdlog.h>

#include "engine/crash_point.h"
#include "engine/segment_rewrite.h"
#include "formats/record.h"
#include "formats/segment_name.h"
#include "formats/stored_event.h"
#include "formats/thread_name.h"

namespace eventflow {

namespace fs = std::filesystem;

Result<std::unique_ptr<StreamLog>> StreamLog::Open(const std::string& dir,
                                                   const StreamLogOptions& options,
                                                   uint64_t min_next_offset,
                                                   TailRecovery* recovery) {
  std::unique_ptr<StreamLog> log(new StreamLog(dir, options));
  std::vector<uint64_t> bases;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (auto base = segment_name::Parse(name)) bases.push_back(*base);
    if (segment_name::ParseWithSuffix(name, segment_name::kCompactingSuffix) ||
        segment_name::ParseWithSuffix(name, segment_name::kRelocatingSuffix)) {
      // A compaction or relocation died before its rename: the original is
      // intact.
      EF_RETURN_IF_ERROR(options.fops->Remove(entry.path().string()));
    }
  }
  if (ec) return Status::IOError("list " + dir + ": " + ec.message());
  std::sort(bases.begin(), bases.end());

  SegmentList list;
  if (bases.empty()) {
    auto seg = Segment::Create(dir, min_next_offset, options.segment_bytes, options.fops);
    if (!seg.ok()) return seg.status();
    list.push_back(std::move(*seg));
  } else {
    TailRecovery local;
    if (recovery == nullptr) recovery = &local;
    size_t torn_at = bases.size();
    EF_RETURN_IF_ERROR(log->OpenSegments(bases, &list, recovery, &torn_at));
    if (torn_at + 1 < bases.size()) {
      // Rule 8.9: a recently sealed segment lost records a sync had not yet
      // covered, so the later segments hold batches after a hole. None of
      // them was durable: drop them, and the log ends where the tear is.
      for (size_t i = torn_at + 1; i < list.size(); ++i) {
        EF_RETURN_IF_ERROR(list[i]->EnsureLoaded());
        if (auto first = list[i]->first_offset()) {
          recovery->dropped.Note(list[i]->record_count(), *first, *list[i]->last_offset());
        }
      }
      list.clear();
      for (size_t i = bases.size(); i-- > torn_at + 1;) {
        EF_RETURN_IF_ERROR(options.fops->Remove(dir + "/" + segment_name::Make(bases[i])));
      }
      EF_RETURN_IF_ERROR(options.fops->SyncDir(dir));
      spdlog::error("{}: dropped {} segment file(s) after the torn end of {}", dir,
                    bases.size() - torn_at - 1, segment_name::Make(bases[torn_at]));
      bases.resize(torn_at + 1);
      TailRecovery again;
      EF_RETURN_IF_ERROR(log->OpenSegments(bases, &list, &again, &torn_at));
      recovery->dropped.Add(again.dropped);
    }
  }
  log->active_ = list.back();
  log->active_->set_min_free_bytes(options.min_free_bytes);

  // Where the log ends: the active segment's last record, else the newest
  // sealed one with records.
  uint64_t next = log->active_->base_offset();
  for (auto it = list.rbegin(); it != list.rend(); ++it) {
    EF_RETURN_IF_ERROR((*it)->EnsureLoaded());
    if (auto last = (*it)->last_offset()) {
      next = std::max(next, *last + 1);
      log->last_ts_ = (*it)->last_timestamp_ms();
      break;
    }
  }
  log->recovered_next_ = next;
  log->next_offset_ = log->published_next_ = std::max(next, min_next_offset);
  log->published_ts_ = log->last_ts_;
  log->committed_next_.store(log->next_offset_);
  log->waiters_.Advance(log->next_offset_);
  log->SetSegments(std::move(list));
  if (log->next_offset_ > next && log->next_offset_ > log->active_->base_offset()) {
    // Offsets jump past what the files hold (the index had seen records a
    // crash took). Appends start a segment of their own, so that offsets
    // inside a segment stay consecutive and the first offset a tear can
    // hold is known exactly (rule 8.9).
    EF_RETURN_IF_ERROR(log->Roll(0, SealSync::kNow));
  } else if (options.zero_ahead && !log->active_->sealed()) {
    log->active_->EnableZeroAhead();
  }
  log->active_base_ = log->active_->base_offset();
  log->active_synced_next_ = log->next_offset_;
  log->durable_next_.store(log->next_offset_);
  return log;
}

Status StreamLog::OpenSegments(const std::vector<uint64_t>& bases, SegmentList* list,
                               TailRecovery* recovery, size_t* torn_at) {
  // The tail first: the active segment, then the sealed ones newest first,
  // so each knows the largest synced-before mark of what follows it.
  auto active = Segment::OpenActive(dir_ + "/" + segment_name::Make(bases.back()), bases.back(),
                                    options_.segment_bytes, options_.fops, recovery);
  if (!active.ok()) return active.status();
  std::optional<uint64_t> floor = recovery->synced_before;
  std::vector<std::shared_ptr<Segment>> sealed(bases.size() - 1);
  for (size_t i = bases.size() - 1; i-- > 0;) {
    const std::string path = dir_ + "/" + segment_name::Make(bases[i]);
    // The newest sealed segments may have been sealed without a sync
    // (SealSync::kBackground) just before a crash.
    if (i + 1 + kMaxUnsyncedSealed < bases.size()) {
      auto seg = Segment::OpenSealed(path, bases[i], options_.fops);
      if (!seg.ok()) return seg.status();
      sealed[i] = std::move(*seg);
      continue;
    }
    TailRecovery tail;
    auto seg =
        Segment::OpenRecentlySealed(path, bases[i], options_.fops, floor, bases[i + 1], &tail);
    if (!seg.ok()) return seg.status();
    sealed[i] = std::move(*seg);
    if (!tail.scanned) continue;
    if (tail.synced_before && (!floor || *tail.synced_before > *floor)) floor = tail.synced_before;
    // What remains ends short of the next segment's base if records were
    // lost (offsets in a segment are consecutive, and a roll starts the
    // next one right after the last), whether bytes were cut or the file's
    // size never became durable (it ends clean, or is empty). A rewritten
    // segment (compaction, relocation, repair) says where its offsets
    // ended before the rewrite (record::kSegmentEnd).
    const auto last = sealed[i]->last_offset();
    const uint64_t end = std::max(last ? *last + 1 : bases[i], tail.segment_end.value_or(0));
    const bool lost = !tail.reason.empty() || end < bases[i + 1];
    if (!lost && tail.truncated_bytes == 0) continue;
    if (!lost) {
      spdlog::warn(
          "{}: cut {} bytes after its last complete batch: the segment was sealed but its sync "
          "had not finished before the process stopped",
          path, tail.truncated_bytes);
      continue;
    }
    if (floor && end < *floor) {
      return Status::Corruption(path + ": records from offset " + std::to_string(end) +
                                " are missing though a completed sync had covered offsets up to " +
                                std::to_string(*floor));
    }
    spdlog::error("{}: torn end{}: records from offset {} never reached the disk", path,
                  tail.reason.empty() ? "" : " (" + tail.reason + ")", end);
    recovery->dropped.Add(tail.dropped);
    *torn_at = i;
  }
  list->assign(sealed.begin(), sealed.end());
  list->push_back(std::move(*active));
  return Status::Ok();
}

bool StreamLog::Fits(size_t bytes) const {
  return !active_removed_ && !active_->sealed() && bytes <= active_->Remaining();
}

StreamLog::~StreamLog() { (void)AwaitSealSyncs(); }

Status StreamLog::AwaitSealSyncs() {
  Status first;
  for (; !seal_syncs_.empty(); seal_syncs_.pop_front()) {
    Status s = seal_syncs_.front().get();
    if (first.ok()) first = s;
  }
  return first;
}

void StreamLog::NoteSynced(const Mark& m) {
  std::lock_guard lock(durable_mu_);
  if (m.segment->base_offset() != active_base_) return;  // a roll came between
  active_synced_next_ = std::max(active_synced_next_, m.next());
  UpdateDurableLocked();
}

void StreamLog::UpdateDurableLocked() {
  uint64_t durable = active_synced_next_;
  if (!unsynced_sealed_.empty()) durable = std::min(durable, *unsynced_sealed_.begin());
  // Never backwards: what a sync covered stays covered.
  if (durable > durable_next_.load(std::memory_order_relaxed)) {
    durable_next_.store(durable, std::memory_order_release);
  }
}

Status StreamLog::Sync(const Mark& m) {
  {
    std::unique_lock lock(durable_mu_);
    seal_synced_cv_.wait(lock, [&] {
      return seal_sync_failed_.load(std::memory_order_acquire) || unsynced_sealed_.empty() ||
             *unsynced_sealed_.begin() >= m.segment->base_offset();
    });
    if (!unsynced_sealed_.empty() && *unsynced_sealed_.begin() < m.segment->base_offset()) {
      return Status::IOError(dir_ + ": the sync of an earlier sealed segment failed");
    }
  }
  return m.segment->Sync();
}

void StreamLog::StartSealSync(std::shared_ptr<Segment> sealed) {
  // After the one before it: a later segment is never durable before an
  // earlier one, so what a completed sync covers is a prefix of the log.
  std::shared_future<Status> before =
      seal_syncs_.empty() ? std::shared_future<Status>() : seal_syncs_.back();
  auto sync = [this, sealed = std::move(sealed), before]() -> Status {
    if (before.valid()) before.wait();
    Status s = options_.fops->SyncDir(dir_);
    if (s.ok() && sealed) s = sealed->Sync();
    if (s.ok() && sealed) {
      std::lock_guard lock(durable_mu_);
      unsynced_sealed_.erase(sealed->base_offset());
      UpdateDurableLocked();
    }
    if (!s.ok()) {
      spdlog::error(
          "{}: sync after a segment roll failed; appends stop until the sealed segment is "
          "rewritten: {}",
          dir_, s.ToString());
      seal_sync_failed_.store(true, std::memory_order_release);
    }
    {
      std::lock_guard lock(durable_mu_);
      seal_synced_cv_.notify_all();
    }
    return s;
  };
  try {
    seal_syncs_.push_back(std::async(std::launch::async, [sync] {
                            NameThisThread("ef-seal-sync");
                            return sync();
                          }).share());
  } catch (const std::system_error& e) {
    // No thread to be had (a process limit): sync here rather than not at all.
    spdlog::warn("{}: no thread for the background seal sync ({}); syncing inline", dir_, e.what());
    (void)sync();
  }
}

Status StreamLog::Roll(size_t bytes, SealSync seal_sync) {
  const uint64_t capacity = std::max<uint64_t>(options_.segment_bytes, bytes);
  // Open checks only the newest kMaxUnsyncedSealed sealed segments.
  while (seal_syncs_.size() >= kMaxUnsyncedSealed) {
    (void)seal_syncs_.front().get();  // a failure was logged by the thread
    seal_syncs_.pop_front();
  }
  const bool background = seal_sync == SealSync::kBackground;
  std::shared_ptr<Segment> sealed;  // by this roll
  std::lock_guard lock(list_mu_);
  auto list = *segments_.load();
  if (active_removed_) {
    // A previous Roll removed the empty active file; only the create is left.
  } else if (active_->write_pos() == 0) {
    // An empty active segment too small for this batch (or, at Open, below
    // the next offset): replace it.
    EF_RETURN_IF_ERROR(options_.fops->Remove(active_->path()));
    active_removed_ = true;
    list.pop_back();
    SetSegments(list);
  } else if (!active_->sealed()) {
    if (background) {
      std::lock_guard durable_lock(durable_mu_);
      unsynced_sealed_.insert(active_->base_offset());
    }
    EF_RETURN_IF_ERROR(active_->Seal(/*sync=*/!background));
    sealed = active_;
  }
  {
    // The new segment starts with nothing to sync: everything before it is
    // synced, or waits in unsynced_sealed_.
    std::lock_guard durable_lock(durable_mu_);
    active_base_ = next_offset_;
    active_synced_next_ = next_offset_;
  }
  auto seg = Segment::Create(dir_, next_offset_, capacity, options_.fops, /*sync_dir=*/!background);
  // Started after the create, so its directory sync covers the new file.
  if (background) StartSealSync(std::move(sealed));
  if (!seg.ok()) return seg.status();
  active_ = *seg;
  active_->set_min_free_bytes(options_.min_free_bytes);
  if (!seal_syncs_.empty()) active_->set_sync_after(seal_syncs_.back());
  if (options_.zero_ahead) active_->EnableZeroAhead();
  active_removed_ = false;
  list.push_back(active_);
  SetSegments(std::move(list));
  return Status::Ok();
}

Status StreamLog::Append(std::string_view records, uint64_t next, int64_t last_ts) {
  if (!Fits(records.size())) return Status::InvalidArgument("append does not fit; roll first");
  EF_RETURN_IF_ERROR(active_->Append(records));
  next_offset_ = next;
  last_ts_ = last_ts;
  return Status::Ok();
}

StreamLog::Mark StreamLog::mark() const { return Mark{active_, active_->mark()}; }

void StreamLog::Publish(const Mark& m) {
  m.segment->Publish(m.at);
  published_next_ = m.next();
  published_ts_ = m.at.last_ts;
  committed_next_.store(published_next_, std::memory_order_release);
  waiters_.Advance(published_next_);
}

Status StreamLog::Rewind() {
  next_offset_ = published_next_;
  last_ts_ = published_ts_;
  // Nothing unpublished is in a sealed or removed file.
  if (active_removed_ || active_->sealed()) return Status::Ok();
  return active_->Rewind();
}

namespace {
// Writes the good records of `seg` (CRC-checked, whole batches) through a
// new descriptor to its .seg.relocating file and syncs it; returns that
// path. `lost` gets the offsets from its first record up to `end` that were
// not copied (offsets inside a segment are consecutive: Open starts a new
// segment where they jump).
Result<std::string> CopyToRelocating(const Segment& seg, uint64_t end,
                                     std::optional<uint64_t> next_base, const std::string& dir,
                                     FileOps* fops, StreamLog::LostRecords* lost) {
  const uint64_t base = seg.base_offset();
  const Salvage got = SalvageRecords(seg.data(), seg.committed_bytes(), base, next_base);
  if (const auto first = seg.first_offset()) {
    uint64_t expect = *first;
    auto note = [&](uint64_t from, uint64_t to) {  // [from, to)
      if (from >= to) return;
      lost->count += to - from;
      lost->ranges.emplace_back(from, to - 1);
    };
    for (const KeptRecord& r : got.records) {
      note(expect, r.offset);
      expect = r.offset + 1;
    }
    note(expect, end);
  }
  const std::string tmp =
      dir + "/" + segment_name::MakeWithSuffix(base, segment_name::kRelocatingSuffix);
  auto written = WriteSegmentFile(tmp, got.records, fops, next_base);
  if (!written.ok()) {
    (void)fops->Remove(tmp);
    return written.status();
  }
  return tmp;
}
}  // namespace

Status StreamLog::Relocate(LostRecords* lost) {
  next_offset_ = published_next_;
  last_ts_ = published_ts_;
  // Nothing unsynced is in a sealed or removed file: a roll syncs it, or
  // its background sync does.
  if (active_removed_ || active_->sealed()) return Status::Ok();
  const std::shared_ptr<Segment> old = active_;
  const uint64_t base = old->base_offset();
  auto tmp = CopyToRelocating(*old, published_next_, std::nullopt, dir_, options_.fops, lost);
  if (!tmp.ok()) return tmp.status();
  CrashPoint("relocate:before_rename");
  EF_RETURN_IF_ERROR(RenameDurably(*tmp, old->path(), dir_, options_.fops));
  auto fresh =
      Segment::OpenActive(old->path(), base, options_.segment_bytes, options_.fops, nullptr);
  if (!fresh.ok()) return fresh.status();
  (*fresh)->set_min_free_bytes(options_.min_free_bytes);
  if (!seal_syncs_.empty()) (*fresh)->set_sync_after(seal_syncs_.back());
  if (options_.zero_ahead) (*fresh)->EnableZeroAhead();
  {
    std::lock_guard lock(list_mu_);
    auto list = *segments_.load();
    list.back() = *fresh;
    SetSegments(std::move(list));
  }
  active_ = std::move(*fresh);
  std::lock_guard lock(durable_mu_);
  active_base_ = base;
  active_synced_next_ = published_next_;  // the copy was synced whole
  UpdateDurableLocked();
  return Status::Ok();
}

Status StreamLog::RelocateSealed(LostRecords* lost) {
  (void)AwaitSealSyncs();  // failures were logged and flagged
  if (!seal_sync_failed_.load(std::memory_order_acquire)) return Status::Ok();
  // The directory sync may be what failed (the new segment's name).
  EF_RETURN_IF_ERROR(options_.fops->SyncDir(dir_));
  std::vector<uint64_t> bases;
  {
    std::lock_guard lock(durable_mu_);
    bases.assign(unsynced_sealed_.begin(), unsynced_sealed_.end());
  }
  for (uint64_t base : bases) {
    std::shared_ptr<Segment> seg;
    std::optional<uint64_t> next_base;
    {
      auto list = segments();
      for (size_t i = 0; i < list->size(); ++i) {
        if ((*list)[i]->base_offset() != base) continue;
        seg = (*list)[i];
        if (i + 1 < list->size()) next_base = (*list)[i + 1]->base_offset();
      }
    }
    if (seg != nullptr && seg->sealed()) {
      EF_RETURN_IF_ERROR(seg->EnsureLoaded());
      const uint64_t end = seg->last_offset() ? *seg->last_offset() + 1 : base;
      auto tmp = CopyToRelocating(*seg, end, next_base, dir_, options_.fops, lost);
      if (!tmp.ok()) return tmp.status();
      EF_RETURN_IF_ERROR(ReplaceSegment(seg, *tmp));
    }
    std::lock_guard lock(durable_mu_);
    unsynced_sealed_.erase(base);
    UpdateDurableLocked();
  }
  // Every earlier segment is durable now: the failed sync no longer holds
  // back the active segment's zero-ahead syncs.
  if (!active_removed_) active_->set_sync_after({});
  seal_sync_failed_.store(false, std::memory_order_release);
  std::lock_guard lock(durable_mu_);
  seal_synced_cv_.notify_all();
  return Status::Ok();
}

uint64_t StreamLog::first_offset() const {
  auto list = segments();
  for (const auto& seg : *list) {
    if (!seg->EnsureLoaded().ok()) continue;
    if (auto first = seg->first_offset()) return *first;
  }
  return committed_next();
}

Status StreamLog::Read(uint64_t from, const std::function<bool(const RecordView&)>& visit) const {
  const uint64_t end = committed_next();
  if (from >= end) return Status::Ok();
  auto list = segments();
  // The last segment whose base is <= from; later segments follow in order.
  auto it = std::upper_bound(list->begin(), list->end(), from, [](uint64_t off, const auto& seg) {
    return off < seg->base_offset();
  });
  if (it != list->begin()) --it;
  bool stopped = false;
  for (; it != list->end() && !stopped; ++it) {
    Status s = (*it)->Read(from, [&](const RecordView& r) {
      if (r.offset >= end || !visit(r)) {
        stopped = true;
        return false;
      }
      return true;
    });
    if (!s.ok()) {
      if (s.IsCorruption() && (*it)->sealed()) Quarantine(*it, s);
      return s;
    }
  }
  return Status::Ok();
}

void StreamLog::Quarantine(const std::shared_ptr<Segment>& seg, const Status& why) const {
  std::lock_guard lock(list_mu_);
  auto list = *segments_.load();
  auto it = std::find(list.begin(), list.end(), seg);
  if (it == list.end()) return;  // another reader got here first
  const std::string base = seg->path().substr(0, seg->path().size() - segment_name::kSuffix.size());
  const std::string target = base + std::string(segment_name::kQuarantinedSuffix);
  Status s = options_.fops->Rename(seg->path(), target);
  if (s.ok()) s = options_.fops->SyncDir(dir_);
  spdlog::critical("CORRUPT SEGMENT {}: {}; {}; its events are not served until `eventflow repair`",
                   seg->path(), why.message(),
                   s.ok() ? "quarantined as " + target : "could not quarantine: " + s.message());
  list.erase(it);
  SetSegments(std::move(list));
}

Status StreamLog::RemoveSegment(const std::shared_ptr<Segment>& seg) {
  if (!seg->sealed()) return Status::InvalidArgument("only sealed segments are removed");
  {
    std::lock_guard lock(list_mu_);
    auto list = *segments_.load();
    auto it = std::find(list.begin(), list.end(), seg);
    if (it == list.end()) return Status::NotFound(seg->path() + " is not in the log");
    list.erase(it);
    SetSegments(std::move(list));
  }
  EF_RETURN_IF_ERROR(options_.fops->Remove(seg->path()));
  // A quarantined original of this segment must not be salvaged back into
  // the log by a later repair (see segment_name.h).
  const std::string quarantined =
      dir_ + "/" +
      segment_name::MakeWithSuffix(seg->base_offset(), segment_name::kQuarantinedSuffix);
  std::error_code ec;
  if (fs::exists(quarantined, ec)) {
    EF_RETURN_IF_ERROR(options_.fops->Rename(
        quarantined, dir_ + "/" +
                         segment_name::MakeWithSuffix(seg->base_offset(),
                                                      segment_name::kExpiredQuarantineSuffix)));
  }
  return options_.fops->SyncDir(dir_);
}

Status StreamLog::ReplaceSegment(const std::shared_ptr<Segment>& seg, const std::string& tmp_path) {
  if (!seg->sealed()) return Status::InvalidArgument("only sealed segments are replaced");
  std::lock_guard lock(list_mu_);
  auto list = *segments_.load();
  auto it = std::find(list.begin(), list.end(), seg);
  if (it == list.end()) return Status::NotFound(seg->path() + " is not in the log");
  EF_RETURN_IF_ERROR(options_.fops->Rename(tmp_path, seg->path()));
  CrashPoint("compact:after_rename");
  EF_RETURN_IF_ERROR(options_.fops->SyncDir(dir_));
  auto fresh = Segment::OpenSealed(seg->path(), seg->base_offset(), options_.fops);
  if (!fresh.ok()) return fresh.status();
  EF_RETURN_IF_ERROR((*fresh)->EnsureLoaded());
  *it = std::move(*fresh);
  SetSegments(std::move(list));
  return Status::Ok();
}

Status StreamLog::ReadEvents(uint64_t from, const Uuid& stream_id, const EventVisit& visit) const {
  EventJsonRenderer renderer(stream_id);
  return Read(from, [&](const RecordView& r) {
    return visit(r, renderer.Render(r.payload, (r.flags & record::kCompactEvent) != 0, r.offset,
                                    r.timestamp_ms));
  });
}

uint64_t StreamLog::FindTime(int64_t ts) const {
  auto list = segments();
  // Timestamps never go backwards, so the segments are ordered by time too.
  for (const auto& seg : *list) {
    if (!seg->EnsureLoaded().ok() || seg->record_count() == 0) continue;
    if (seg->last_timestamp_ms() < ts) continue;
    if (auto off = seg->FindTime(ts)) return std::min(*off, committed_next());
  }
  return committed_next();
}

uint64_t StreamLog::bytes() const {
  uint64_t total = 0;
  for (const auto& seg : *segments()) {
    // A sealed segment knows its size once its headers were scanned.
    if (seg->EnsureLoaded().ok()) total += seg->committed_bytes();
  }
  return total;
}

uint64_t StreamLog::stored_bytes() const {
  uint64_t total = 0;
  for (const auto& seg : *segments()) total += seg->stored_bytes();
  return total;
}

}  // namespace eventflow
