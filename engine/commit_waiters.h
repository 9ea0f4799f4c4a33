// CommitWaiters: callbacks parked until a stream's deliverable frontier
// passes an offset (long-poll). A parked waiter costs a map entry, no thread.
// Thread-safe; callbacks run outside the lock, on the thread that moved the
// frontier (or that cancelled/shut down), and must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

namespace eventflow {

class CommitWaiters {
 public:
  // `woken` is true when the frontier passed, false on Cancel/Shutdown.
  using Callback = std::function<void(bool woken)>;
  using Token = uint64_t;

  // Parks `cb` until the frontier exceeds `offset` (i.e. an event with that
  // offset is deliverable). If it already has, `cb(true)` runs at once.
  Token Wait(uint64_t offset, Callback cb);
  // Removes a parked waiter and runs it with false. False if it already ran.
  bool Cancel(Token token);
  // Moves the frontier to `next` (one past the last deliverable offset) and
  // wakes every waiter below it.
  void Advance(uint64_t next);
  // Wakes every parked waiter with true without moving the frontier: what
  // is deliverable changed some other way (a redelivery became due now).
  void WakeAll();
  // Wakes every waiter with false; later Waits run at once with false.
  void Shutdown();
  size_t parked() const;

 private:
  // Removes every parked waiter and returns their callbacks.
  std::vector<Callback> TakeAll();
  mutable std::mutex mu_;
  uint64_t frontier_ = 0;
  bool shut_down_ = false;
  Token next_token_ = 1;
  std::multimap<uint64_t, Token> by_offset_;
  std::map<Token, std::pair<uint64_t, Callback>> waiters_;
};

}  // namespace eventflow
