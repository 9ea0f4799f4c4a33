// Retention and compaction of one stream's log (docs/segment-format.md):
// retention deletes whole sealed segments from the oldest while they are
// older than max_age or the log is over max_bytes; compaction rewrites sealed
// segments keeping the newest event of each key (keyless events stay), with
// offsets unchanged. The active segment is never touched, but its events
// count as the newest of their keys. Event ids of removed events leave the
// index. Runs beside the writer and readers of a live stream.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/index.h"
#include "engine/stream_log.h"
#include "formats/status.h"
#include "formats/uuid.h"

namespace eventflow {

struct CleanupPolicy {
  std::optional<int64_t> max_age_ms;
  std::optional<uint64_t> max_bytes;
  bool compact = false;  // cleanup_policy "compact"
};

struct CleanupReport {
  uint64_t segments_deleted = 0;    // by retention, or emptied by compaction
  uint64_t segments_rewritten = 0;  // by compaction
  uint64_t events_removed = 0;
  uint64_t bytes_before = 0, bytes_after = 0;
  uint64_t bytes_scanned = 0;  // read to decide and rewrite (for MB/s figures)

  void Add(const CleanupReport& other);
};

// Runs retention, then compaction when the policy asks for it, on `log` of
// the stream `org` owns. `now_ms` is the clock retention measures age by.
// One call at a time per log (the Engine serialises them).
//
// Before a segment is removed or replaced, the ids and offsets of the events
// it drops are written to the index's state (a cleanup intent, synced); they
// leave the event index after the file change, and the intent with them. A
// crash in between leaves the intent, which FinishCleanupIntents settles: if
// the dropped offsets are gone from the log their ids are removed, otherwise
// (the file change never happened) the intent is just dropped.
Status CleanUpLog(StreamLog& log, Index& index, const std::string& org, const Uuid& stream_id,
                  const CleanupPolicy& policy, int64_t now_ms, CleanupReport* report);

// Settles the intents a crash left for this stream (at open; before a run).
Status FinishCleanupIntents(const StreamLog& log, Index& index, const std::string& org,
                            const Uuid& stream_id);

}  // namespace eventflow
