// The crash explorer's workloads: each drives a real Engine (recording
// FileOps and RocksDB Env) through appends single and batched, segment
// rolls, concurrent rounds, group commits, a stream create and delete, a
// dead-lettering and its retry, a retention and compaction run,
// and logs each promise the engine made as it was made. Promises are text
// lines in the OpLog (ParsePromises reads them back).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/stream_writer.h"
#include "formats/status.h"
#include "tests/crash/op_log.h"

namespace eventflow::crash {

// The index headroom and reserve (Engine) of workloads and checks: small,
// as states live on tmpfs, where a reserve file is memory.
inline constexpr uint64_t kIndexHeadroom = 1u << 20;
// The workloads' org: the server's bootstrap key (org "default") sees it.
inline constexpr char kOrg[] = "default";

struct WorkloadSpec {
  // "mixed": the operations above. "syncfail": the same, with one sync of
  // a segment failing (EIO) part-way: the appends it covered fail, the
  // writer rewinds (always) or relocates its tail (interval, never).
  std::string name = "mixed";
  uint64_t seed = 1;
  std::string fsync = "always";  // always | interval:MS | never
  uint64_t segment_bytes = 8192;
  int rounds = 12;
};

// Runs `spec` in `root` (which must be empty; the data dir is root/data)
// and returns the recorded log.
Result<std::vector<Op>> RunWorkload(const WorkloadSpec& spec, const std::string& root);

// What the promises of a whole log say, with the position of each.
struct Promises {
  struct StreamLife {
    std::string id;
    size_t created_at = SIZE_MAX;   // op index of the promise
    size_t deleting_at = SIZE_MAX;  // the delete was asked for (no promise yet)
    size_t deleted_at = SIZE_MAX;
  };
  struct Batch {
    std::string stream;
    uint64_t first = 0;
    std::vector<std::string> ids;
    size_t acked_at = SIZE_MAX;
  };
  struct Commit {
    std::string key;
    uint64_t value = 0;
    size_t at = 0;
  };
  struct Cleanup {
    std::string stream;
    size_t started_at = 0;
    std::set<uint64_t> removed;  // offsets retention or compaction took
  };
  struct DlqMove {
    std::string stream;
    size_t adding_at = SIZE_MAX, added_at = SIZE_MAX;
    size_t retrying_at = SIZE_MAX, retried_at = SIZE_MAX;
  };
  std::string fsync;
  uint64_t segment_bytes = 0;
  std::vector<Cleanup> cleanups;
  std::map<uint64_t, DlqMove> dlq;            // by offset
  std::map<std::string, StreamLife> streams;  // by name
  std::vector<Batch> batches;
  std::vector<Commit> commits;
};
Result<Promises> ParsePromises(const std::vector<Op>& ops);

}  // namespace eventflow::crash
