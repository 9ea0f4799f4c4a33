// Checks one materialized crash state against the promises made before its
// position, by opening it with the engine's real recovery code.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "formats/status.h"
#include "tests/crash/crash_state.h"
#include "tests/crash/workload.h"

namespace eventflow::crash {

// The data dir root/data after a crash at `position`: the engine opens it
// (no abort, no stream called corrupt) and
//  - every stream promised created (and not promised deleted) is there,
//    once; none promised deleted is;
//  - each stream's log is a prefix of whole acknowledged batches, each
//    event at its acknowledged offset (or, for a round that failed or was
//    in flight, an event written at that offset); under --fsync always it
//    holds every
//    batch acknowledged before `position`, under every policy every record
//    a completed sync covered (`synced_through`, per stream directory);
//  - the index finds each present event where it is and no absent one;
//  - each group commit promised before `position` reads back (or a later);
//  - a dead-lettering answered is in the DLQ until a retry is asked for; a
//    retry answered is not;
//  - offsets missing inside the log are only those a retention or
//    compaction run begun before `position` removed.
// OK, or a Corruption status saying what was broken. `events` (optional)
// gets each served stream's end (its last offset + 1, 0 if empty).
// `state` gives what syncs covered and what was written where.
Status CheckState(const Promises& promises, size_t position, const CrashState& state,
                  const std::string& root, std::map<std::string, uint64_t>* events = nullptr);

// Starts the real server (EVENTFLOW_BIN) on the data dir root/data: it must
// become ready, serve each stream of `events` with that end, and stop
// cleanly on SIGTERM.
Status CheckServed(const std::string& root, const std::map<std::string, uint64_t>& events);

}  // namespace eventflow::crash
