// `eventflow repair`: makes a closed data directory servable again. Per
// stream it truncates a torn tail, salvages every good record of a corrupt
// segment into a new segment with the same offsets (the original is renamed
// *.seg.quarantined, never deleted), finishes the salvage of segments the
// server quarantined live, and re-indexes what changed. Each step is
// crash-safe: running repair again after a crash finishes the job.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "formats/status.h"

namespace eventflow {

struct RepairReport {
  std::vector<std::string> actions;   // what was done, one line each
  std::vector<std::string> problems;  // what is still wrong afterwards
  bool usable() const { return problems.empty(); }
};

// Busy if a server holds DATA/LOCK; other errors when the data dir itself
// cannot be read. Problems of single streams land in the report.
// `on_stream_done` (optional) gets the bytes of each stream's segment files
// as it is finished, for progress lines.
Result<RepairReport> RepairDataDir(const EngineOptions& options,
                                   const std::function<void(uint64_t)>& on_stream_done = {});

}  // namespace eventflow
