// Proves the buffer data path makes no heap allocation after start-up: every malloc/calloc/
// realloc (and so every operator new) in this process is counted while a window is open.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>

#include "dataplane/mem/buffer_pool.h"
#include "tests/unit/eal_environment.h"

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
void count() {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1);
}
}  // namespace

#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer owns malloc; it offers hooks instead of interposition (declared here: g++
// ships the runtime but not its header).
extern "C" int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void*, size_t), void (*free_hook)(const volatile void*));
namespace {
void on_malloc(const volatile void*, size_t) { count(); }
void on_free(const volatile void*) {}
const int installed = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}  // namespace
#else
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* malloc(size_t n) {
  count();
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t s) {
  count();
  return __libc_calloc(n, s);
}
void* realloc(void* p, size_t n) {
  count();
  return __libc_realloc(p, n);
}
}
#endif

namespace pollmsgr {
namespace {

class AllocationWindow {
 public:
  AllocationWindow() {
    allocations = 0;
    counting = true;
  }
  ~AllocationWindow() { counting = false; }
  long count() const { return allocations.load(); }
};

TEST(NoHeap, TheCounterSeesAllocations) {
  AllocationWindow window;
  auto* p = new int(7);  // must be counted, or the test below proves nothing
  delete p;
  void* q = std::malloc(64);
  std::free(q);
  EXPECT_GE(window.count(), 2);
}

TEST(NoHeap, PoolGetPutBurstsAllocateNothing) {
  BufferPool pool("t_noheap", 4096, 1024);
  Buffer* burst[32];
  ASSERT_TRUE(pool.get_bulk(burst, 32));  // warm the lcore cache outside the window
  for (Buffer* b : burst) b->release();

  AllocationWindow window;
  for (int round = 0; round < 10000; ++round) {
    ASSERT_TRUE(pool.get_bulk(burst, 32));
    for (Buffer* b : burst) {
      b->data()[0] = static_cast<uint8_t>(round);
      b->length = 1;
    }
    for (Buffer* b : burst) b->release();
    Buffer* one = pool.get();
    ASSERT_NE(one, nullptr);
    one->release();
  }
  EXPECT_EQ(window.count(), 0);
}

}  // namespace
}  // namespace pollmsgr
