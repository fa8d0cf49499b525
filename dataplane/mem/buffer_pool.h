#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "dataplane/mem/buffer.h"

struct rte_mempool;

namespace pollmsgr {

// A pool of equal-sized buffers in hugepage memory (an rte_mempool with per-lcore caches).
// get() and put() take no locks, make no syscalls and never touch the heap. An empty pool
// answers nullptr: the caller backs off (backpressure); it never aborts or falls back to malloc.
// Threads: get(), put() and available() from any lcore (each has its own cache; a non-EAL
// thread uses the shared ring); construction, for_each_memory_chunk and set_keys before the
// lcores run.
class BufferPool {
 public:
  // Throws StartupError when the memory is not there, naming the fix.
  BufferPool(const std::string& name, uint32_t buffer_size, uint32_t count);
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  Buffer* get();
  // Up to n buffers into out[]; all or nothing (returns false when fewer than n are free).
  bool get_bulk(Buffer** out, unsigned n);
  void put(Buffer* buffer);

  const char* name() const;
  uint32_t buffer_size() const { return buffer_size_; }
  uint32_t count() const { return count_; }
  unsigned available() const;  // free buffers, caches included

  // Each virtually contiguous memory chunk behind the pool, once: what verbs registers.
  void for_each_memory_chunk(const std::function<void(void* addr, size_t len)>& fn) const;
  // Sets every buffer's lkey and rkey (after registration); buffers must all be in the pool.
  struct Keys {
    uint32_t lkey, rkey;
  };
  void set_keys(const std::function<Keys(const void* addr)>& keys_of);

 private:
  rte_mempool* mempool_ = nullptr;
  uint32_t buffer_size_;
  uint32_t count_;
};

inline void Buffer::release() { pool->put(this); }

}  // namespace pollmsgr
