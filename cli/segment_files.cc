#include "cli/segment_files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "formats/segment_name.h"
#include "formats/timestamp.h"
#include "formats/uuid.h"

namespace eventflow::cli {

namespace fs = std::filesystem;

const char* SegmentStateName(SegmentState state) {
  switch (state) {
    case SegmentState::kSealed:
      return "sealed";
    case SegmentState::kActive:
      return "active";
    case SegmentState::kQuarantined:
      return "quarantined";
  }
  return "?";
}

namespace {

std::optional<uint64_t> QuarantinedBase(std::string_view name) {
  return segment_name::ParseWithSuffix(name, segment_name::kQuarantinedSuffix);
}

Result<StreamFiles> ReadStreamDir(const fs::path& dir) {
  StreamFiles s;
  s.dir = dir.string();
  s.dir_name = dir.filename().string();
  auto m = Manifest::Read(s.dir);
  if (m.ok()) {
    s.manifest = std::move(*m);
  } else {
    s.manifest_error = m.status().message();
  }
  std::vector<SegmentFile> live, quarantined;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    SegmentFile f;
    f.path = it->path().string();
    f.name = name;
    std::error_code size_ec;
    f.file_size = it->file_size(size_ec);
    if (size_ec) continue;  // vanished (retention, roll) or not a regular file
    if (auto base = segment_name::Parse(name)) {
      f.base_offset = *base;
      live.push_back(std::move(f));
    } else if (auto qbase = QuarantinedBase(name)) {
      f.base_offset = *qbase;
      f.state = SegmentState::kQuarantined;
      quarantined.push_back(std::move(f));
    }
  }
  if (ec) return Status::FromErrno(ec.value(), "list", s.dir);
  auto by_name = [](const SegmentFile& a, const SegmentFile& b) { return a.name < b.name; };
  std::sort(live.begin(), live.end(), by_name);
  std::sort(quarantined.begin(), quarantined.end(), by_name);
  for (size_t i = 0; i < live.size(); ++i) {
    if (i + 1 < live.size()) {
      live[i].next_base = live[i + 1].base_offset;
    } else {
      live[i].state = SegmentState::kActive;
    }
  }
  s.files = std::move(live);
  s.files.insert(s.files.end(), quarantined.begin(), quarantined.end());
  return s;
}

}  // namespace

Result<std::vector<StreamFiles>> ListStreams(const std::string& data_dir) {
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec)) {
    return Status::NotFound(data_dir + ": no such data directory");
  }
  const fs::path streams = fs::path(data_dir) / "streams";
  if (!fs::is_directory(streams, ec)) {
    return Status::NotFound(streams.string() + ": no streams directory (not a data directory?)");
  }
  std::vector<fs::path> dirs;
  for (fs::directory_iterator it(streams, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code dir_ec;
    if (it->is_directory(dir_ec) && Uuid::Parse(it->path().filename().string())) {
      dirs.push_back(it->path());
    }
  }
  if (ec) return Status::FromErrno(ec.value(), "list", streams.string());
  std::sort(dirs.begin(), dirs.end());
  std::vector<StreamFiles> out;
  for (const auto& d : dirs) {
    auto s = ReadStreamDir(d);
    if (!s.ok()) return s.status();
    out.push_back(std::move(*s));
  }
  return out;
}

Result<StreamFiles> FindStream(const std::string& data_dir, const std::string& which) {
  auto all = ListStreams(data_dir);
  if (!all.ok()) return all.status();
  const auto id = Uuid::Parse(which);
  std::vector<StreamFiles*> by_name;
  for (auto& s : *all) {
    if (id && Uuid::Parse(s.dir_name) == id) return std::move(s);
    if (s.manifest && s.manifest->name == which) by_name.push_back(&s);
  }
  if (by_name.size() == 1) return std::move(*by_name[0]);
  if (by_name.empty()) return Status::NotFound("no stream with id or name '" + which + "'");
  std::string ids;
  for (const auto* s : by_name) ids += " " + s->dir_name + " (org " + s->manifest->org_id + ")";
  return Status::InvalidArgument("several streams are named '" + which + "'; give the id:" + ids);
}

Result<SegmentFile> SingleFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "stat", path);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + ": not a regular file");
  SegmentFile f;
  f.path = path;
  f.name = fs::path(path).filename().string();
  f.file_size = static_cast<uint64_t>(st.st_size);
  if (auto base = segment_name::Parse(f.name)) {
    f.base_offset = *base;
    f.state = SegmentState::kActive;
  } else if (auto qbase = QuarantinedBase(f.name)) {
    f.base_offset = *qbase;
    f.state = SegmentState::kQuarantined;
  } else {
    // A copied or renamed file: no base offset to hold records to.
    f.state = SegmentState::kActive;
  }
  if (f.state == SegmentState::kActive) {
    // Inside a stream directory, a later live segment makes this one sealed.
    std::error_code ec;
    const fs::path dir = fs::path(path).parent_path();
    for (fs::directory_iterator it(dir.empty() ? "." : dir, ec), end; !ec && it != end;
         it.increment(ec)) {
      auto base = segment_name::Parse(it->path().filename().string());
      if (base && *base > f.base_offset && (!f.next_base || *base < *f.next_base)) {
        f.next_base = base;
        f.state = SegmentState::kSealed;
      }
    }
  }
  return f;
}

