// Retry delays: capped exponential backoff with full jitter, i.e. a uniform
// random delay in [0, min(cap, base * 2^(attempt-1))].
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "formats/random.h"

namespace eventflow::client {

struct Backoff {
  std::chrono::milliseconds base{50};
  std::chrono::milliseconds cap{5000};

  // The upper bound of the delay before retry number `attempt` (1-based).
  std::chrono::milliseconds Ceiling(int attempt) const {
    int64_t ms = base.count();
    for (int i = 1; i < attempt && ms < cap.count(); ++i) ms *= 2;
    return std::chrono::milliseconds(std::min<int64_t>(ms, cap.count()));
  }
  // A uniformly random delay in [0, Ceiling(attempt)].
  std::chrono::milliseconds Delay(int attempt) const {
    const uint64_t ceiling = static_cast<uint64_t>(Ceiling(attempt).count());
    return std::chrono::milliseconds(static_cast<int64_t>(RandomBits() % (ceiling + 1)));
  }
};

}  // namespace eventflow::client
