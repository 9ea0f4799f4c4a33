#include "engine/commit_waiters.h"

#include <vector>

namespace eventflow {

CommitWaiters::Token CommitWaiters::Wait(uint64_t offset, Callback cb) {
  std::unique_lock lock(mu_);
  if (shut_down_ || offset < frontier_) {
    const bool woken = !shut_down_;
    lock.unlock();
    cb(woken);
    return 0;
  }
  const Token t = next_token_++;
  by_offset_.emplace(offset, t);
  waiters_.emplace(t, std::make_pair(offset, std::move(cb)));
  return t;
}

bool CommitWaiters::Cancel(Token token) {
  Callback cb;
  {
    std::lock_guard lock(mu_);
    auto it = waiters_.find(token);
    if (it == waiters_.end()) return false;
    auto [lo, hi] = by_offset_.equal_range(it->second.first);
    for (auto b = lo; b != hi; ++b) {
      if (b->second == token) {
        by_offset_.erase(b);
        break;
      }
    }
    cb = std::move(it->second.second);
    waiters_.erase(it);
  }
  cb(false);
  return true;
}

void CommitWaiters::Advance(uint64_t next) {
  std::vector<Callback> ready;
  {
    std::lock_guard lock(mu_);
    if (next <= frontier_) return;
    frontier_ = next;
    auto end = by_offset_.lower_bound(next);
    for (auto it = by_offset_.begin(); it != end; ++it) {
      auto w = waiters_.find(it->second);
      ready.push_back(std::move(w->second.second));
      waiters_.erase(w);
    }
    by_offset_.erase(by_offset_.begin(), end);
  }
  for (auto& cb : ready) cb(true);
}

std::vector<CommitWaiters::Callback> CommitWaiters::TakeAll() {
  std::vector<Callback> all;
  std::lock_guard lock(mu_);
  for (auto& [t, w] : waiters_) all.push_back(std::move(w.second));
  waiters_.clear();
  by_offset_.clear();
  return all;
}

void CommitWaiters::WakeAll() {
  for (auto& cb : TakeAll()) cb(true);
}

void CommitWaiters::Shutdown() {
  {
    std::lock_guard lock(mu_);
    shut_down_ = true;
  }
  for (auto& cb : TakeAll()) cb(false);
}

size_t CommitWaiters::parked() const {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

}  // namespace eventflow
