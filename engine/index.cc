#include "engine/index.h"

#include <sys/statvfs.h>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "formats/endian.h"
#include "formats/timestamp.h"

namespace eventflow {

namespace {

// Event keys: the 16 id bytes, then the org id. The id comes first: random
// ids then serve as the hashed memtable's prefix, and time-ordered ones keep
// their order (see Open).
// Checkpoint keys: the 16 stream id bytes, then kCheckpointTag, whose 0xff
// bytes no org id (printable ASCII) contains.
constexpr std::string_view kCheckpointTag{
    "\xff"
    "ckpt"
    "\xff",
    6};
std::string EventKey(std::string_view org, const Uuid& id) {
  std::string k;
  k.reserve(org.size() + 16);
  k.append(id.AsBytes()).append(org);
  return k;
}
std::string CheckpointKey(const Uuid& stream_id) {
  return std::string(stream_id.AsBytes()) + std::string(kCheckpointTag);
}
bool IsCheckpointKey(std::string_view k) {
  return k.size() == 16 + kCheckpointTag.size() && k.substr(16) == kCheckpointTag;
}
constexpr size_t kLocationBytes = 32;
void EncodeLocationTo(const EventLocation& loc, char* v) {
  std::memcpy(v, loc.stream_id.bytes.data(), 16);
  EncodeFixed64(v + 16, loc.offset);
  EncodeFixed64(v + 24, static_cast<uint64_t>(loc.created_at_ms));
}
std::optional<EventLocation> DecodeLocation(std::string_view v) {
  if (v.size() != 32) return std::nullopt;
  EventLocation loc;
  loc.stream_id = Uuid::FromBytes(v.substr(0, 16));
  loc.offset = DecodeFixed64(v.data() + 16);
  loc.created_at_ms = static_cast<int64_t>(DecodeFixed64(v.data() + 24));
  return loc;
}
// Run keys: the org's length (2 bytes, big-endian) and the org, then the
// run's first id. All runs of an org sort together and by first id, so the
// run that may hold an id is the last one at or before the id's own key.
// Run values: stream id (16), first offset (8), created_at (8), count (4).
constexpr size_t kRunBytes = 36;
std::string RunPrefix(std::string_view org) {
  std::string k;
  k.reserve(2 + org.size() + 16);
  k.push_back(static_cast<char>(org.size() >> 8));
  k.push_back(static_cast<char>(org.size() & 0xff));
  k.append(org);
  return k;
}
std::string RunKey(std::string_view org, const Uuid& first) {
  return RunPrefix(org).append(first.AsBytes());
}
struct Run {
  Uuid first;
  EventLocation location;  // of the first event
  uint32_t count = 0;
};
std::string EncodeRun(const Run& run) {
  std::string v(kRunBytes, '\0');
  std::memcpy(v.data(), run.location.stream_id.bytes.data(), 16);
  EncodeFixed64(v.data() + 16, run.location.offset);
  EncodeFixed64(v.data() + 24, static_cast<uint64_t>(run.location.created_at_ms));
  EncodeFixed32(v.data() + 32, run.count);
  return v;
}
// The run under `key` (a RunKey of `prefix`), if well formed.
std::optional<Run> DecodeRun(std::string_view prefix, std::string_view key,
                             std::string_view value) {
  if (key.size() != prefix.size() + 16 || !key.starts_with(prefix) || value.size() != kRunBytes) {
    return std::nullopt;
  }
  Run run;
  run.first = Uuid::FromBytes(key.substr(prefix.size()));
  run.location.stream_id = Uuid::FromBytes(value.substr(0, 16));
  run.location.offset = DecodeFixed64(value.data() + 16);
  run.location.created_at_ms = static_cast<int64_t>(DecodeFixed64(value.data() + 24));
  run.count = DecodeFixed32(value.data() + 32);
  return run;
}
// Where `id` is, if the run holds it.
std::optional<EventLocation> LocateInRun(const Run& run, const Uuid& id) {
  const auto steps = id.StepsFrom(run.first);
  if (!steps || *steps >= run.count) return std::nullopt;
  EventLocation loc = run.location;
  loc.offset += *steps;
  return loc;
}
bool IsTimeOrdered(const Uuid& id) { return (id.bytes[6] >> 4) == 7; }
// Whether `next` continues a run that `last` ends.
bool ContinuesRun(const IndexedEvent& last, const IndexedEvent& next, uint32_t count) {
  if (count == UINT32_MAX || next.location.offset != last.location.offset + 1 ||
      next.location.created_at_ms != last.location.created_at_ms) {
    return false;
  }
  const auto successor = last.event_id.Successor();
  return successor && *successor == next.event_id;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string("index ") + std::string(what) + ": " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(std::move(msg));
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  if (s.IsNoSpace()) return Status::NoSpace(std::move(msg));
  if (s.IsBusy() || s.IsTryAgain()) return Status::Busy(std::move(msg));
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return Status::Busy(std::move(msg));
  }
  return Status::IOError(std::move(msg));
}

// The run of `org` that holds `id`, looked up with `it` (an iterator over
// event_runs; callers reuse one across ids): the run's key and contents.
struct HeldBy {
  std::string key;
  Run run;
};
Result<std::optional<HeldBy>> RunHolding(rocksdb::Iterator* it, std::string_view org,
                                         const Uuid& id) {
  if (!IsTimeOrdered(id)) return std::optional<HeldBy>();
  const std::string prefix = RunPrefix(org);
  it->SeekForPrev(std::string(prefix).append(id.AsBytes()));
  if (!it->Valid()) {
    EF_RETURN_IF_ERROR(FromRocks(it->status(), "seek run"));
    return std::optional<HeldBy>();
  }
  if (!it->key().starts_with(prefix)) return std::optional<HeldBy>();
  auto run = DecodeRun(prefix, it->key().ToStringView(), it->value().ToStringView());
  if (!run) return Status::Corruption("index: malformed run entry");
  if (!LocateInRun(*run, id)) return std::optional<HeldBy>();
  return std::optional<HeldBy>(HeldBy{it->key().ToString(), *run});
}

// RocksDB's own log, sent to ours instead of DATA/index/LOG: that file's
// writer asserts (Debian's build keeps assertions on) on the next line after
// a write that failed, and on a full disk every line fails. Warnings and
// errors only: the info lines are RocksDB's routine (flushes, compactions).
class SpdlogRocksLogger final : public rocksdb::Logger {
 public:
  SpdlogRocksLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::WARN_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char line[1024];
    std::vsnprintf(line, sizeof line, format, ap);
    if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL) {
      spdlog::error("index (rocksdb): {}", line);
    } else {
      spdlog::warn("index (rocksdb): {}", line);
    }
  }
};

}  // namespace

