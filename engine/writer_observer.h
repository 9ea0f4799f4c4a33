// WriterObserver: what a StreamWriter reports about its group commits, for
// metrics kept outside the engine (net/ turns it into Prometheus series; the
// engine itself depends on no metrics library). Calls come on the stream's
// flusher thread and must not block.
#pragma once

#include <cstdint>

namespace eventflow {

class WriterObserver {
 public:
  virtual ~WriterObserver() = default;
  // One group-commit round completed: `requests` appends answered OK,
  // `events` stored by them (duplicates excluded), `bytes` of records written.
  virtual void OnRound(uint64_t requests, uint64_t events, uint64_t bytes) = 0;
  // One fdatasync of the stream's active segment took `seconds` (failed or not).
  virtual void OnFlush(double seconds) = 0;
};

}  // namespace eventflow
