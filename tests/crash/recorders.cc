#include "tests/crash/recorders.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <filesystem>

namespace eventflow::crash {

namespace {
bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}
uint64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}
Op MakeOp(OpKind kind, FileClass file_class, uint64_t inode) {
  Op op;
  op.kind = kind;
  op.file_class = file_class;
  op.inode = inode;
  return op;
}
Op PathOp(OpKind kind, std::string path) {
  Op op;
  op.kind = kind;
  op.path = std::move(path);
  return op;
}
}  // namespace

// --- RecordingFileOps -------------------------------------------------------

uint64_t RecordingFileOps::InodeOfFd(int fd) const {
  auto it = fd_inodes_.find(fd);
  return it == fd_inodes_.end() ? 0 : it->second;
}

Result<int> RecordingFileOps::Open(const std::string& path, int flags, mode_t mode) {
  std::lock_guard lock(log_->mu());
  const std::string rel = log_->Relative(path);
  const bool existed = Exists(path);
  auto fd = base_->Open(path, flags, mode);
  if (!fd.ok() || !log_->UnderRoot(path)) return fd;
  uint64_t inode = log_->InodeOfLocked(rel);
  if (!existed) {
    inode = log_->NewInodeLocked(rel);
    Op op = MakeOp(OpKind::kCreate, FileClass::kEventFlow, inode);
    op.path = rel;
    log_->AppendLocked(std::move(op));
  } else if (inode == 0) {
    log_->NoteUnknownFileLocked(rel);
    inode = log_->NewInodeLocked(rel);
  } else if ((flags & O_TRUNC) != 0) {
    log_->AppendLocked(MakeOp(OpKind::kSetSize, FileClass::kEventFlow, inode));
  }
  fd_inodes_[*fd] = inode;
  return fd;
}

void RecordingFileOps::Close(int fd) {
  std::lock_guard lock(log_->mu());
  fd_inodes_.erase(fd);
  base_->Close(fd);
}

Status RecordingFileOps::Write(int fd, const void* data, size_t n, uint64_t pos,
                               const std::string& path) {
  std::lock_guard lock(log_->mu());
  Status s = base_->Write(fd, data, n, pos, path);
  if (const uint64_t inode = InodeOfFd(fd); s.ok() && inode != 0) {
    Op op = MakeOp(OpKind::kWrite, FileClass::kEventFlow, inode);
    op.pos = pos;
    op.data.assign(static_cast<const char*>(data), n);
    log_->AppendLocked(std::move(op));
  }
  return s;
}

Status RecordingFileOps::Sync(int fd, const std::string& path) {
  std::lock_guard lock(log_->mu());
  Status s = base_->Sync(fd, path);
  if (const uint64_t inode = InodeOfFd(fd); inode != 0)
    log_->AppendLocked(
        MakeOp(s.ok() ? OpKind::kSync : OpKind::kSyncFailed, FileClass::kEventFlow, inode));
  return s;
}

Status RecordingFileOps::Allocate(int fd, uint64_t pos, uint64_t len, const std::string& path) {
  std::lock_guard lock(log_->mu());
  Status s = base_->Allocate(fd, pos, len, path);
  if (const uint64_t inode = InodeOfFd(fd); s.ok() && inode != 0) {
    Op op = MakeOp(OpKind::kSetSize, FileClass::kEventFlow, inode);
    op.pos = pos + len;
    op.grow_only = true;
    log_->AppendLocked(std::move(op));
  }
  return s;
}

Status RecordingFileOps::Truncate(int fd, uint64_t size, const std::string& path) {
  std::lock_guard lock(log_->mu());
  Status s = base_->Truncate(fd, size, path);
  if (const uint64_t inode = InodeOfFd(fd); s.ok() && inode != 0) {
    Op op = MakeOp(OpKind::kSetSize, FileClass::kEventFlow, inode);
    op.pos = size;
    log_->AppendLocked(std::move(op));
  }
  return s;
}

