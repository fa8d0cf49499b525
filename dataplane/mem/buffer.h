#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace pollmsgr {

class BufferPool;

// A fixed-capacity buffer from a BufferPool. The header lives in the pool element itself, right
// before the data, so a buffer needs no other allocation and finds its owner in O(1).
// Threads: a buffer belongs to whoever took it from the pool until release() (any lcore).
struct alignas(64) Buffer {
  BufferPool* pool;    // owner: release() returns the buffer there
  uint32_t capacity;   // bytes of data space
  uint32_t length;     // bytes of valid data
  uint32_t lkey;       // verbs registration keys of the memory behind data(): local, and for
  uint32_t rkey;       // the peer's RDMA READ/WRITE; 0 until registered
  uint32_t reserved;

  uint8_t* data() { return reinterpret_cast<uint8_t*>(this + 1); }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(this + 1); }

  inline void release();
};
static_assert(sizeof(Buffer) == 64);

}  // namespace pollmsgr
