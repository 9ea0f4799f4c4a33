// Readiness: whether the server can take writes now, for GET /readyz and the
// eventflow_ready gauge: the data dir is writable (a probe file is created
// and removed) with at least `min_free_bytes` free on its filesystem, every
// stream writer is healthy and the event index keeps up. It touches the
// disk: call it off the io threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace eventflow {

struct Readiness {
  std::vector<std::string> storage_problems;  // about the data dir as a whole
  struct StreamProblem {
    Uuid stream_id;
    std::string reason;
  };
  std::vector<StreamProblem> stream_problems;
  bool have_disk = false;   // statvfs answered; the two below are valid
  uint64_t free_bytes = 0;  // available to the server's user
  uint64_t size_bytes = 0;  // the filesystem's size

  bool ready() const { return storage_problems.empty() && stream_problems.empty(); }
  // {"status":"ready"} or {"status":"not_ready","reasons":[...],"streams":[...]}.
  std::string ToJson() const;
};

Readiness CheckReadiness(Engine& engine, uint64_t min_free_bytes);

}  // namespace eventflow