Status FileBytes::Load(const SegmentFile& file) {
  Unmap();
  size_ = 0;
  const int fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open", file.path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno(err, "stat", file.path);
  }
  const size_t want = static_cast<size_t>(st.st_size);
  Status s;
  if (file.state == SegmentState::kSealed && want > 0) {
    void* p = ::mmap(nullptr, want, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      s = Status::FromErrno(errno, "mmap", file.path);
    } else {
      ::madvise(p, want, MADV_SEQUENTIAL);
      map_ = static_cast<const char*>(p);
      map_len_ = size_ = want;
    }
  } else {
    s = Read(fd, file.path, want);
  }
  ::close(fd);
  return s;
}

void FileBytes::Unmap() {
  if (map_ != nullptr) ::munmap(const_cast<char*>(map_), map_len_);
  map_ = nullptr;
  map_len_ = 0;
}

Status FileBytes::Read(int fd, const std::string& path, size_t want) {
  if (want > capacity_) {
    buf_ = std::make_unique_for_overwrite<char[]>(want);
    capacity_ = want;
  }
  // A file that shrinks while we read (sealed by a server) ends early: a
  // short read is the snapshot's end, not an error.
  while (size_ < want) {
    const ssize_t n = ::pread(fd, buf_.get() + size_, want - size_, static_cast<off_t>(size_));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "read", path);
    if (n == 0) break;
    size_ += static_cast<size_t>(n);
  }
  return Status::Ok();
}

BadRecord LocateBad(const FileBytes& bytes, const SegmentFile& file, const ScanResult& scan) {
  BadRecord bad;
  bad.batch_pos = bad.pos = scan.bad_pos.value_or(scan.valid_end);
  const uint64_t next = scan.last_offset ? *scan.last_offset + 1 : file.base_offset;
  auto offset_at = [&](uint64_t pos, uint64_t fallback, bool* trusted) {
    record::Header h;
    *trusted = pos + record::kHeaderSize <= bytes.size() &&
               record::DecodeHeader(bytes.data() + pos, &h) == record::HeaderCheck::kOk;
    return *trusted ? h.offset : fallback;
  };
  bool trusted = false;
  bad.batch_offset = offset_at(bad.batch_pos, next, &trusted);
  uint64_t expected = bad.batch_offset;
  // Skip the records of the batch that are whole and CRC-valid on their own
  // to reach the damaged one. Order, framing and unfinished-batch failures
  // are about valid records in the wrong place: the batch start is the answer.
  const std::string_view why = scan.bad_reason;
  const bool damaged = why == "bad record header" || why == "record checksum mismatch" ||
                       why == "record runs past the end" || why == "header cut short";
  while (damaged && ValidRecordAt(bytes.data(), bytes.size(), bad.pos)) {
    record::Header h;
    (void)record::DecodeHeader(bytes.data() + bad.pos, &h);
    expected = h.offset + 1;
    bad.pos += record::EncodedSize(h.length);
    ++bad.tail_records;
  }
  bad.offset = offset_at(bad.pos, expected, &bad.offset_from_header);
  return bad;
}

ScanResult Scan(const FileBytes& bytes, const SegmentFile& file, bool verify_crc,
                bool classify_tail, const std::function<void(const ScannedRecord&)>& on_record) {
  ScanResult r = ScanSegment(bytes.data(), bytes.size(),
                             ScanOptionsFor(file, verify_crc, classify_tail), on_record);
  if (r.bad_pos && *r.bad_pos == r.valid_end && r.bad_reason == "header cut short" &&
      !r.corruption &&
      std::all_of(bytes.data() + r.valid_end, bytes.data() + bytes.size(),
                  [](char c) { return c == 0; })) {
    r.bad_pos.reset();
    r.bad_reason = {};
  }
  return r;
}

ScanOptions ScanOptionsFor(const SegmentFile& file, bool verify_crc, bool classify_tail) {
  ScanOptions o;
  o.verify_crc = verify_crc;
  o.classify_tail = classify_tail;
  o.min_offset = file.base_offset;
  return o;
}

Progress::Progress(uint64_t total_bytes) : enabled_(::isatty(2) == 1), total_(total_bytes) {}

void Progress::Done() {
  if (enabled_ && last_ms_ != 0) std::fprintf(stderr, "\r\033[K");
  last_ms_ = 0;
}

void Progress::Add(uint64_t bytes) {
  done_ += bytes;
  if (!enabled_) return;
  const int64_t now = timestamp::NowMs();
  if (now - last_ms_ < 200) return;
  last_ms_ = now;
  const double pct = total_ == 0 ? 100.0 : 100.0 * static_cast<double>(done_) / total_;
  std::fprintf(stderr, "\r%.1f%% (%llu of %llu MB)", pct,
               static_cast<unsigned long long>(done_ >> 20),
               static_cast<unsigned long long>(total_ >> 20));
}

}  // namespace eventflow::cli
