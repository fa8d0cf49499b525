#include "dataplane/mem/buffer_pool.h"

#include <rte_errno.h>
#include <rte_mempool.h>

#include <algorithm>
#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"

namespace pollmsgr {
namespace {

struct InitArg {
  BufferPool* pool;
  uint32_t capacity;
};

void init_buffer(rte_mempool*, void* arg, void* obj, unsigned) {
  auto* a = static_cast<InitArg*>(arg);
  new (obj) Buffer{a->pool, a->capacity, 0, 0, 0, 0};
}

// rte_mempool wants cache_size * 1.5 <= count and at most RTE_MEMPOOL_CACHE_MAX_SIZE.
unsigned cache_size_for(uint32_t count) {
  return std::min<unsigned>(RTE_MEMPOOL_CACHE_MAX_SIZE / 2, count / 4);
}

}  // namespace

BufferPool::BufferPool(const std::string& name, uint32_t buffer_size, uint32_t count)
    : buffer_size_(buffer_size), count_(count) {
  if (name.size() >= RTE_MEMPOOL_NAMESIZE)
    throw StartupError(fmt::format("buffer pool name '{}' is too long", name), 1);
  InitArg arg{this, buffer_size};
  mempool_ = rte_mempool_create(name.c_str(), count, sizeof(Buffer) + buffer_size,
                                cache_size_for(count), 0, nullptr, nullptr, init_buffer, &arg,
                                SOCKET_ID_ANY, 0);
  if (!mempool_) {
    const int err = rte_errno;
    const unsigned long long mib = (static_cast<unsigned long long>(count) *
                                    (sizeof(Buffer) + buffer_size)) >> 20;
    // Hugepage exhaustion surfaces from EAL as ENOTSUP ("Operation not supported").
    if (err == ENOMEM || err == ENOTSUP || err == ENOSPC)
      throw StartupError(fmt::format(
          "not enough memory for buffer pool '{}' ({} buffers of {} B, ~{} MiB): raise --mem, "
          "reserve more hugepages with `tools/setup-hugepages N`, or use fewer/smaller buffers",
          name, count, buffer_size, mib + 1));
    throw StartupError(
        fmt::format("cannot create buffer pool '{}': {}", name, rte_strerror(err)), 1);
  }
}

BufferPool::~BufferPool() { rte_mempool_free(mempool_); }

Buffer* BufferPool::get() {
  void* obj = nullptr;
  if (rte_mempool_get(mempool_, &obj) != 0) return nullptr;
  auto* b = static_cast<Buffer*>(obj);
  b->length = 0;
  return b;
}

bool BufferPool::get_bulk(Buffer** out, unsigned n) {
  if (rte_mempool_get_bulk(mempool_, reinterpret_cast<void**>(out), n) != 0) return false;
  for (unsigned i = 0; i < n; ++i) out[i]->length = 0;
  return true;
}

void BufferPool::put(Buffer* buffer) { rte_mempool_put(mempool_, buffer); }

const char* BufferPool::name() const { return mempool_->name; }

unsigned BufferPool::available() const { return rte_mempool_avail_count(mempool_); }

void BufferPool::for_each_memory_chunk(
    const std::function<void(void* addr, size_t len)>& fn) const {
  auto cb = [](rte_mempool*, void* opaque, rte_mempool_memhdr* hdr, unsigned) {
    (*static_cast<const std::function<void(void*, size_t)>*>(opaque))(hdr->addr, hdr->len);
  };
  rte_mempool_mem_iter(mempool_, cb, const_cast<std::function<void(void*, size_t)>*>(&fn));
}

void BufferPool::set_keys(const std::function<Keys(const void* addr)>& keys_of) {
  auto cb = [](rte_mempool*, void* opaque, void* obj, unsigned) {
    auto* b = static_cast<Buffer*>(obj);
    const Keys k = (*static_cast<const std::function<Keys(const void*)>*>(opaque))(b->data());
    b->lkey = k.lkey;
    b->rkey = k.rkey;
  };
  rte_mempool_obj_iter(mempool_, cb, const_cast<std::function<Keys(const void*)>*>(&keys_of));
}

}  // namespace pollmsgr
