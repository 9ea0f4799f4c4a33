// Named points where a test can make the process die as kill -9 would, to
// prove that an operation is crash-safe at every step (compaction, repair).
// The environment variable EVENTFLOW_CRASH_AT names the point; unset (as in
// every real deployment) each point costs one cached comparison.
#pragma once

#include <string_view>

namespace eventflow {

// Raises SIGKILL if EVENTFLOW_CRASH_AT equals `name`.
void CrashPoint(std::string_view name);

}  // namespace eventflow