Status RecordingFileOps::Rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(log_->mu());
  Status s = base_->Rename(from, to);
  if (s.ok() && log_->UnderRoot(to)) {
    Op op = PathOp(OpKind::kRename, log_->Relative(to));
    op.from = log_->Relative(from);
    op.inode = log_->InodeOfLocked(op.from);
    log_->MoveNameLocked(op.from, op.path);
    log_->AppendLocked(std::move(op));
  }
  return s;
}

Status RecordingFileOps::SyncDir(const std::string& dir) {
  std::lock_guard lock(log_->mu());
  Status s = base_->SyncDir(dir);
  if (s.ok() && log_->UnderRoot(dir))
    log_->AppendLocked(PathOp(OpKind::kSyncDir, log_->Relative(dir)));
  return s;
}

Status RecordingFileOps::Remove(const std::string& path) {
  std::lock_guard lock(log_->mu());
  Status s = base_->Remove(path);
  if (s.ok() && log_->UnderRoot(path)) {
    log_->DropNameLocked(log_->Relative(path));
    log_->AppendLocked(PathOp(OpKind::kUnlink, log_->Relative(path)));
  }
  return s;
}

Status RecordingFileOps::MakeDirs(const std::string& path) {
  std::lock_guard lock(log_->mu());
  // One mkdir per missing component, outermost first, each recorded.
  std::filesystem::path so_far;
  for (const auto& part : std::filesystem::path(path)) {
    so_far /= part;
    const std::string dir = so_far.string();
    if (dir.empty() || Exists(dir)) continue;
    EF_RETURN_IF_ERROR(base_->MakeDirs(dir));
    if (log_->UnderRoot(dir)) log_->AppendLocked(PathOp(OpKind::kMkdir, log_->Relative(dir)));
  }
  return Status::Ok();
}

Status RecordingFileOps::RemoveDir(const std::string& path) {
  std::lock_guard lock(log_->mu());
  Status s = base_->RemoveDir(path);
  if (s.ok() && log_->UnderRoot(path))
    log_->AppendLocked(PathOp(OpKind::kRmdir, log_->Relative(path)));
  return s;
}

Status RecordingFileOps::SyncFilesystem(const std::string& path) {
  std::lock_guard lock(log_->mu());
  Status s = base_->SyncFilesystem(path);
  if (s.ok()) log_->AppendLocked(PathOp(OpKind::kSyncAll, ""));
  return s;
}

// --- RecordingFs (RocksDB) --------------------------------------------------

namespace {

using rocksdb::IOStatus;

class RecordingWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  RecordingWritableFile(std::unique_ptr<rocksdb::FSWritableFile>&& f, OpLog* log, uint64_t inode,
                        uint64_t size)
      : FSWritableFileOwnerWrapper(std::move(f)), log_(log), inode_(inode), size_(size) {}

  IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                  rocksdb::IODebugContext* g) override {
    std::lock_guard lock(log_->mu());
    IOStatus s = target()->Append(d, o, g);
    if (s.ok()) RecordWrite(d, size_);
    return s;
  }
  IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                  const rocksdb::DataVerificationInfo& v, rocksdb::IODebugContext* g) override {
    std::lock_guard lock(log_->mu());
    IOStatus s = target()->Append(d, o, v, g);
    if (s.ok()) RecordWrite(d, size_);
    return s;
  }
  IOStatus PositionedAppend(const rocksdb::Slice& d, uint64_t pos, const rocksdb::IOOptions& o,
                            rocksdb::IODebugContext* g) override {
    std::lock_guard lock(log_->mu());
    IOStatus s = target()->PositionedAppend(d, pos, o, g);
    if (s.ok()) RecordWrite(d, pos);
    return s;
  }
  IOStatus PositionedAppend(const rocksdb::Slice& d, uint64_t pos, const rocksdb::IOOptions& o,
                            const rocksdb::DataVerificationInfo& v,
                            rocksdb::IODebugContext* g) override {
    std::lock_guard lock(log_->mu());
    IOStatus s = target()->PositionedAppend(d, pos, o, v, g);
    if (s.ok()) RecordWrite(d, pos);
    return s;
  }
  IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& o,
                    rocksdb::IODebugContext* g) override {
    std::lock_guard lock(log_->mu());
    IOStatus s = target()->Truncate(size, o, g);
    if (s.ok()) {
      Op op = MakeOp(OpKind::kSetSize, FileClass::kRocks, inode_);
      op.pos = size;
      log_->AppendLocked(std::move(op));
      size_ = size;
    }
    return s;
  }
  IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* g) override {
    std::lock_guard lock(log_->mu());
    return RecordSync(target()->Sync(o, g));
  }
  IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* g) override {
    std::lock_guard lock(log_->mu());
    return RecordSync(target()->Fsync(o, g));
  }

 private:
  void RecordWrite(const rocksdb::Slice& d, uint64_t pos) {
    Op op = MakeOp(OpKind::kWrite, FileClass::kRocks, inode_);
    op.pos = pos;
    op.data.assign(d.data(), d.size());
    log_->AppendLocked(std::move(op));
    size_ = std::max(size_, pos + d.size());
  }
  IOStatus RecordSync(IOStatus s) {
    log_->AppendLocked(
        MakeOp(s.ok() ? OpKind::kSync : OpKind::kSyncFailed, FileClass::kRocks, inode_));
    return s;
  }

  OpLog* const log_;
  const uint64_t inode_;
  uint64_t size_;
};

