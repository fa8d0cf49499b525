#pragma once
// A single-producer/single-consumer ring: the only thing lcores share. Fixed capacity, no locks,
// no allocation; producer and consumer indexes live on separate cache lines.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace pollmsgr {

template <class T, size_t Capacity>
class SpscRing {
  static_assert((Capacity & (Capacity - 1)) == 0, "capacity must be a power of two");

 public:
  bool push(const T& v) {  // producer only; false when full
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_cache_ == Capacity) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head - tail_cache_ == Capacity) return false;
    }
    slots_[head & (Capacity - 1)] = v;
    head_.store(head + 1, std::memory_order_release);
    return true;
  }
  bool pop(T& out) {  // consumer only; false when empty
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == head_cache_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail == head_cache_) return false;
    }
    out = slots_[tail & (Capacity - 1)];
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

 private:
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t tail_cache_ = 0;  // producer's view of tail
  alignas(64) std::atomic<uint64_t> tail_{0};
  uint64_t head_cache_ = 0;  // consumer's view of head
  alignas(64) std::array<T, Capacity> slots_{};
};

}  // namespace pollmsgr
