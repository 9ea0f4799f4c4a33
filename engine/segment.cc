#include "engine/segment.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "formats/endian.h"
#include "formats/segment_name.h"
#include "formats/thread_name.h"

namespace eventflow {

namespace {
constexpr uint64_t kMinGrowStep = 1u << 20;
constexpr uint64_t kMaxGrowStep = 8u << 20;
constexpr uint64_t kPage = 4096;
// Zero-ahead only while a step's appends averaged below this: larger ones
// are batches, bound by the disk's bandwidth, which zeros would halve.
constexpr uint64_t kZeroAheadMaxAppend = 64u << 10;
// Zeros written per job: small, so that the writer's flushes never wait
// long behind them (with the growth step's 8 MiB, p99 latency rose).
constexpr uint64_t kZeroAheadStep = 1u << 20;

// Writes zeros over [from, to) through `fd` and, once `before` (if valid)
// has completed without error, syncs it.
Status WriteZerosTo(FileOps* fops, int fd, uint64_t from, uint64_t to, const std::string& path,
                    const std::shared_future<Status>& before) {
  static const std::string zeros(256u << 10, '\0');
  for (uint64_t pos = from; pos < to;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), to - pos));
    EF_RETURN_IF_ERROR(fops->Write(fd, zeros.data(), n, pos, path));
    fops->StartWriteback(fd, pos, n);  // on its way now, not in someone's flush
    pos += n;
  }
  if (before.valid() && !before.get().ok()) {
    return Status::IOError(path + ": not synced: the sync of an earlier segment failed");
  }
  return fops->Sync(fd, path);
}

// Writes zeros over [from, to) of the file and syncs it (size included),
// through a descriptor of its own (see Segment::EnableZeroAhead).
Status WriteZeros(FileOps* fops, uint64_t from, uint64_t to, const std::string& path,
                  const std::shared_future<Status>& before) {
  auto opened = fops->Open(path, O_RDWR | O_CLOEXEC, 0);
  if (!opened.ok()) return opened.status();
  const int fd = *opened;
  Status s = WriteZerosTo(fops, fd, from, to, path, before);
  fops->Close(fd);
  return s;
}

uint64_t RoundUpToPage(uint64_t n) { return (n + kPage - 1) & ~(kPage - 1); }

Result<uint64_t> FileSize(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno(errno, "fstat", path);
  return static_cast<uint64_t>(st.st_size);
}
}  // namespace

Segment::Segment(std::string path, uint64_t base_offset, uint64_t capacity, FileOps* fops)
    : path_(std::move(path)), base_offset_(base_offset), capacity_(capacity), fops_(fops) {}

Segment::~Segment() {
  AwaitZeroAhead();
  if (map_ != nullptr) fops_->Unmap(map_, map_len_);
  if (fd_ >= 0) fops_->Close(fd_);
}

Status Segment::MapFile(int fd, size_t map_len) {
  fd_ = fd;
  index_ = std::make_unique<SparseIndex>(capacity_);
  if (map_len == 0) return Status::Ok();
  auto mapped = fops_->Map(fd, map_len, path_);
  if (!mapped.ok()) return mapped.status();
  map_ = *mapped;
  map_len_ = map_len;
  return Status::Ok();
}

Result<std::shared_ptr<Segment>> Segment::Create(const std::string& dir, uint64_t base_offset,
                                                 uint64_t capacity, FileOps* fops, bool sync_dir) {
  const std::string path = dir + "/" + segment_name::Make(base_offset);
  capacity = RoundUpToPage(std::max<uint64_t>(capacity, kPage));
  std::shared_ptr<Segment> seg(new Segment(path, base_offset, capacity, fops));
  auto fd = fops->Open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
  if (!fd.ok()) return fd.status();
  // Nothing is allocated until the first append (Grow): an org's thousands
  // of empty streams take no disk.
  Status s = seg->MapFile(*fd, capacity);
  if (s.ok() && sync_dir) s = fops->SyncDir(dir);
  if (!s.ok()) {
    // Leave no half-made file behind: the next roll creates the same name.
    seg.reset();
    (void)fops->Remove(path);
    return s;
  }
  return seg;
}

Result<std::shared_ptr<Segment>> Segment::OpenActive(const std::string& path, uint64_t base_offset,
                                                     uint64_t capacity, FileOps* fops,
                                                     TailRecovery* recovery,
                                                     std::optional<uint64_t> synced_floor) {
  auto fd = fops->Open(path, O_RDWR, 0);
  if (!fd.ok()) return fd.status();
  auto size = FileSize(*fd, path);
  if (!size.ok()) {
    fops->Close(*fd);
    return size.status();
  }
  capacity = RoundUpToPage(std::max({capacity, *size, kPage}));
  std::shared_ptr<Segment> seg(new Segment(path, base_offset, capacity, fops));
  EF_RETURN_IF_ERROR(seg->MapFile(*fd, capacity));
  EF_RETURN_IF_ERROR(seg->LoadFromScan(*size, /*is_active=*/true, recovery, synced_floor));
  return seg;
}

