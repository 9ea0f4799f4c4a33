#include "engine/fault_injection.h"

#include <rocksdb/file_system.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace eventflow {

namespace {

bool ParseCount(std::string_view text, uint64_t* out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const size_t at = text.find(sep);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return out;
    text.remove_prefix(at + 1);
  }
}

constexpr std::string_view kFileOps[] = {"open",     "write",  "sync",    "allocate",
                                         "truncate", "rename", "syncdir", "map",
                                         "remove",   "mkdir",  "rmdir"};
constexpr std::string_view kIndexOps[] = {"create", "write", "sync", "rename", "delete"};

template <size_t N>
bool OneOf(std::string_view op, const std::string_view (&ops)[N]) {
  for (std::string_view o : ops)
    if (o == op) return true;
  return false;
}

}  // namespace

Result<std::vector<FaultRule>> ParseFaultPlan(std::string_view text) {
  std::vector<FaultRule> rules;
  for (std::string_view item : Split(text, ';')) {
    if (item.empty()) continue;
    const auto parts = Split(item, ':');
    auto bad = [&](std::string_view why) {
      return Status::InvalidArgument("fault rule '" + std::string(item) + "': " + std::string(why));
    };
    if (parts.size() < 3) return bad("needs layer:op:error");
    FaultRule r;
    if (parts[0] == "files") {
      r.layer = FaultRule::Layer::kFiles;
      if (!OneOf(parts[1], kFileOps)) return bad("unknown files operation");
    } else if (parts[0] == "index") {
      r.layer = FaultRule::Layer::kIndex;
      if (!OneOf(parts[1], kIndexOps)) return bad("unknown index operation");
    } else {
      return bad("layer must be files or index");
    }
    r.op = parts[1];
    if (parts[2] == "EIO") {
      r.err = EIO;
    } else if (parts[2] == "ENOSPC") {
      r.err = ENOSPC;
    } else if (parts[2] == "EROFS") {
      r.err = EROFS;
    } else if (parts[2] == "short" && r.op == "write") {
      r.err = EIO;
      r.short_write = true;
    } else {
      return bad("error must be EIO, ENOSPC, EROFS or short (write only)");
    }
    for (size_t i = 3; i < parts.size(); ++i) {
      const std::string_view kv = parts[i];
      const size_t eq = kv.find('=');
      const std::string_view key = kv.substr(0, eq);
      const std::string_view value = eq == std::string_view::npos ? "" : kv.substr(eq + 1);
      if (key == "skip" && ParseCount(value, &r.skip)) continue;
      if (key == "count" && ParseCount(value, &r.count)) continue;
      if (key == "path" && !value.empty()) {
        r.path = value;
        continue;
      }
      if (key == "when" && !value.empty()) {
        r.when = value;
        continue;
      }
      return bad("unknown option '" + std::string(kv) + "'");
    }
    rules.push_back(std::move(r));
  }
  return rules;
}

void FaultPlan::Reset(std::vector<FaultRule> rules) {
  std::lock_guard lock(mu_);
  rules_ = std::move(rules);
  seen_.assign(rules_.size(), 0);
}

std::optional<FaultRule> FaultPlan::Hit(FaultRule::Layer layer, std::string_view op,
                                        std::string_view path) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < rules_.size(); ++i) {
    const FaultRule& r = rules_[i];
    if (r.layer != layer || r.op != op) continue;
    if (!r.path.empty() && path.find(r.path) == std::string_view::npos) continue;
    struct stat st;
    if (!r.when.empty() && ::stat(r.when.c_str(), &st) != 0) continue;
    const uint64_t n = seen_[i]++;
    if (n >= r.skip && n - r.skip < r.count) return r;
  }
  return std::nullopt;
}

// --- FileOps ----------------------------------------------------------------

void FaultInjectingFileOps::Arm(FileOp op, int err, int skip) {
  FaultRule r;
  r.op = FileOpName(op);
  r.err = err;
  r.skip = static_cast<uint64_t>(skip);
  plan_.Reset({r});
}

Status FaultInjectingFileOps::Check(FileOp op, const std::string& path, bool* short_write) {
  counts_[static_cast<int>(op)].fetch_add(1);
  auto rule = plan_.Hit(FaultRule::Layer::kFiles, FileOpName(op), path);
  if (!rule) return Status::Ok();
  if (short_write != nullptr) *short_write = rule->short_write;
  return Status::FromErrno(rule->err, std::string("injected ") + FileOpName(op), path);
}

