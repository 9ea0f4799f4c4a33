// Fault injection, for tests only: a FaultPlan is a list of rules, each
// failing chosen calls of one file operation, in the engine's FileOps
// ("files") or in the index's RocksDB files ("index"), with an errno or a
// short write (half the bytes reach the file, then the error). Unit tests
// build plans in code; the server takes one from the environment variable
// EVENTFLOW_FAULTS (docs/testing.md), which production never sets.
#pragma once

#include <rocksdb/env.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/file_ops.h"
#include "formats/status.h"

namespace eventflow {

struct FaultRule {
  enum class Layer : uint8_t { kFiles, kIndex };
  Layer layer = Layer::kFiles;
  // files: a FileOpName ("write", "sync", "rename", "allocate", ...);
  // index: "create", "write", "sync", "rename" or "delete".
  std::string op;
  int err = 5;  // EIO
  bool short_write = false;
  uint64_t skip = 0;            // matching calls let through first
  uint64_t count = UINT64_MAX;  // then this many fail
  std::string path;             // only calls on paths containing this
  // Only while this file exists (a test switches the fault on and off);
  // skip and count apply to the calls made meanwhile.
  std::string when;
};

// "RULE;RULE;...", each RULE
// "layer:op:error[:skip=N][:count=N][:path=S][:when=FILE]"
// with error EIO, ENOSPC, EROFS or "short" (write only), e.g.
// "files:sync:EIO:skip=40:count=1;index:sync:EIO:skip=5:count=2".
Result<std::vector<FaultRule>> ParseFaultPlan(std::string_view text);

// The rules and how many calls each has matched. Thread-safe.
class FaultPlan {
 public:
  FaultPlan() = default;
  explicit FaultPlan(std::vector<FaultRule> rules) { Reset(std::move(rules)); }
  void Reset(std::vector<FaultRule> rules);
  // Counts this call against the rules; the rule that fails it, if any
  // (a copy: the plan may be reset meanwhile).
  std::optional<FaultRule> Hit(FaultRule::Layer layer, std::string_view op, std::string_view path);

 private:
  std::mutex mu_;
  std::vector<FaultRule> rules_;
  std::vector<uint64_t> seen_;  // matching calls per rule
};

// FileOps that fail what its plan says and pass the rest to `base`.
class FaultInjectingFileOps final : public ForwardingFileOps {
 public:
  explicit FaultInjectingFileOps(FileOps* base, std::vector<FaultRule> rules = {})
      : ForwardingFileOps(base), plan_(std::move(rules)) {}

  // Fails every `op` call from now on with `err`, after `skip` of them (one
  // rule replacing the plan); Clear() empties the plan.
  void Arm(FileOp op, int err, int skip = 0);
  void Clear() { plan_.Reset({}); }
  // How many calls of `op` were made (failed ones included).
  int Count(FileOp op) const { return counts_[static_cast<int>(op)].load(); }

  Result<int> Open(const std::string& path, int flags, mode_t mode) override;
  Status Write(int fd, const void* data, size_t n, uint64_t pos, const std::string& path) override;
  Status Sync(int fd, const std::string& path) override;
  Status Allocate(int fd, uint64_t pos, uint64_t len, const std::string& path) override;
  Status Truncate(int fd, uint64_t size, const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status SyncDir(const std::string& dir) override;
  Result<const char*> Map(int fd, size_t len, const std::string& path) override;
  Status Remove(const std::string& path) override;
  Status MakeDirs(const std::string& path) override;
  Status RemoveDir(const std::string& path) override;

 private:
  // The injected error for this call of `op` on `path`, or OK.
  Status Check(FileOp op, const std::string& path, bool* short_write = nullptr);

  FaultPlan plan_;
  std::atomic<int> counts_[11] = {};
};

// A RocksDB Env whose files fail what `plan`'s index rules say (`plan` must
// outlive it), for EngineOptions::index_env.
std::unique_ptr<rocksdb::Env> NewFaultInjectingEnv(FaultPlan* plan);

}  // namespace eventflow
