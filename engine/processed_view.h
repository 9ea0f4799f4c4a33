// ProcessedView: what the consumers of a stream with processing rules see.
// The processor (processor.h) writes it; polls, replay and lookups read it.
// Below the frontier every event is processed; the events it did not
// deliver as written have an entry in the index's durable state:
//   procview/<stream_id>               -> the frontier (decimal)
//   proc/<stream_id>/<offset:020>      -> "f" filtered, "x" dead-lettered,
//                                         "t" + the transformed event
// Events above the frontier are not delivered yet. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "engine/commit_waiters.h"
#include "engine/index.h"
#include "engine/stream_log.h"
#include "formats/status.h"
#include "formats/uuid.h"

namespace eventflow {

class ProcessedView {
 public:
  ProcessedView(Index* index, const Uuid& stream_id, uint64_t frontier)
      : index_(index), stream_id_(stream_id), frontier_(frontier) {
    waiters_.Advance(frontier);
  }

  // Offsets below it are processed (and the outcome durable).
  uint64_t frontier() const { return frontier_.load(std::memory_order_acquire); }
  // Woken when the frontier moves: long-polls of the stream park here.
  CommitWaiters& waiters() { return waiters_; }

  // Visits the events of `log` from `from` up to the frontier, in offset
  // order, as consumers see them: filtered and dead-lettered events are
  // skipped, transformed ones are given in their processed form.
  // `visit(offset, event_json)` returns false to stop.
  using Visit = std::function<bool(uint64_t offset, std::string_view event_json)>;
  Status Read(const StreamLog& log, uint64_t from, const Visit& visit) const;

  // What happened to one event; `transformed` gets the processed form.
  enum class Fate { kAsWritten, kTransformed, kFiltered, kDeadLettered, kNotProcessed };
  Result<Fate> FateOf(uint64_t offset, std::string* transformed) const;

  // The processor's side: the frontier is durable, publish it.
  void Publish(uint64_t frontier) {
    frontier_.store(frontier, std::memory_order_release);
    waiters_.Advance(frontier);
  }

  static std::string FrontierKey(const Uuid& stream_id);
  static std::string EntryPrefix(const Uuid& stream_id);
  static std::string EntryKey(const Uuid& stream_id, uint64_t offset);
  // The stream's stored frontier; nullopt when it has no processed view.
  static Result<std::optional<uint64_t>> StoredFrontier(const Index& index, const Uuid& stream_id);

 private:
  Index* const index_;
  const Uuid stream_id_;
  std::atomic<uint64_t> frontier_;
  CommitWaiters waiters_;
};

}  // namespace eventflow