class RecordingDirectory final : public rocksdb::FSDirectoryWrapper {
 public:
  RecordingDirectory(std::unique_ptr<rocksdb::FSDirectory>&& d, OpLog* log, std::string rel)
      : FSDirectoryWrapper(std::move(d)), log_(log), rel_(std::move(rel)) {}
  IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* g) override {
    std::lock_guard lock(log_->mu());
    IOStatus s = FSDirectoryWrapper::Fsync(o, g);
    if (s.ok()) log_->AppendLocked(PathOp(OpKind::kSyncDir, rel_));
    return s;
  }
  IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& o, rocksdb::IODebugContext* g,
                               const rocksdb::DirFsyncOptions& f) override {
    std::lock_guard lock(log_->mu());
    IOStatus s = FSDirectoryWrapper::FsyncWithDirOptions(o, g, f);
    if (s.ok()) log_->AppendLocked(PathOp(OpKind::kSyncDir, rel_));
    return s;
  }

 private:
  OpLog* const log_;
  const std::string rel_;
};

}  // namespace

IOStatus RecordingFs::NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* d) {
  std::lock_guard lock(log_->mu());
  const bool existed = Exists(f);
  IOStatus s = target()->NewWritableFile(f, o, r, d);
  if (!s.ok()) return s;
  const std::string rel = log_->Relative(f);
  uint64_t inode = log_->InodeOfLocked(rel);
  if (!existed || inode == 0) {
    if (existed) log_->NoteUnknownFileLocked(rel);
    inode = log_->NewInodeLocked(rel);
    Op op = MakeOp(OpKind::kCreate, FileClass::kRocks, inode);
    op.path = rel;
    log_->AppendLocked(std::move(op));
  } else {
    log_->AppendLocked(MakeOp(OpKind::kSetSize, FileClass::kRocks, inode));  // truncated
  }
  *r = std::make_unique<RecordingWritableFile>(std::move(*r), log_, inode, 0);
  return s;
}

IOStatus RecordingFs::ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                         std::unique_ptr<rocksdb::FSWritableFile>* r,
                                         rocksdb::IODebugContext* d) {
  std::lock_guard lock(log_->mu());
  const bool existed = Exists(f);
  IOStatus s = target()->ReopenWritableFile(f, o, r, d);
  if (!s.ok()) return s;
  const std::string rel = log_->Relative(f);
  uint64_t inode = log_->InodeOfLocked(rel);
  if (inode == 0) {
    if (existed) log_->NoteUnknownFileLocked(rel);
    inode = log_->NewInodeLocked(rel);
    Op op = MakeOp(OpKind::kCreate, FileClass::kRocks, inode);
    op.path = rel;
    log_->AppendLocked(std::move(op));
  }
  *r = std::make_unique<RecordingWritableFile>(std::move(*r), log_, inode, FileSize(f));
  return s;
}

