#include "engine/repair.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "engine/crash_point.h"
#include "engine/segment_rewrite.h"
#include "engine/segment_scan.h"
#include "formats/segment_name.h"

namespace eventflow {

namespace fs = std::filesystem;

namespace {

// A read-only mapping of a whole file.
class MappedFile {
 public:
  MappedFile(FileOps* fops) : fops_(fops) {}
  ~MappedFile() {
    if (data_ != nullptr) fops_->Unmap(data_, size_);
    if (fd_ >= 0) fops_->Close(fd_);
  }
  Status Open(const std::string& path) {
    auto fd = fops_->Open(path, O_RDONLY | O_CLOEXEC, 0);
    if (!fd.ok()) return fd.status();
    fd_ = *fd;
    const off_t end = ::lseek(fd_, 0, SEEK_END);
    if (end < 0) return Status::FromErrno(errno, "lseek", path);
    size_ = static_cast<size_t>(end);
    if (size_ == 0) return Status::Ok();
    auto mapped = fops_->Map(fd_, size_, path);
    if (!mapped.ok()) return mapped.status();
    data_ = *mapped;
    return Status::Ok();
  }
  const char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  FileOps* fops_;
  int fd_ = -1;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

struct StreamRepair {
  const std::string& dir;
  const std::string& label;  // "stream <id> (<name>)"
  FileOps* fops;
  RepairReport* report;
  bool changed = false;

  std::string Path(uint64_t base, std::string_view suffix) const {
    return dir + "/" + segment_name::MakeWithSuffix(base, suffix);
  }
  void Did(const std::string& what) {
    report->actions.push_back(label + ": " + what);
    changed = true;
  }

  // Writes the good records of `source` as the live segment `base`. When
  // `source` is the live file itself, it is renamed *.quarantined first.
  Status SalvageInto(uint64_t base, const std::string& source, std::optional<uint64_t> next_base,
                     const std::string& why) {
    const std::string live = Path(base, segment_name::kSuffix);
    const std::string quarantined = Path(base, segment_name::kQuarantinedSuffix);
    const bool from_live = source == live;
    std::error_code ec;
    if (from_live && fs::exists(quarantined, ec)) {
      return Status::AlreadyExists(quarantined + " exists from an earlier repair; move it aside");
    }
    MappedFile file(fops);
    EF_RETURN_IF_ERROR(file.Open(source));
    const Salvage got = SalvageRecords(file.data(), file.size(), base, next_base);
    const std::string tmp = Path(base, segment_name::kRepairingSuffix);
    auto written = WriteSegmentFile(tmp, got.records, fops, next_base);
    if (!written.ok()) return written.status();
    if (from_live) {
      EF_RETURN_IF_ERROR(fops->Rename(live, quarantined));
      CrashPoint("repair:after_quarantine");
    }
    EF_RETURN_IF_ERROR(RenameDurably(tmp, live, dir, fops));
    std::string what = "salvaged " + std::to_string(got.records.size()) + " good record(s) of " +
                       fs::path(source).filename().string() + " (" + why + ") into " +
                       fs::path(live).filename().string() + "; ";
    what += std::to_string(got.bad_ranges) + " damaged range(s) skipped";
    if (got.dropped_partial_records > 0) {
      what += ", " + std::to_string(got.dropped_partial_records) +
              " valid record(s) of batches not found whole dropped (a batch is kept whole or "
              "not at all)";
    }
    if (from_live) what += "; the original is kept as " + fs::path(quarantined).filename().string();
    Did(what);
    return Status::Ok();
  }

