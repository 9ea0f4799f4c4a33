#include "engine/file_ops.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

namespace eventflow {

const char* FileOpName(FileOp op) {
  switch (op) {
    case FileOp::kOpen:
      return "open";
    case FileOp::kWrite:
      return "write";
    case FileOp::kSync:
      return "sync";
    case FileOp::kAllocate:
      return "allocate";
    case FileOp::kTruncate:
      return "truncate";
    case FileOp::kRename:
      return "rename";
    case FileOp::kSyncDir:
      return "syncdir";
    case FileOp::kMap:
      return "map";
    case FileOp::kRemove:
      return "remove";
    case FileOp::kMakeDirs:
      return "mkdir";
    case FileOp::kRemoveDir:
      return "rmdir";
  }
  return "?";
}

namespace {
// Opens directory `dir`, applies `sync` (fsync or syncfs) to it, closes it.
Status SyncThroughDirectory(const std::string& dir, int (*sync)(int), const char* what) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open dir", dir);
  const int rc = sync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::FromErrno(err, what, dir);
  return Status::Ok();
}
}  // namespace

Status FileOps::SyncFilesystem(const std::string& path) {
  return SyncThroughDirectory(path, ::syncfs, "syncfs");
}

namespace {

class PosixFileOps final : public FileOps {
 public:
  Result<int> Open(const std::string& path, int flags, mode_t mode) override {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) return Status::FromErrno(errno, "open", path);
    return fd;
  }
  void Close(int fd) override { ::close(fd); }
  Status Write(int fd, const void* data, size_t n, uint64_t pos, const std::string& path) override {
    auto* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(pos));
      if (w < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, "pwrite", path);
      }
      p += w;
      pos += static_cast<uint64_t>(w);
      n -= static_cast<size_t>(w);
    }
    return Status::Ok();
  }
  Status Sync(int fd, const std::string& path) override {
    if (::fdatasync(fd) != 0) return Status::FromErrno(errno, "fdatasync", path);
    return Status::Ok();
  }
  void StartWriteback(int fd, uint64_t pos, uint64_t len) override {
    (void)::sync_file_range(fd, static_cast<off_t>(pos), static_cast<off_t>(len),
                            SYNC_FILE_RANGE_WRITE);
  }
  Status Allocate(int fd, uint64_t pos, uint64_t len, const std::string& path) override {
    const int err = ::posix_fallocate(fd, static_cast<off_t>(pos), static_cast<off_t>(len));
    if (err != 0) return Status::FromErrno(err, "fallocate", path);
    return Status::Ok();
  }
  Status Truncate(int fd, uint64_t size, const std::string& path) override {
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0)
      return Status::FromErrno(errno, "ftruncate", path);
    return Status::Ok();
  }
  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return Status::FromErrno(errno, "rename", from);
    return Status::Ok();
  }
  Status SyncDir(const std::string& dir) override {
    return SyncThroughDirectory(dir, ::fsync, "fsync dir");
  }
  Result<const char*> Map(int fd, size_t len, const std::string& path) override {
    void* addr = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) return Status::FromErrno(errno, "mmap", path);
    return static_cast<const char*>(addr);
  }
  void Unmap(const char* addr, size_t len) override {
    if (addr != nullptr) ::munmap(const_cast<char*>(addr), len);
  }
  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return Status::FromErrno(errno, "unlink", path);
    return Status::Ok();
  }
  Status MakeDirs(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return Status::IOError("mkdir " + path + ": " + ec.message());
    return Status::Ok();
  }
  Status RemoveDir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0) return Status::FromErrno(errno, "rmdir", path);
    return Status::Ok();
  }
};

}  // namespace

FileOps* FileOps::Posix() {
  static PosixFileOps posix;
  return &posix;
}

}  // namespace eventflow
