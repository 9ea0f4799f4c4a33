// FileOps: every file-system call the engine makes (open, write, flush,
// allocate, truncate, rename, map, mkdir, rmdir) goes through this one small
// interface, so tests can inject ENOSPC or EIO at any step and the crash
// explorer can record every change (tests/engine/file_ops_coverage_test.cc
// keeps it so). PosixFileOps is the real one; ForwardingFileOps passes calls
// on, for wrappers (engine/fault_injection.h, tests/crash/recorders.h).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/status.h"

namespace eventflow {

enum class FileOp : uint8_t {
  kOpen,
  kWrite,
  kSync,
  kAllocate,
  kTruncate,
  kRename,
  kSyncDir,
  kMap,
  kRemove,
  kMakeDirs,
  kRemoveDir,
};
const char* FileOpName(FileOp op);

class FileOps {
 public:
  virtual ~FileOps() = default;
  // open(2); returns the descriptor.
  virtual Result<int> Open(const std::string& path, int flags, mode_t mode) = 0;
  virtual void Close(int fd) = 0;
  // Writes all `n` bytes at `pos` (pwrite, retried on short writes).
  virtual Status Write(int fd, const void* data, size_t n, uint64_t pos,
                       const std::string& path) = 0;
  // fdatasync(2): after OK, everything written before the call is durable.
  virtual Status Sync(int fd, const std::string& path) = 0;
  // Reserves blocks for [pos, pos + len), growing the file size if needed, so
  // later writes there cannot fail for lack of space.
  virtual Status Allocate(int fd, uint64_t pos, uint64_t len, const std::string& path) = 0;
  virtual Status Truncate(int fd, uint64_t size, const std::string& path) = 0;
  // rename(2), atomically replacing `to`.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // fsyncs a directory so that creations and renames in it are durable.
  virtual Status SyncDir(const std::string& dir) = 0;
  // A read-only shared mapping of `len` bytes (may exceed the file size).
  virtual Result<const char*> Map(int fd, size_t len, const std::string& path) = 0;
  virtual void Unmap(const char* addr, size_t len) = 0;
  virtual Status Remove(const std::string& path) = 0;
  // mkdir(2) of `path` and of each missing parent, outermost first; OK if
  // it exists. Not durable until the parent directory is synced.
  virtual Status MakeDirs(const std::string& path) = 0;
  // rmdir(2) of an empty directory.
  virtual Status RemoveDir(const std::string& path) = 0;
  // Starts writing [pos, pos + len) back to the disk without waiting for it
  // (sync_file_range WRITE), so that a later Sync has less left to do.
  // Advisory: it makes nothing durable, and the Sync after it reports any
  // error. Does nothing unless overridden.
  virtual void StartWriteback(int /*fd*/, uint64_t /*pos*/, uint64_t /*len*/) {}
  // syncfs(2) of the filesystem holding `path`: after OK, everything any
  // process wrote there before the call is durable (one call at start-up
  // instead of a sync per file a previous run may have left unsynced).
  virtual Status SyncFilesystem(const std::string& path);

  // The process-wide POSIX implementation.
  static FileOps* Posix();
};

// Passes every call on to `base`; test doubles and the crash explorer's
// recorder derive from it and override only the calls they watch or change.
class ForwardingFileOps : public FileOps {
 public:
  explicit ForwardingFileOps(FileOps* base = FileOps::Posix()) : base_(base) {}
  Result<int> Open(const std::string& path, int flags, mode_t mode) override {
    return base_->Open(path, flags, mode);
  }
  void Close(int fd) override { base_->Close(fd); }
  Status Write(int fd, const void* data, size_t n, uint64_t pos, const std::string& path) override {
    return base_->Write(fd, data, n, pos, path);
  }
  Status Sync(int fd, const std::string& path) override { return base_->Sync(fd, path); }
  Status Allocate(int fd, uint64_t pos, uint64_t len, const std::string& path) override {
    return base_->Allocate(fd, pos, len, path);
  }
  Status Truncate(int fd, uint64_t size, const std::string& path) override {
    return base_->Truncate(fd, size, path);
  }
  Status Rename(const std::string& from, const std::string& to) override {
    return base_->Rename(from, to);
  }
  Status SyncDir(const std::string& dir) override { return base_->SyncDir(dir); }
  Result<const char*> Map(int fd, size_t len, const std::string& path) override {
    return base_->Map(fd, len, path);
  }
  void Unmap(const char* addr, size_t len) override { base_->Unmap(addr, len); }
  Status Remove(const std::string& path) override { return base_->Remove(path); }
  Status MakeDirs(const std::string& path) override { return base_->MakeDirs(path); }
  Status RemoveDir(const std::string& path) override { return base_->RemoveDir(path); }
  Status SyncFilesystem(const std::string& path) override { return base_->SyncFilesystem(path); }
  void StartWriteback(int fd, uint64_t pos, uint64_t len) override {
    base_->StartWriteback(fd, pos, len);
  }

 protected:
  FileOps* const base_;
};

}  // namespace eventflow
