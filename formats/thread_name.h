// NameThisThread: gives the calling thread a name that top -H, ps -L and
// perf show (Linux keeps 15 characters), so an operator can tell the
// writer, processor and io threads apart.
#pragma once

#include <pthread.h>

#include <string>

namespace eventflow {

inline void NameThisThread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace eventflow
