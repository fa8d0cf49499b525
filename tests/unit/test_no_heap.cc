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

// The whole data path: two reactors, msgr2 sessions over shm, dispatch inline, replies.
#include "dataplane/reactor/reactor.h"
#include "proto/osd_messages.h"
#include "tests/unit/shm_pair.h"

namespace pollmsgr {
namespace {

struct Echo final : Dispatcher {
  bool server;
  uint64_t received = 0;
  explicit Echo(bool s) : server(s) {}
  void on_message(Connection& c, const proto::MessageView& m) override {
    ++received;
    if (server) {
      uint8_t front[64] = {};
      c.send({proto::kMsgOsdOpReply, m.header.tid, {front, sizeof(front)}, {}});
    }
  }
};

// Lossless sessions also keep each message until it is acknowledged, and send ACKs.
void round_trips_allocate_nothing(bool lossy, uint16_t port) {
  test::ShmPair pair(port, 256 * 1024);
  Echo server_echo(true), client_echo(false);
  Reactor server(0, server_echo), client(0, client_echo);
  proto::SessionConfig sc, cc;
  sc.role = proto::Role::kServer;
  sc.lossy = cc.lossy = lossy;
  auto* s = new Connection(1, std::move(pair.server), sc, nullptr);
  auto* c = new Connection(2, std::move(pair.client), cc, nullptr);
  server.adopt(std::unique_ptr<Connection>(s));
  client.adopt(std::unique_ptr<Connection>(c));
  s->start();
  c->start();
  for (int i = 0; i < 1000 && !c->ready(); ++i) {
    client.poll_once();
    server.poll_once();
  }
  ASSERT_TRUE(c->ready());
  std::vector<uint8_t> payload(4096, 7);
  uint8_t front[200] = {};
  auto round_trip = [&](uint64_t tid) {
    ASSERT_EQ(c->send({proto::kMsgOsdOp, tid, {front, sizeof(front)}, payload}), SendStatus::kSent);
    const uint64_t want = client_echo.received + 1;
    while (client_echo.received < want) {
      client.poll_once();
      server.poll_once();
    }
  };
  for (uint64_t tid = 1; tid <= 100; ++tid) round_trip(tid);  // warm: decoder buffers, caches

  AllocationWindow window;
  for (uint64_t tid = 101; tid <= 5100; ++tid) round_trip(tid);
  EXPECT_EQ(window.count(), 0);
  EXPECT_EQ(server_echo.received, 5100u);
  EXPECT_FALSE(c->faulted());
  EXPECT_FALSE(s->faulted());
  EXPECT_EQ(c->session().lossless(), !lossy);
  if (!lossy) {
    EXPECT_LE(c->unacked(), 1u);  // each reply acknowledged the ops before it
  }
}

TEST(NoHeap, ReactorRoundTripsOverShmAllocateNothing) { round_trips_allocate_nothing(true, 17510); }
TEST(NoHeap, LosslessRoundTripsAllocateNothing) { round_trips_allocate_nothing(false, 17511); }

}  // namespace
}  // namespace pollmsgr
