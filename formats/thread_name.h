// NameThread: gives a thread a name that top -H, ps -L and perf show
// (Linux keeps 15 characters), so an operator can tell the writer,
// processor and io threads apart. Called by the thread's creator, the name
// is there as soon as the constructor returns.
#pragma once

#include <pthread.h>

#include <string>
#include <thread>

namespace eventflow {

inline void NameThread(std::thread& thread, const std::string& name) {
  pthread_setname_np(thread.native_handle(), name.substr(0, 15).c_str());
}

// The same, from the thread itself.
inline void NameThisThread(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace eventflow