Result<std::unique_ptr<Index>> Index::Open(const std::string& path, const Options& options) {
  rocksdb::Options db_opts;
  db_opts.info_log = std::make_shared<SpdlogRocksLogger>();
  if (!options.read_only) {
    // RocksDB reports a missing directory at error level before it makes it.
    // Made through the index's Env, so a recording Env sees it.
    rocksdb::Env* env = options.env != nullptr ? options.env : rocksdb::Env::Default();
    (void)env->CreateDirIfMissing(path);
  }
  db_opts.create_if_missing = !options.read_only;
  db_opts.create_missing_column_families = !options.read_only;
  if (options.env != nullptr) db_opts.env = options.env;
  db_opts.max_background_jobs = 2;
  // The hash memtable (below) takes no concurrent inserts; each stream has
  // a single writer anyway.
  db_opts.allow_concurrent_memtable_write = false;
  db_opts.keep_log_file_num = 4;
  // Bounded (Options::max_open_files), so the descriptors the server leaves
  // to connections and segments stay theirs (cli/main.cc FitConnections).
  db_opts.max_open_files = options.max_open_files;
  // Event entries skip the WAL and live in two families with the checkpoint
  // in one of them: only flushes committed together for all families keep
  // "every entry up to the checkpoint is on disk" true after a crash.
  db_opts.atomic_flush = true;
  db_opts.max_manifest_file_size = 64u << 20;

  rocksdb::ColumnFamilyOptions events_opts;
  rocksdb::BlockBasedTableOptions table;
  // Bloom filters make duplicate checks of new ids skip the SST files.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  events_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Event ids are random, so an ordered skiplist memtable pays a cache miss
  // per level on every insert and lookup; it dominated the append profile.
  // A hash of skiplists keyed by the 16 id bytes makes both O(1) (measured:
  // index puts 0.23M -> 1.0M/s of CPU time); the sort moves to the flush
  // thread. Full scans (stream deletion, counts) are rare and use total
  // order seek. Figures in docs/benchmarks.md.
  events_opts.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(16));
  events_opts.memtable_factory.reset(rocksdb::NewHashSkipListRepFactory(1 << 20));
  events_opts.write_buffer_size = 32u << 20;
  events_opts.max_write_buffer_number = 4;
  // Time-ordered ids arrive nearly sorted: the default skiplist inserts them
  // along a path that stays in cache and flushes without a sort (measured:
  // appends of 1000-event batches 0.26M -> 0.36M events/s against the
  // hashed memtable, which re-sorts every key at flush). Random ids go the
  // other way (0.15M with the hashed memtable, 0.08M with this one), hence
  // two families. Figures in docs/benchmarks.md.
  rocksdb::ColumnFamilyOptions by_time_opts;
  by_time_opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  by_time_opts.write_buffer_size = 32u << 20;
  by_time_opts.max_write_buffer_number = 4;

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {"events", events_opts},
      {"state", rocksdb::ColumnFamilyOptions()},
      {"events_by_time", by_time_opts},
      {"event_runs", rocksdb::ColumnFamilyOptions()},
  };
  if (options.read_only) {
    // A read-only open cannot create a family: an index written before runs
    // existed is read without that one.
    std::vector<std::string> names;
    if (rocksdb::DB::ListColumnFamilies(db_opts, path, &names).ok() &&
        std::find(names.begin(), names.end(), "event_runs") == names.end()) {
      cfs.pop_back();
    }
  }
  std::unique_ptr<Index> index(new Index());
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = options.read_only
                          ? rocksdb::DB::OpenForReadOnly(db_opts, path, cfs, &index->handles_, &db)
                          : rocksdb::DB::Open(db_opts, path, cfs, &index->handles_, &db);
  if (!s.ok()) return FromRocks(s, "open " + path);
  index->db_.reset(db);
  index->path_ = path;
  index->min_free_bytes_ = options.read_only ? 0 : options.min_free_bytes;
  index->on_low_space_ = options.on_low_space;
  index->event_wal_ = options.event_wal;
  index->events_ = index->handles_[1];
  index->state_ = index->handles_[2];
  index->events_by_time_ = index->handles_[3];
  if (index->handles_.size() > 4) index->runs_ = index->handles_[4];
  return index;
}

