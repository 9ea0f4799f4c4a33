// FileOps: every file operation the engine makes (open, write, flush,
// allocate, truncate, rename, map) goes through this one small interface, so
// tests can inject ENOSPC or EIO at any step. PosixFileOps is the real one;
// FaultInjectingFileOps wraps it and fails chosen operations on demand.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

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

// Wraps another FileOps; an armed fault makes matching calls fail with the
// given errno (without touching the file) until it is cleared. Thread-safe.
class FaultInjectingFileOps final : public FileOps {
 public:
  explicit FaultInjectingFileOps(FileOps* base) : base_(base) {}

  // Fails every `op` call from now on, after skipping `skip` matching calls.
  void Arm(FileOp op, int err, int skip = 0);
  void Clear();
  // How many calls of `op` were made (failed ones included).
  int Count(FileOp op) const { return counts_[static_cast<int>(op)].load(); }

  Result<int> Open(const std::string& path, int flags, mode_t mode) override;
  void Close(int fd) override { base_->Close(fd); }
  Status Write(int fd, const void* data, size_t n, uint64_t pos, const std::string& path) override;
  Status Sync(int fd, const std::string& path) override;
  Status Allocate(int fd, uint64_t pos, uint64_t len, const std::string& path) override;
  Status Truncate(int fd, uint64_t size, const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status SyncDir(const std::string& dir) override;
  Result<const char*> Map(int fd, size_t len, const std::string& path) override;
  void Unmap(const char* addr, size_t len) override { base_->Unmap(addr, len); }
  Status Remove(const std::string& path) override;
  void StartWriteback(int fd, uint64_t pos, uint64_t len) override {
    base_->StartWriteback(fd, pos, len);
  }

 private:
  // Returns the injected error for this call of `op`, or OK.
  Status Check(FileOp op, const std::string& path);

  FileOps* base_;
  std::atomic<int> counts_[9] = {};
  mutable std::mutex mu_;
  bool armed_ = false;
  FileOp armed_op_ = FileOp::kOpen;
  int armed_errno_ = 0;
  int skip_ = 0;
};

}  // namespace eventflow
