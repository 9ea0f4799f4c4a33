// OpLog: one sequence of every file-system change a workload made (through
// the engine's FileOps and the index's RocksDB FileSystem) and of every
// promise the workload was given, in the order they happened. The crash
// explorer builds power-loss states from a prefix of it (crash_state.h).
// Saved as a trace file so that a state can be replayed by its id.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "formats/status.h"

namespace eventflow::crash {

enum class OpKind : uint8_t {
  kCreate,      // a new file `path` (inode)
  kWrite,       // `data` at `pos` of inode
  kSetSize,     // inode's size becomes `pos` (truncate) or at least `pos` (grow)
  kSync,        // fdatasync of inode completed: its earlier changes are durable
  kSyncFailed,  // fdatasync of inode failed: its pending pages are lost
  kRename,      // `from` -> `path`, replacing `path`
  kUnlink,      // `path`
  kMkdir,       // `path`
  kRmdir,       // `path`
  kSyncDir,     // fsync of directory `path` completed
  kSyncAll,     // syncfs completed: everything before it is durable
  kPromise,     // `data`: what the workload was told (see Promise)
};

// Which crash model a file's data follows: EventFlow's files may persist
// any subset of their unsynced pages; RocksDB's keep a prefix of their
// unsynced appends (RocksDB's own fault model).
enum class FileClass : uint8_t { kEventFlow, kRocks };

struct Op {
  OpKind kind = OpKind::kWrite;
  FileClass file_class = FileClass::kEventFlow;
  bool grow_only = false;  // kSetSize: fallocate (never shrinks)
  uint64_t inode = 0;      // kCreate, kWrite, kSetSize, kSync, kSyncFailed, kRename
  uint64_t pos = 0;        // kWrite offset, kSetSize size
  std::string path;        // relative to the data dir's parent
  std::string from;        // kRename source
  std::string data;        // kWrite bytes, kPromise text
};

class OpLog {
 public:
  // Paths are stored relative to `root` (the directory holding the data
  // dir), so a trace can be materialized anywhere.
  explicit OpLog(std::string root) : root_(std::move(root)) {}

  // Serializes file-system changes: a recorder holds it while it performs
  // a change and appends it, so the log's order is the order of effects.
  std::mutex& mu() { return mu_; }
  // Appends `op` (mu() held).
  void AppendLocked(Op op);
  // Appends a promise (takes mu()).
  void Promise(std::string text);

  std::string Relative(const std::string& path) const;
  bool UnderRoot(const std::string& path) const { return Relative(path) != path; }

  // The recorders' model of the names as issued (mu() held): the inode a
  // relative path names now (0 if none), a new inode for it, a rename, an
  // unlink. A file met that no recorded call made is counted: the
  // explorer fails on any, as its states would miss that file.
  uint64_t InodeOfLocked(const std::string& rel) const;
  uint64_t NewInodeLocked(const std::string& rel);
  void MoveNameLocked(const std::string& from, const std::string& to);
  void DropNameLocked(const std::string& rel) { names_.erase(rel); }
  void NoteUnknownFileLocked(const std::string& rel) { unknown_files_.push_back(rel); }
  std::vector<std::string> unknown_files() {
    std::lock_guard lock(mu_);
    return unknown_files_;
  }
  const std::string& root() const { return root_; }
  // A copy of the log so far.
  std::vector<Op> Snapshot();

  static Status Save(const std::vector<Op>& ops, const std::string& file);
  static Result<std::vector<Op>> Load(const std::string& file);

 private:
  const std::string root_;
  std::mutex mu_;
  std::vector<Op> ops_;
  std::unordered_map<std::string, uint64_t> names_;
  uint64_t next_inode_ = 1;
  std::vector<std::string> unknown_files_;
};

}  // namespace eventflow::crash
