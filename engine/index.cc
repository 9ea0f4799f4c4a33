#include "engine/index.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "formats/endian.h"

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

}  // namespace

Result<std::unique_ptr<Index>> Index::Open(const std::string& path, const Options& options) {
  rocksdb::Options db_opts;
  db_opts.create_if_missing = !options.read_only;
  db_opts.create_missing_column_families = !options.read_only;
  if (options.env != nullptr) db_opts.env = options.env;
  db_opts.max_background_jobs = 2;
  // The hash memtable (below) takes no concurrent inserts; each stream has
  // a single writer anyway.
  db_opts.allow_concurrent_memtable_write = false;
  db_opts.keep_log_file_num = 4;
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
  };
  std::unique_ptr<Index> index(new Index());
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = options.read_only
                          ? rocksdb::DB::OpenForReadOnly(db_opts, path, cfs, &index->handles_, &db)
                          : rocksdb::DB::Open(db_opts, path, cfs, &index->handles_, &db);
  if (!s.ok()) return FromRocks(s, "open " + path);
  index->db_.reset(db);
  index->event_wal_ = options.event_wal;
  index->events_ = index->handles_[1];
  index->state_ = index->handles_[2];
  index->events_by_time_ = index->handles_[3];
  return index;
}

Index::~Index() {
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  if (db_) db_->Close();
}

Result<std::optional<EventLocation>> Index::GetEvent(std::string_view org,
                                                     const Uuid& event_id) const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), EventsFor(event_id), EventKey(org, event_id), &value);
  if (s.IsNotFound()) return std::optional<EventLocation>();
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
  for (size_t i = 0; i < ids.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
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
  for (const IndexedEvent& e : events) {
    key.assign(e.event_id.AsBytes()).append(org);
    EncodeLocationTo(e.location, value);
    batch.Put(EventsFor(e.event_id), key, rocksdb::Slice(value, kLocationBytes));
  }
  std::string ckpt(8, '\0');
  EncodeFixed64(ckpt.data(), checkpoint);
  batch.Put(events_, CheckpointKey(stream_id), ckpt);
  rocksdb::WriteOptions wo;
  wo.disableWAL = !event_wal_;  // replayed from the segments instead; see the class comment
  return FromRocks(db_->Write(wo, &batch), "put events");
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
}  // namespace

Status Index::DeleteStreamEvents(std::string_view org, const Uuid& stream_id) {
  rocksdb::WriteBatch batch;
  EF_RETURN_IF_ERROR(CollectStreamEvents(db_.get(), events_, org, stream_id, 0, &batch));
  EF_RETURN_IF_ERROR(CollectStreamEvents(db_.get(), events_by_time_, org, stream_id, 0, &batch));
  batch.Delete(events_, CheckpointKey(stream_id));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Write(wo, &batch), "delete stream events");
}

Status Index::DeleteStreamEventsFrom(std::string_view org, const Uuid& stream_id, uint64_t from) {
  rocksdb::WriteBatch batch;
  EF_RETURN_IF_ERROR(CollectStreamEvents(db_.get(), events_, org, stream_id, from, &batch));
  EF_RETURN_IF_ERROR(CollectStreamEvents(db_.get(), events_by_time_, org, stream_id, from, &batch));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Write(wo, &batch), "delete stream events");
}

Status Index::DeleteEvents(std::string_view org, const std::vector<Uuid>& event_ids) {
  if (event_ids.empty()) return Status::Ok();
  rocksdb::WriteBatch batch;
  std::string key;
  for (const Uuid& id : event_ids) {
    key.assign(id.AsBytes()).append(org);
    batch.Delete(EventsFor(id), key);
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Write(wo, &batch), "delete events");
}

Result<uint64_t> Index::CountEvents() const {
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  uint64_t n = 0;
  for (rocksdb::ColumnFamilyHandle* cf : {events_, events_by_time_}) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (!IsCheckpointKey(it->key().ToStringView())) ++n;
    }
    EF_RETURN_IF_ERROR(FromRocks(it->status(), "count"));
  }
  return n;
}

Status Index::PutState(std::string_view key, std::string_view value) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Put(wo, state_, key, value), "put state");
}

Status Index::DeleteState(std::string_view key) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Delete(wo, state_, key), "delete state");
}

Status Index::DeleteStateRange(std::string_view begin, std::string_view end) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->DeleteRange(wo, state_, begin, end), "delete state range");
}

Status Index::ApplyState(const std::vector<StateWrite>& writes) {
  rocksdb::WriteBatch batch;
  for (const StateWrite& w : writes) {
    rocksdb::Status s = w.value ? batch.Put(state_, w.key, *w.value) : batch.Delete(state_, w.key);
    if (!s.ok()) return FromRocks(s, "state batch");
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Write(wo, &batch), "apply state");
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
  rocksdb::FlushOptions fo;
  return FromRocks(db_->Flush(fo, {events_, events_by_time_, state_}), "flush");
}

}  // namespace eventflow