  // Fixes the segment files; the log opens cleanly afterwards unless a
  // problem was reported.
  Status FixFiles() {
    std::vector<uint64_t> live, quarantined;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (auto b = segment_name::Parse(name)) live.push_back(*b);
      if (auto b = segment_name::ParseWithSuffix(name, segment_name::kQuarantinedSuffix)) {
        quarantined.push_back(*b);
      }
      if (segment_name::ParseWithSuffix(name, segment_name::kRepairingSuffix) ||
          segment_name::ParseWithSuffix(name, segment_name::kCompactingSuffix)) {
        EF_RETURN_IF_ERROR(fops->Remove(entry.path().string()));
        Did("removed " + name + " left by an interrupted repair or compaction");
      }
    }
    if (ec) return Status::FromErrno(ec.value(), "list", dir);
    std::sort(live.begin(), live.end());
    auto next_after = [&](uint64_t base) -> std::optional<uint64_t> {
      auto it = std::upper_bound(live.begin(), live.end(), base);
      if (it == live.end()) return std::nullopt;
      return *it;
    };
    // Segments the server (or an interrupted repair) set aside and nothing
    // replaced yet.
    for (uint64_t q : quarantined) {
      if (std::binary_search(live.begin(), live.end(), q)) continue;
      const auto next = next_after(q);
      EF_RETURN_IF_ERROR(
          SalvageInto(q, Path(q, segment_name::kQuarantinedSuffix), next, "quarantined earlier"));
      live.insert(std::upper_bound(live.begin(), live.end(), q), q);
    }
    for (size_t i = 0; i < live.size(); ++i) {
      const uint64_t base = live[i];
      const bool is_tail = i + 1 == live.size();
      const auto next = is_tail ? std::nullopt : std::optional<uint64_t>(live[i + 1]);
      MappedFile file(fops);
      EF_RETURN_IF_ERROR(file.Open(Path(base, segment_name::kSuffix)));
      ScanOptions so;
      so.min_offset = base;
      const ScanResult scan = ScanSegment(file.data(), file.size(), so);
      const bool past_next = next && scan.last_offset && *scan.last_offset >= *next;
      // The newest segment's torn tail is cut when the log opens (below);
      // anything else wrong is damage.
      const bool damaged = scan.corruption || past_next || (!is_tail && scan.bad_pos);
      if (!damaged) continue;
      const std::string why = past_next ? "records past the next segment's base"
                                        : std::string(scan.bad_reason) + " at byte " +
                                              std::to_string(scan.bad_pos.value_or(0));
      EF_RETURN_IF_ERROR(SalvageInto(base, Path(base, segment_name::kSuffix), next, why));
    }
    return Status::Ok();
  }
};

}  // namespace

namespace {
uint64_t SegmentBytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (segment_name::Parse(entry.path().filename().string())) {
      total += entry.file_size(ec);
    }
  }
  return total;
}
}  // namespace

Result<RepairReport> RepairDataDir(const EngineOptions& options,
                                   const std::function<void(uint64_t)>& on_stream_done) {
  auto lock = DataDirLock::Acquire(options.data_dir);
  if (!lock.ok()) return lock.status();
  RepairReport report;
  const std::string streams_dir = options.data_dir + "/streams";
  Index::Options io;
  io.env = options.index_env;
  auto index = Index::Open(options.data_dir + "/index", io);
  if (!index.ok()) {
    report.problems.push_back("the index cannot be opened (" + index.status().ToString() +
                              "); move " + options.data_dir +
                              "/index aside and run `eventflow index rebuild`");
    return report;
  }
  std::vector<fs::path> dirs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(streams_dir, ec)) {
    if (entry.is_directory() && Uuid::Parse(entry.path().filename().string())) {
      dirs.push_back(entry.path());
    }
  }
  if (ec) return Status::FromErrno(ec.value(), "list", streams_dir);
  std::sort(dirs.begin(), dirs.end());
  for (const fs::path& path : dirs) {
    struct Done {
      const std::function<void(uint64_t)>& notify;
      const fs::path& dir;
      ~Done() {
        if (notify) notify(SegmentBytes(dir));
      }
    } done{on_stream_done, path};
    const std::string dir = path.string();
    auto manifest = Manifest::Read(dir);
    if (!manifest.ok()) {
      if (!fs::exists(path / kManifestFile)) continue;  // a deletion's leftovers: never served
      report.problems.push_back("stream " + path.filename().string() +
                                ": manifest unreadable: " + manifest.status().message());
      continue;
    }
    const std::string label =
        "stream " + manifest->stream_id.ToString() + " (" + manifest->name + ")";
    StreamRepair repair{dir, label, options.fops, &report};
    if (Status s = repair.FixFiles(); !s.ok()) {
      report.problems.push_back(label + ": " + s.ToString());
      continue;
    }
    auto checkpoint = (*index)->GetCheckpoint(manifest->stream_id);
    if (!checkpoint.ok()) return checkpoint.status();
    TailRecovery tail;
    StreamLogOptions lo{options.segment_bytes, options.fops};
    auto log = StreamLog::Open(dir, lo, checkpoint->has_value() ? **checkpoint + 1 : 0, &tail);
    if (!log.ok()) {
      report.problems.push_back(label + ": still cannot be opened: " + log.status().ToString());
      continue;
    }
    if (tail.truncated_bytes > 0) {
      repair.Did("truncated a torn tail of " + std::to_string(tail.truncated_bytes) + " bytes (" +
                 tail.reason + ")");
    }
    if (!repair.changed) continue;
    uint64_t indexed = 0;
    if (Status s = RebuildStreamIndex(**index, *manifest, **log, &indexed); !s.ok()) {
      report.problems.push_back(label + ": re-indexing failed: " + s.ToString());
      continue;
    }
    report.actions.push_back(label + ": re-indexed " + std::to_string(indexed) + " event(s)");
  }
  if (Status s = (*index)->Flush(); !s.ok()) report.problems.push_back(s.ToString());
  return report;
}

}  // namespace eventflow