Result<std::shared_ptr<Segment>> Segment::OpenSealed(const std::string& path, uint64_t base_offset,
                                                     FileOps* fops) {
  auto fd = fops->Open(path, O_RDONLY, 0);
  if (!fd.ok()) return fd.status();
  auto size = FileSize(*fd, path);
  if (!size.ok()) {
    fops->Close(*fd);
    return size.status();
  }
  std::shared_ptr<Segment> seg(new Segment(path, base_offset, std::max(*size, kPage), fops));
  EF_RETURN_IF_ERROR(seg->MapFile(*fd, *size));
  seg->allocated_ = seg->write_pos_ = *size;
  seg->sealed_bytes_.store(*size);
  seg->sealed_.store(true);
  return seg;
}

Result<std::shared_ptr<Segment>> Segment::OpenRecentlySealed(const std::string& path,
                                                             uint64_t base_offset, FileOps* fops,
                                                             std::optional<uint64_t> synced_floor,
                                                             uint64_t next_base,
                                                             TailRecovery* recovery) {
  auto sealed = OpenSealed(path, base_offset, fops);
  const bool synced_whole = synced_floor && *synced_floor >= next_base;
  if (!sealed.ok() || (synced_whole && !(*sealed)->EndsInZeros())) return sealed;
  const uint64_t size = (*sealed)->write_pos_;
  auto active = OpenActive(path, base_offset, 0, fops, recovery, synced_floor);
  if (!active.ok()) return active.status().IsCorruption() ? sealed : active.status();
  recovery->scanned = true;
  EF_RETURN_IF_ERROR((*active)->Seal(/*sync=*/true));
  recovery->truncated_bytes = size - (*active)->write_pos_;
  return active;
}

void Segment::NoteRecord(uint64_t offset, uint64_t pos, int64_t ts) {
  index_->MaybeAdd(offset, pos, ts);
  if (written_count_ == 0) {
    written_first_offset_ = offset;
    written_first_ts_ = ts;
  }
  written_last_offset_ = offset;
  written_last_ts_ = ts;
  ++written_count_;
}

Status Segment::LoadFromScan(size_t size, bool is_active, TailRecovery* recovery,
                             std::optional<uint64_t> synced_floor) {
  ScanOptions opts;
  opts.min_offset = base_offset_;
  opts.synced_floor = synced_floor;
  opts.verify_crc = is_active;  // sealed segments are CRC-checked as they are read
  opts.classify_tail = is_active;
  const ScanResult scan = ScanSegment(map_, size, opts, [&](const ScannedRecord& r) {
    NoteRecord(r.header.offset, r.pos, r.header.timestamp_ms);
  });
  if (!is_active && !scan.bad_pos && scan.valid_end != size) {
    // Sealed files are cut to their data: zeros before the end are damage.
    return Status::Corruption(path_ + ": zeroed bytes at " + std::to_string(scan.valid_end) +
                              " before the end of a sealed segment (" + std::to_string(size) +
                              " bytes)");
  }
  if (scan.corruption || (!is_active && scan.bad_pos)) {
    return Status::Corruption(
        path_ + ": " + std::string(scan.bad_reason) + " at byte " + std::to_string(*scan.bad_pos) +
        (scan.corruption
             ? " with valid records after it (at byte " + std::to_string(scan.resync_pos) + ")"
             : std::string()));
  }
  write_pos_ = scan.valid_end;
  allocated_ = size;
  if (recovery != nullptr) {
    recovery->synced_before = scan.synced_before;
    recovery->segment_end = scan.segment_end;
  }
  if (is_active && scan.bad_pos) {
    // A torn tail: cut it off; the next append allocates again.
    if (recovery != nullptr) {
      recovery->truncated_bytes = size - scan.valid_end;
      recovery->reason = std::string(scan.bad_reason) + " at byte " + std::to_string(*scan.bad_pos);
      recovery->dropped.Add(scan.dropped);
    }
    EF_RETURN_IF_ERROR(fops_->Truncate(fd_, scan.valid_end, path_));
    allocated_ = scan.valid_end;
    EF_RETURN_IF_ERROR(fops_->Sync(fd_, path_));
  }
  Publish();
  return Status::Ok();
}

