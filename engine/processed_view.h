// ProcessedView: what the consumers of a stream with processing rules see.
// The processor (processor.h) writes it; polls, replay and lookups read it.
// Below the frontier every event is processed; the events it did not
// deliver as written have an entry, packed with the others of their batch
// into one value of the index's durable state (one write per batch, not per
// event):
//   procview/<stream_id>          -> the frontier (decimal)
//   proc/<stream_id>/<offset:020> -> a ProcessedBlob whose last entry is
//                                    that offset
// Events at or above the frontier are not delivered yet. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/commit_waiters.h"
#include "engine/index.h"
#include "engine/stream_log.h"
#include "formats/status.h"
#include "formats/uuid.h"

namespace eventflow {

// Outcomes of processed events that are not delivered as written, packed:
// per entry, the offset (8 bytes LE), the fate, the body's length (4 bytes
// LE) and the body, in offset order. Fates: 'f' filtered and 'x'
// dead-lettered (no body); 'd' transformed, the body a difference from the
// event as written: its first `prefix` bytes, the body's bytes after two
// 4-byte LE lengths `prefix` and `suffix`, then its last `suffix` bytes (a
// transform changes a few members, so this is a fraction of the event);
// 't' transformed, the body the whole event (when a difference saves
// nothing).
class ProcessedBlob {
 public:
  struct Entry {
    uint64_t offset;
    char fate;
    std::string_view body;  // into the decoded blob
  };
  void Add(uint64_t offset, char fate, std::string_view body = {});
  // Adds the transformed form of the event `written`, as 'd' or 't'.
  void AddTransformed(uint64_t offset, std::string_view written, std::string_view transformed);
  bool empty() const { return bytes_.empty(); }
  size_t size() const { return bytes_.size(); }
  uint64_t last() const { return last_; }
  std::string Take() { return std::exchange(bytes_, std::string()); }
  // Appends the entries of `blob` to `out`; false if it is malformed.
  static bool Decode(std::string_view blob, std::vector<Entry>* out);
  // The event as transformed, from a 't' or 'd' entry and the event as
  // written; false when the entry does not fit that event (damage).
  static bool Transformed(const Entry& entry, std::string_view written, std::string* out);

 private:
  std::string bytes_;
  uint64_t last_ = 0;
};

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

  // What happened to the event at `offset` of `log`; `transformed` (if not
  // null) gets the processed form.
  enum class Fate { kAsWritten, kTransformed, kFiltered, kDeadLettered, kNotProcessed };
  Result<Fate> FateOf(const StreamLog& log, uint64_t offset, std::string* transformed) const;

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
  Status Damaged() const;

  Index* const index_;
  const Uuid stream_id_;
  std::atomic<uint64_t> frontier_;
  CommitWaiters waiters_;
};

}  // namespace eventflow