Index::~Index() {
  if (db_ && !GuardSpace().ok()) {
    // The close would flush the memtables (the event entries skip the WAL)
    // onto a full disk. Skip it: those entries are re-indexed from the
    // segments at the next open.
    (void)db_->SetDBOptions({{"avoid_flush_during_shutdown", "true"}});
  }
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  if (db_) db_->Close();
}

Status Index::GuardSpace() {
  if (min_free_bytes_ == 0) return Status::Ok();
  auto free_bytes = [&]() -> uint64_t {
    struct statvfs fs;
    if (::statvfs(path_.c_str(), &fs) != 0) return UINT64_MAX;  // cannot tell
    return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  };
  uint64_t free = free_bytes();
  if (free < min_free_bytes_ && on_low_space_) {
    on_low_space_();
    free = free_bytes();
  }
  if (free < min_free_bytes_) {
    return Status::NoSpace("index: the disk is full (" + std::to_string(free) +
                           " bytes free); the write was refused before it could fail");
  }
  return ResumeIfStopped();
}

Status Index::ResumeIfStopped() {
  std::lock_guard lock(space_mu_);
  if (!stopped_) return Status::Ok();
  // A write failed (the disk filled at once, or an I/O error): RocksDB
  // stopped writing. Each try flushes the memtables, so not at every call.
  const int64_t now = timestamp::NowMs();
  if (now - last_resume_ms_ < 200) {
    return Status::Unavailable("index: recovering from a failed write (" + stopped_by_ + ")");
  }
  last_resume_ms_ = now;
  Status resumed = FromRocks(db_->Resume(), "resume after a failed write");
  if (!resumed.ok()) return resumed;
  stopped_ = false;
  return Status::Ok();
}

Status Index::Track(const rocksdb::Status& s, std::string_view what) {
  if (s.IsNoSpace() || s.IsIOError()) {
    std::lock_guard lock(space_mu_);
    if (!stopped_) stopped_by_ = std::string(what) + ": " + s.ToString();
    stopped_ = true;
  }
  return FromRocks(s, what);
}

