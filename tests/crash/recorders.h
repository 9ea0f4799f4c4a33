// The two recorders that fill an OpLog: RecordingFileOps wraps the engine's
// FileOps, RecordingFs wraps the index's RocksDB FileSystem. Each performs
// a change and logs it under the log's one mutex, so the log orders the
// changes of every thread as they took effect.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "engine/file_ops.h"
#include "tests/crash/op_log.h"

namespace eventflow::crash {

class RecordingFileOps final : public ForwardingFileOps {
 public:
  // Records what `base` (the real calls, or a fault-injecting wrapper of
  // them) did.
  explicit RecordingFileOps(OpLog* log, FileOps* base = FileOps::Posix())
      : ForwardingFileOps(base), log_(log) {}

  Result<int> Open(const std::string& path, int flags, mode_t mode) override;
  void Close(int fd) override;
  Status Write(int fd, const void* data, size_t n, uint64_t pos, const std::string& path) override;
  Status Sync(int fd, const std::string& path) override;
  Status Allocate(int fd, uint64_t pos, uint64_t len, const std::string& path) override;
  Status Truncate(int fd, uint64_t size, const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status SyncDir(const std::string& dir) override;
  Status Remove(const std::string& path) override;
  Status MakeDirs(const std::string& path) override;
  Status RemoveDir(const std::string& path) override;
  Status SyncFilesystem(const std::string& path) override;

 private:
  // The inode behind `fd` (mu held); 0 if it was not opened here.
  uint64_t InodeOfFd(int fd) const;

  OpLog* const log_;
  std::unordered_map<int, uint64_t> fd_inodes_;  // guarded by log_->mu()
};

class RecordingFs final : public rocksdb::FileSystemWrapper {
 public:
  explicit RecordingFs(OpLog* log) : FileSystemWrapper(rocksdb::FileSystem::Default()), log_(log) {}
  const char* Name() const override { return "RecordingFs"; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* d) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* d) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* d) override;
  rocksdb::IOStatus NewRandomRWFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* r,
                                    rocksdb::IODebugContext* d) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& o,
                                 std::unique_ptr<rocksdb::FSDirectory>* r,
                                 rocksdb::IODebugContext* d) override;
  rocksdb::IOStatus RenameFile(const std::string& s, const std::string& t,
                               const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override;
  rocksdb::IOStatus LinkFile(const std::string& s, const std::string& t,
                             const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override;
  rocksdb::IOStatus DeleteFile(const std::string& f, const rocksdb::IOOptions& o,
                               rocksdb::IODebugContext* d) override;
  rocksdb::IOStatus CreateDir(const std::string& n, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* d) override;
  rocksdb::IOStatus CreateDirIfMissing(const std::string& n, const rocksdb::IOOptions& o,
                                       rocksdb::IODebugContext* d) override;
  rocksdb::IOStatus DeleteDir(const std::string& n, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* d) override;

 private:
  OpLog* const log_;
};

// An Env over RecordingFs, to pass as EngineOptions::index_env.
std::unique_ptr<rocksdb::Env> NewRecordingEnv(OpLog* log);

}  // namespace eventflow::crash