IOStatus RecordingFs::ReuseWritableFile(const std::string& f, const std::string& old,
                                        const rocksdb::FileOptions& o,
                                        std::unique_ptr<rocksdb::FSWritableFile>* r,
                                        rocksdb::IODebugContext* d) {
  // Recycled logs are off (recycle_log_file_num = 0); a rename plus a
  // reopen if RocksDB ever asks.
  IOStatus s = RenameFile(old, f, o.io_options, d);
  if (!s.ok()) return s;
  return ReopenWritableFile(f, o, r, d);
}

IOStatus RecordingFs::NewRandomRWFile(const std::string& f, const rocksdb::FileOptions&,
                                      std::unique_ptr<rocksdb::FSRandomRWFile>*,
                                      rocksdb::IODebugContext*) {
  return IOStatus::NotSupported("the crash recorder does not record random-access writes: " + f);
}

IOStatus RecordingFs::NewDirectory(const std::string& name, const rocksdb::IOOptions& o,
                                   std::unique_ptr<rocksdb::FSDirectory>* r,
                                   rocksdb::IODebugContext* d) {
  IOStatus s = target()->NewDirectory(name, o, r, d);
  if (s.ok()) *r = std::make_unique<RecordingDirectory>(std::move(*r), log_, log_->Relative(name));
  return s;
}

IOStatus RecordingFs::RenameFile(const std::string& src, const std::string& dst,
                                 const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) {
  std::lock_guard lock(log_->mu());
  IOStatus s = target()->RenameFile(src, dst, o, d);
  if (s.ok()) {
    Op op = PathOp(OpKind::kRename, log_->Relative(dst));
    op.from = log_->Relative(src);
    op.inode = log_->InodeOfLocked(op.from);
    log_->MoveNameLocked(op.from, op.path);
    log_->AppendLocked(std::move(op));
  }
  return s;
}

IOStatus RecordingFs::LinkFile(const std::string& src, const std::string&,
                               const rocksdb::IOOptions&, rocksdb::IODebugContext*) {
  return IOStatus::NotSupported("the crash recorder does not record hard links: " + src);
}

IOStatus RecordingFs::DeleteFile(const std::string& f, const rocksdb::IOOptions& o,
                                 rocksdb::IODebugContext* d) {
  std::lock_guard lock(log_->mu());
  IOStatus s = target()->DeleteFile(f, o, d);
  if (s.ok()) {
    log_->DropNameLocked(log_->Relative(f));
    log_->AppendLocked(PathOp(OpKind::kUnlink, log_->Relative(f)));
  }
  return s;
}

IOStatus RecordingFs::CreateDir(const std::string& n, const rocksdb::IOOptions& o,
                                rocksdb::IODebugContext* d) {
  std::lock_guard lock(log_->mu());
  IOStatus s = target()->CreateDir(n, o, d);
  if (s.ok()) log_->AppendLocked(PathOp(OpKind::kMkdir, log_->Relative(n)));
  return s;
}

IOStatus RecordingFs::CreateDirIfMissing(const std::string& n, const rocksdb::IOOptions& o,
                                         rocksdb::IODebugContext* d) {
  std::lock_guard lock(log_->mu());
  const bool existed = Exists(n);
  IOStatus s = target()->CreateDirIfMissing(n, o, d);
  if (s.ok() && !existed) log_->AppendLocked(PathOp(OpKind::kMkdir, log_->Relative(n)));
  return s;
}

IOStatus RecordingFs::DeleteDir(const std::string& n, const rocksdb::IOOptions& o,
                                rocksdb::IODebugContext* d) {
  std::lock_guard lock(log_->mu());
  IOStatus s = target()->DeleteDir(n, o, d);
  if (s.ok()) log_->AppendLocked(PathOp(OpKind::kRmdir, log_->Relative(n)));
  return s;
}

std::unique_ptr<rocksdb::Env> NewRecordingEnv(OpLog* log) {
  return rocksdb::NewCompositeEnv(std::make_shared<RecordingFs>(log));
}

}  // namespace eventflow::crash