Result<std::optional<EventLocation>> Index::GetEvent(std::string_view org,
                                                     const Uuid& event_id) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), EventsFor(event_id), EventKey(org, event_id), &value);
  if (s.IsNotFound()) {
    if (runs_ == nullptr || !IsTimeOrdered(event_id)) return std::optional<EventLocation>();
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), runs_));
    auto held = RunHolding(it.get(), org, event_id);
    if (!held.ok()) return held.status();
    if (!*held) return std::optional<EventLocation>();
    return LocateInRun((*held)->run, event_id);
  }
  if (!s.ok()) return FromRocks(s, "get");
  auto loc = DecodeLocation(value);
  if (!loc) return Status::Corruption("index: malformed event entry");
  return loc;
}

Status Index::GetEvents(std::string_view org, const std::vector<Uuid>& ids,
                        std::vector<std::optional<EventLocation>>* out) const {
  out->assign(ids.size(), std::nullopt);
  if (ids.empty()) return Status::Ok();
  std::vector<std::string> keys;
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  keys.reserve(ids.size());
  families.reserve(ids.size());
  for (const Uuid& id : ids) {
    keys.push_back(EventKey(org, id));
    families.push_back(EventsFor(id));
  }
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::PinnableSlice> values(ids.size());
  std::vector<rocksdb::Status> statuses(ids.size());
  db_->MultiGet(rocksdb::ReadOptions(), slices.size(), families.data(), slices.data(),
                values.data(), statuses.data());
  std::unique_ptr<rocksdb::Iterator> runs;  // made for the first id that needs it
  for (size_t i = 0; i < ids.size(); ++i) {
    if (statuses[i].IsNotFound()) {
      if (runs_ == nullptr || !IsTimeOrdered(ids[i])) continue;
      if (!runs) runs.reset(db_->NewIterator(rocksdb::ReadOptions(), runs_));
      auto held = RunHolding(runs.get(), org, ids[i]);
      if (!held.ok()) return held.status();
      if (*held) (*out)[i] = LocateInRun((*held)->run, ids[i]);
      continue;
    }
    if (!statuses[i].ok()) return FromRocks(statuses[i], "multiget");
    (*out)[i] = DecodeLocation(values[i].ToStringView());
  }
  return Status::Ok();
}

Status Index::PutEvents(std::string_view org, const Uuid& stream_id,
                        const std::vector<IndexedEvent>& events, uint64_t checkpoint) {
  // One key buffer and one value buffer for the whole batch: thousands of
  // entries per call, none allocating.
  rocksdb::WriteBatch batch(events.size() * (16 + org.size() + kLocationBytes + 16) + 64);
  std::string key;
  key.reserve(16 + org.size());
  char value[kLocationBytes];
  for (size_t i = 0; i < events.size();) {
    const IndexedEvent& e = events[i];
    // Events that continue each other become one run entry (a run needs a
    // successor id, so only version-7 ids form them).
    uint32_t count = 1;
    while (runs_ != nullptr && i + count < events.size() &&
           ContinuesRun(events[i + count - 1], events[i + count], count)) {
      ++count;
    }
    if (count > 1) {
      batch.Put(runs_, RunKey(org, e.event_id), EncodeRun(Run{e.event_id, e.location, count}));
    } else {
      key.assign(e.event_id.AsBytes()).append(org);
      EncodeLocationTo(e.location, value);
      batch.Put(EventsFor(e.event_id), key, rocksdb::Slice(value, kLocationBytes));
    }
    i += count;
  }
  std::string ckpt(8, '\0');
  EncodeFixed64(ckpt.data(), checkpoint);
  batch.Put(events_, CheckpointKey(stream_id), ckpt);
  rocksdb::WriteOptions wo;
  wo.disableWAL = !event_wal_;  // replayed from the segments instead; see the class comment
  // Without the WAL this write touches no file (the memtable only), so the
  // group-commit round pays no statvfs for it.
  EF_RETURN_IF_ERROR(event_wal_ ? GuardSpace() : ResumeIfStopped());
  return Track(db_->Write(wo, &batch), "put events");
}