Status Segment::EnsureLoaded() const {
  if (!sealed_.load(std::memory_order_acquire) || committed_end_.load() != 0) return Status::Ok();
  std::call_once(load_once_, [this] {
    auto* self = const_cast<Segment*>(this);
    self->load_status_ = self->LoadFromScan(write_pos_, /*is_active=*/false, nullptr);
  });
  return load_status_;
}

std::optional<uint64_t> Segment::last_offset() const {
  if (count_.load(std::memory_order_acquire) == 0) return std::nullopt;
  return last_offset_.load(std::memory_order_acquire);
}

std::optional<uint64_t> Segment::first_offset() const {
  if (count_.load(std::memory_order_acquire) == 0) return std::nullopt;
  return first_offset_.load(std::memory_order_acquire);
}

Status Segment::Grow(uint64_t needed_end) {
  if (needed_end <= allocated_) return Status::Ok();
  const bool small_appends =
      step_appends_ > 0 && (write_pos_ - step_start_) / step_appends_ < kZeroAheadMaxAppend;
  if (zeroing_.valid()) {
    // Take the zeros (waiting if the job still runs: the writer outran it).
    // A failed job leaves nothing the writer relies on; the space is
    // allocated below as usual.
    if (zeroing_.get().ok()) allocated_ = zeroing_end_;
  }
  if (needed_end > allocated_) {
    const uint64_t step = std::clamp(allocated_, kMinGrowStep, kMaxGrowStep);
    uint64_t target = std::min(capacity_, RoundUpToPage(std::max(needed_end, allocated_ + step)));
    if (!MayAllocate(target - allocated_)) {
      target = std::min(capacity_, RoundUpToPage(needed_end));
      if (!MayAllocate(target - allocated_)) {
        return Status::NoSpace(path_ + ": the filesystem is almost full; the last " +
                               std::to_string(min_free_bytes_) +
                               " free bytes are kept for the event index");
      }
    }
    EF_RETURN_IF_ERROR(fops_->Allocate(fd_, allocated_, target - allocated_, path_));
    allocated_ = target;
  }
  step_start_ = write_pos_;
  step_appends_ = 0;
  if (zero_ahead_ && small_appends) StartZeroAhead();
  return Status::Ok();
}

void Segment::EnableZeroAhead() {
  zero_ahead_ = true;
  // An empty segment starts its zeros at its first append (Grow), so an
  // empty stream takes no disk.
  if (write_pos_ > 0) StartZeroAhead();
}

bool Segment::MayAllocate(uint64_t bytes) const {
  if (min_free_bytes_ == 0) return true;
  struct statvfs fs;
  if (::fstatvfs(fd_, &fs) != 0) return true;  // cannot tell: the allocation itself will
  const uint64_t free = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  return free >= bytes + min_free_bytes_;
}

void Segment::StartZeroAhead() {
  if (zeroing_.valid() || allocated_ >= capacity_ || sealed()) return;
  if (!MayAllocate(kZeroAheadStep)) return;  // Grow allocates what is needed, if it may
  const uint64_t from = allocated_;
  const uint64_t to = std::min(capacity_, from + kZeroAheadStep);
  try {
    // The job may outlive no Segment: its destructor, Rewind and Seal wait.
    zeroing_ = std::async(std::launch::async, [this, from, to, before = sync_after_] {
      NameThisThread("ef-zero-ahead");
      Status s = WriteZeros(fops_, from, to, path_, before);
      if (!s.ok()) {
        std::lock_guard lock(zero_failure_mu_);
        zero_failure_ = s;
        zero_failed_.store(true, std::memory_order_release);
      }
      return s;
    });
    zeroing_end_ = to;
  } catch (const std::system_error&) {
    // No thread to be had: the space is preallocated when needed instead.
  }
}

void Segment::AwaitZeroAhead() {
  if (zeroing_.valid()) (void)zeroing_.get();
}

Status Segment::Append(std::string_view records) {
  if (records.size() > Remaining()) {
    return Status::InvalidArgument(path_ + ": append of " + std::to_string(records.size()) +
                                   " bytes does not fit");
  }
  ++step_appends_;
  EF_RETURN_IF_ERROR(Grow(write_pos_ + records.size()));
  EF_RETURN_IF_ERROR(fops_->Write(fd_, records.data(), records.size(), write_pos_, path_));
  // The records were encoded by us moments ago; walk their headers only.
  for (size_t at = 0; at + record::kHeaderSize <= records.size();) {
    const char* h = records.data() + at;
    NoteRecord(DecodeFixed64(h + record::kOffsetPos), write_pos_ + at,
               static_cast<int64_t>(DecodeFixed64(h + record::kTimestampPos)));
    at += record::EncodedSize(DecodeFixed32(h + record::kLengthPos));
  }
  write_pos_ += records.size();
  return Status::Ok();
}

