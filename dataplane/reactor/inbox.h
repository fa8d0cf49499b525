#pragma once
// A reactor's inbox: connections handed to it by other lcores (an accepted client, a session's
// new transport). Several producers, serialized by a lock on their side (they run at accept and
// reconnect only, never on the data path); the owning lcore pops without one.
#include <cstddef>
#include <mutex>

#include "dataplane/reactor/spsc_ring.h"

namespace pollmsgr {

template <class T, size_t Capacity>
class Inbox {
 public:
  bool push(const T& v) {  // any thread; false when full
    std::lock_guard lock(producers_);
    return ring_.push(v);
  }
  bool pop(T& out) { return ring_.pop(out); }  // the owner only

 private:
  SpscRing<T, Capacity> ring_;
  std::mutex producers_;
};

}  // namespace pollmsgr