Result<std::optional<uint64_t>> Index::GetCheckpoint(const Uuid& stream_id) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), events_, CheckpointKey(stream_id), &value);
  if (s.IsNotFound()) return std::optional<uint64_t>();
  if (!s.ok()) return FromRocks(s, "get checkpoint");
  if (value.size() != 8) return Status::Corruption("index: malformed checkpoint");
  return std::optional<uint64_t>(DecodeFixed64(value.data()));
}

namespace {
// Deletes the org's entries of `stream_id` with offset >= from; the caller
// adds what else belongs in the same batch.
Status CollectStreamEvents(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string_view org,
                           const Uuid& stream_id, uint64_t from, rocksdb::WriteBatch* batch) {
  // Keys lead with the id, so this is a scan of the whole event index; it
  // runs when a stream is deleted or rebuilt, never on the request path.
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() < 16 || IsCheckpointKey(key) || key.substr(16) != org) continue;
    auto loc = DecodeLocation(it->value().ToStringView());
    if (loc && loc->stream_id == stream_id && loc->offset >= from) batch->Delete(cf, it->key());
  }
  return FromRocks(it->status(), "scan");
}
// The same for run entries: runs at or after `from` go, a run that crosses
// it is cut short.
Status CollectStreamRuns(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* runs, std::string_view org,
                         const Uuid& stream_id, uint64_t from, rocksdb::WriteBatch* batch) {
  if (runs == nullptr) return Status::Ok();
  const std::string prefix = RunPrefix(org);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), runs));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    auto run = DecodeRun(prefix, it->key().ToStringView(), it->value().ToStringView());
    if (!run || run->location.stream_id != stream_id) continue;
    if (run->location.offset >= from) {
      batch->Delete(runs, it->key());
    } else if (run->location.offset + run->count > from) {
      run->count = static_cast<uint32_t>(from - run->location.offset);
      batch->Put(runs, it->key(), EncodeRun(*run));
    }
  }
  return FromRocks(it->status(), "scan runs");
}
}  // namespace

Status Index::DeleteStreamEvents(std::string_view org, const Uuid& stream_id) {
  rocksdb::WriteBatch batch;
  EF_RETURN_IF_ERROR(CollectStreamEvents(db_.get(), events_, org, stream_id, 0, &batch));
  EF_RETURN_IF_ERROR(CollectStreamEvents(db_.get(), events_by_time_, org, stream_id, 0, &batch));
  EF_RETURN_IF_ERROR(CollectStreamRuns(db_.get(), runs_, org, stream_id, 0, &batch));
  batch.Delete(events_, CheckpointKey(stream_id));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  EF_RETURN_IF_ERROR(GuardSpace());
  return Track(db_->Write(wo, &batch), "delete stream events");
}

Status Index::DeleteStreamEventsFrom(std::string_view org, const Uuid& stream_id, uint64_t from) {
  rocksdb::WriteBatch batch;
  EF_RETURN_IF_ERROR(CollectStreamEvents(db_.get(), events_, org, stream_id, from, &batch));
  EF_RETURN_IF_ERROR(CollectStreamEvents(db_.get(), events_by_time_, org, stream_id, from, &batch));
  EF_RETURN_IF_ERROR(CollectStreamRuns(db_.get(), runs_, org, stream_id, from, &batch));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  EF_RETURN_IF_ERROR(GuardSpace());
  return Track(db_->Write(wo, &batch), "delete stream events");
}