Status Segment::Sync() {
  EF_RETURN_IF_ERROR(fops_->Sync(fd_, path_));
  // A job's failure that happened before this sync began is seen here; one
  // after it began also reached this descriptor's own error state.
  if (!zero_failed_.load(std::memory_order_acquire)) return Status::Ok();
  std::lock_guard lock(zero_failure_mu_);
  return Status::IOError(path_ +
                         ": the zero-ahead write or sync failed: " + zero_failure_.ToString());
}

Segment::Mark Segment::mark() const {
  return Mark{write_pos_,        index_->pending(),     index_->next_pos(),
              written_count_,    written_first_offset_, written_last_offset_,
              written_first_ts_, written_last_ts_};
}

void Segment::Publish(const Mark& m) {
  index_->PublishUpTo(m.index_entries, m.index_next_pos);
  if (m.count > 0) {
    // Readers check count_ first, so the offsets and times go before it.
    first_offset_.store(m.first_offset, std::memory_order_release);
    first_ts_.store(m.first_ts, std::memory_order_release);
    last_offset_.store(m.last_offset, std::memory_order_release);
    last_ts_.store(m.last_ts, std::memory_order_release);
    count_.store(m.count, std::memory_order_release);
  }
  committed_end_.store(m.end_pos, std::memory_order_release);
}

Status Segment::Rewind() {
  const uint64_t keep = committed_end_.load(std::memory_order_relaxed);
  index_->DropUnpublished();
  written_count_ = count_.load(std::memory_order_relaxed);
  written_first_offset_ = first_offset_.load(std::memory_order_relaxed);
  written_first_ts_ = first_ts_.load(std::memory_order_relaxed);
  written_last_offset_ = last_offset_.load(std::memory_order_relaxed);
  written_last_ts_ = last_ts_.load(std::memory_order_relaxed);
  AwaitZeroAhead();  // its zeros are cut with the rest
  EF_RETURN_IF_ERROR(fops_->Truncate(fd_, keep, path_));
  allocated_ = keep;
  write_pos_ = keep;
  step_start_ = keep;  // the step's appends were cut with it
  step_appends_ = 0;
  EF_RETURN_IF_ERROR(fops_->Sync(fd_, path_));
  // What is kept was published, so flushed; what a failed zero-ahead job
  // covered is cut.
  zero_failed_.store(false, std::memory_order_release);
  return Status::Ok();
}

Status Segment::Seal(bool sync) {
  AwaitZeroAhead();  // its zeros are cut with the preallocated tail
  EF_RETURN_IF_ERROR(fops_->Truncate(fd_, write_pos_, path_));
  allocated_ = write_pos_;
  if (sync) EF_RETURN_IF_ERROR(fops_->Sync(fd_, path_));
  sealed_bytes_.store(write_pos_, std::memory_order_release);
  sealed_.store(true, std::memory_order_release);
  return Status::Ok();
}

Status Segment::Read(uint64_t from, const std::function<bool(const RecordView&)>& visit) const {
  EF_RETURN_IF_ERROR(EnsureLoaded());
  const uint64_t end = committed_bytes();
  uint64_t pos = 0;
  if (auto e = index_->FloorByOffset(from)) pos = e->pos;
  while (pos < end) {
    record::Header h;
    std::string_view payload;
    Status s = record::Decode(map_ + pos, end - pos, &h, &payload);
    if (!s.ok()) {
      return Status::Corruption(path_ + ": " + s.message() + " at byte " + std::to_string(pos));
    }
    if (h.offset >= from && !visit(RecordView{h.offset, h.timestamp_ms, h.flags, payload})) break;
    pos += record::EncodedSize(h.length);
  }
  return Status::Ok();
}

std::optional<uint64_t> Segment::FindTime(int64_t ts) const {
  if (!EnsureLoaded().ok()) return std::nullopt;
  const uint64_t end = committed_bytes();
  uint64_t pos = 0;
  if (auto e = index_->LastBeforeTime(ts)) pos = e->pos;
  while (pos + record::kHeaderSize <= end) {
    record::Header h;
    if (record::DecodeHeader(map_ + pos, &h) != record::HeaderCheck::kOk) return std::nullopt;
    if (h.timestamp_ms >= ts) return h.offset;
    pos += record::EncodedSize(h.length);
  }
  return std::nullopt;
}

}  // namespace eventflow