Result<int> FaultInjectingFileOps::Open(const std::string& path, int flags, mode_t mode) {
  if (Status s = Check(FileOp::kOpen, path); !s.ok()) return s;
  return base_->Open(path, flags, mode);
}
Status FaultInjectingFileOps::Write(int fd, const void* data, size_t n, uint64_t pos,
                                    const std::string& path) {
  bool short_write = false;
  Status s = Check(FileOp::kWrite, path, &short_write);
  if (s.ok()) return base_->Write(fd, data, n, pos, path);
  // A short write: the first half reaches the file, then the error (as a
  // pwrite that wrote part and failed when retried for the rest).
  if (short_write && n > 1) (void)base_->Write(fd, data, n / 2, pos, path);
  return s;
}
Status FaultInjectingFileOps::Sync(int fd, const std::string& path) {
  EF_RETURN_IF_ERROR(Check(FileOp::kSync, path));
  return base_->Sync(fd, path);
}
Status FaultInjectingFileOps::Allocate(int fd, uint64_t pos, uint64_t len,
                                       const std::string& path) {
  EF_RETURN_IF_ERROR(Check(FileOp::kAllocate, path));
  return base_->Allocate(fd, pos, len, path);
}
Status FaultInjectingFileOps::Truncate(int fd, uint64_t size, const std::string& path) {
  EF_RETURN_IF_ERROR(Check(FileOp::kTruncate, path));
  return base_->Truncate(fd, size, path);
}
Status FaultInjectingFileOps::Rename(const std::string& from, const std::string& to) {
  EF_RETURN_IF_ERROR(Check(FileOp::kRename, from));
  return base_->Rename(from, to);
}
Status FaultInjectingFileOps::SyncDir(const std::string& dir) {
  EF_RETURN_IF_ERROR(Check(FileOp::kSyncDir, dir));
  return base_->SyncDir(dir);
}
Result<const char*> FaultInjectingFileOps::Map(int fd, size_t len, const std::string& path) {
  if (Status s = Check(FileOp::kMap, path); !s.ok()) return s;
  return base_->Map(fd, len, path);
}
Status FaultInjectingFileOps::Remove(const std::string& path) {
  EF_RETURN_IF_ERROR(Check(FileOp::kRemove, path));
  return base_->Remove(path);
}
Status FaultInjectingFileOps::MakeDirs(const std::string& path) {
  EF_RETURN_IF_ERROR(Check(FileOp::kMakeDirs, path));
  return base_->MakeDirs(path);
}
Status FaultInjectingFileOps::RemoveDir(const std::string& path) {
  EF_RETURN_IF_ERROR(Check(FileOp::kRemoveDir, path));
  return base_->RemoveDir(path);
}

// --- RocksDB ----------------------------------------------------------------

namespace {

using rocksdb::IOStatus;

IOStatus ToIOStatus(const FaultRule& r, std::string_view op, const std::string& path) {
  const std::string what = "injected " + std::string(op) + " " + path + ": " + std::strerror(r.err);
  return r.err == ENOSPC ? IOStatus::NoSpace(what) : IOStatus::IOError(what);
}

class FaultyWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultyWritableFile(std::unique_ptr<rocksdb::FSWritableFile>&& f, FaultPlan* plan,
                     std::string path)
      : FSWritableFileOwnerWrapper(std::move(f)), plan_(plan), path_(std::move(path)) {}
  IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                  rocksdb::IODebugContext* g) override {
    if (auto r = plan_->Hit(FaultRule::Layer::kIndex, "write", path_)) return Fail(*r, d, o, g);
    return target()->Append(d, o, g);
  }
  IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                  const rocksdb::DataVerificationInfo& v, rocksdb::IODebugContext* g) override {
    if (auto r = plan_->Hit(FaultRule::Layer::kIndex, "write", path_)) return Fail(*r, d, o, g);
    return target()->Append(d, o, v, g);
  }
  IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* g) override {
    if (auto r = plan_->Hit(FaultRule::Layer::kIndex, "sync", path_))
      return ToIOStatus(*r, "sync", path_);
    return target()->Sync(o, g);
  }
  IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* g) override {
    if (auto r = plan_->Hit(FaultRule::Layer::kIndex, "sync", path_))
      return ToIOStatus(*r, "sync", path_);
    return target()->Fsync(o, g);
  }

 private:
  IOStatus Fail(const FaultRule& r, const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                rocksdb::IODebugContext* g) {
    if (r.short_write && d.size() > 1)
      (void)target()->Append(rocksdb::Slice(d.data(), d.size() / 2), o, g);
    return ToIOStatus(r, "write", path_);
  }
  FaultPlan* const plan_;
  const std::string path_;
};

class FaultyFs final : public rocksdb::FileSystemWrapper {
 public:
  explicit FaultyFs(FaultPlan* plan)
      : FileSystemWrapper(rocksdb::FileSystem::Default()), plan_(plan) {}
  const char* Name() const override { return "FaultyFs"; }
  IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                           std::unique_ptr<rocksdb::FSWritableFile>* r,
                           rocksdb::IODebugContext* g) override {
    if (auto rule = plan_->Hit(FaultRule::Layer::kIndex, "create", f))
      return ToIOStatus(*rule, "create", f);
    IOStatus s = target()->NewWritableFile(f, o, r, g);
    if (s.ok()) *r = std::make_unique<FaultyWritableFile>(std::move(*r), plan_, f);
    return s;
  }
  IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                              std::unique_ptr<rocksdb::FSWritableFile>* r,
                              rocksdb::IODebugContext* g) override {
    IOStatus s = target()->ReopenWritableFile(f, o, r, g);
    if (s.ok()) *r = std::make_unique<FaultyWritableFile>(std::move(*r), plan_, f);
    return s;
  }
  IOStatus RenameFile(const std::string& s, const std::string& t, const rocksdb::IOOptions& o,
                      rocksdb::IODebugContext* g) override {
    if (auto rule = plan_->Hit(FaultRule::Layer::kIndex, "rename", s))
      return ToIOStatus(*rule, "rename", s);
    return target()->RenameFile(s, t, o, g);
  }
  IOStatus DeleteFile(const std::string& f, const rocksdb::IOOptions& o,
                      rocksdb::IODebugContext* g) override {
    if (auto rule = plan_->Hit(FaultRule::Layer::kIndex, "delete", f))
      return ToIOStatus(*rule, "delete", f);
    return target()->DeleteFile(f, o, g);
  }

 private:
  FaultPlan* const plan_;
};

}  // namespace

std::unique_ptr<rocksdb::Env> NewFaultInjectingEnv(FaultPlan* plan) {
  return rocksdb::NewCompositeEnv(std::make_shared<FaultyFs>(plan));
}

}  // namespace eventflow