Status Index::DeleteEvents(std::string_view org, const std::vector<Uuid>& event_ids) {
  if (event_ids.empty()) return Status::Ok();
  rocksdb::WriteBatch batch;
  std::string key;
  // Runs that hold some of the ids: each is replaced by the pieces of it
  // that remain (so deleting ids again finds nothing and changes nothing).
  std::map<std::string, std::pair<Run, std::set<uint64_t>>> cut_runs;
  std::pair<Run, std::set<uint64_t>>* last_cut = nullptr;  // in cut_runs
  std::unique_ptr<rocksdb::Iterator> it;
  if (runs_ != nullptr) it.reset(db_->NewIterator(rocksdb::ReadOptions(), runs_));
  for (const Uuid& id : event_ids) {
    key.assign(id.AsBytes()).append(org);
    batch.Delete(EventsFor(id), key);
    if (!it) continue;
    // Ids come in offset order, so most fall in the run the one before did.
    if (last_cut == nullptr || !LocateInRun(last_cut->first, id)) {
      auto held = RunHolding(it.get(), org, id);
      if (!held.ok()) return held.status();
      last_cut = nullptr;
      if (!*held) continue;
      last_cut =
          &cut_runs.try_emplace((*held)->key, (*held)->run, std::set<uint64_t>{}).first->second;
    }
    last_cut->second.insert(*id.StepsFrom(last_cut->first.first));
  }
  for (const auto& [run_key, cut] : cut_runs) {
    // Named, not a structured binding: the lambda below captures it (clang
    // 14 cannot capture bindings).
    const Run& run = cut.first;
    const std::set<uint64_t>& gone = cut.second;
    batch.Delete(runs_, run_key);
    uint64_t begin = 0;  // steps from run.first of the piece being kept
    auto keep = [&](uint64_t end) {
      if (end <= begin) return;
      Run piece = run;
      piece.first = *run.first.Advanced(begin);  // within the run, so it exists
      piece.location.offset += begin;
      piece.count = static_cast<uint32_t>(end - begin);
      batch.Put(runs_, RunKey(org, piece.first), EncodeRun(piece));
    };
    for (uint64_t step : gone) {
      keep(step);
      begin = step + 1;
    }
    keep(run.count);
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  EF_RETURN_IF_ERROR(GuardSpace());
  return Track(db_->Write(wo, &batch), "delete events");
}

Result<uint64_t> Index::CountEvents() const { return CountEventFamilies(/*expand_runs=*/true); }

Result<uint64_t> Index::CountEventEntries() const {
  return CountEventFamilies(/*expand_runs=*/false);
}

Result<uint64_t> Index::CountEventFamilies(bool expand_runs) const {
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  uint64_t n = 0;
  for (rocksdb::ColumnFamilyHandle* cf : {events_, events_by_time_, runs_}) {
    if (cf == nullptr) continue;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (cf == events_ && IsCheckpointKey(it->key().ToStringView())) continue;
      const std::string_view v = it->value().ToStringView();
      n += cf == runs_ && expand_runs && v.size() == kRunBytes ? DecodeFixed32(v.data() + 32) : 1;
    }
    EF_RETURN_IF_ERROR(FromRocks(it->status(), "count"));
  }
  return n;
}

Status Index::PutState(std::string_view key, std::string_view value) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  EF_RETURN_IF_ERROR(GuardSpace());
  return Track(db_->Put(wo, state_, key, value), "put state");
}

Status Index::DeleteState(std::string_view key) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  EF_RETURN_IF_ERROR(GuardSpace());
  return Track(db_->Delete(wo, state_, key), "delete state");
}

Status Index::DeleteStateRange(std::string_view begin, std::string_view end) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  EF_RETURN_IF_ERROR(GuardSpace());
  return Track(db_->DeleteRange(wo, state_, begin, end), "delete state range");
}

Status Index::ApplyState(const std::vector<StateWrite>& writes) {
  rocksdb::WriteBatch batch;
  for (const StateWrite& w : writes) {
    rocksdb::Status s = w.value ? batch.Put(state_, w.key, *w.value) : batch.Delete(state_, w.key);
    if (!s.ok()) return FromRocks(s, "state batch");
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  EF_RETURN_IF_ERROR(GuardSpace());
  return Track(db_->Write(wo, &batch), "apply state");
}

Result<std::optional<std::string>> Index::GetState(std::string_view key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), state_, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "get state");
  return std::optional<std::string>(std::move(value));
}

Result<std::vector<std::pair<std::string, std::string>>> Index::ScanState(
    std::string_view prefix) const {
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), state_));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  EF_RETURN_IF_ERROR(FromRocks(it->status(), "scan state"));
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> Index::ScanStateFrom(
    std::string_view prefix, std::string_view from, size_t limit) const {
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), state_));
  for (it->Seek(std::max(prefix, from));
       it->Valid() && it->key().starts_with(prefix) && out.size() < limit; it->Next()) {
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  EF_RETURN_IF_ERROR(FromRocks(it->status(), "scan state"));
  return out;
}

Status Index::Flush() {
  EF_RETURN_IF_ERROR(GuardSpace());
  rocksdb::FlushOptions fo;
  std::vector<rocksdb::ColumnFamilyHandle*> families = {events_, events_by_time_, state_};
  if (runs_ != nullptr) families.push_back(runs_);
  return FromRocks(db_->Flush(fo, families), "flush");
}

}  // namespace eventflow
