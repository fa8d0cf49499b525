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
  int* volatile p = new int(7);  // must be counted, or the tests below prove nothing (volatile:
  delete p;                      // the optimizer may drop an unused new/delete pair)
  void* volatile q = std::malloc(64);
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

// The whole data path: a server and a client messenger, each with its reactor (the server's on
// its own thread, so that its event-driven wait really blocks), msgr2 over shm and tcp, in poll
// and event mode, lossy and lossless, and again after a lossless session resumed over a new
// transport. Every allocation in the process, on either thread, counts.
#include <pthread.h>

#include <thread>

#include "dataplane/messenger/messenger.h"
#include "dataplane/transport/shm_transport.h"
#include "dataplane/transport/tcp_transport.h"
#include "dataplane/reactor/reactor.h"
#include "proto/osd_messages.h"
#include "tests/unit/wait.h"

namespace pollmsgr {
namespace {

struct Echo final : Dispatcher {
  bool server;
  std::atomic<uint64_t> received{0}, resumed{0};
  explicit Echo(bool s) : server(s) {}
  void on_message(Connection& c, const proto::MessageView& m) override {
    received.fetch_add(1);
    if (server) {
      uint8_t front[64] = {};
      c.send({proto::kMsgOsdOpReply, m.header.tid, {front, sizeof(front)}, {}});
    }
  }
  void on_resumed(Connection&, uint64_t) override { resumed.fetch_add(1); }
};

struct Case {
  uint16_t port;  // each case its own: ctest runs them in parallel processes
  const char* transport;
  WaitPolicy policy;
  bool lossy;
  bool resume;  // count again after the transport failed and the session resumed
  size_t payload;
};

std::string name_of(const testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return std::string(c.transport) + "_" + (c.policy == WaitPolicy::kPoll ? "poll" : "event") +
         (c.lossy ? "_lossy" : "_lossless") + (c.resume ? "_after_resume" : "") + "_" +
         std::to_string(c.payload);
}

class NoHeapRoundTrips : public testing::TestWithParam<Case> {};

TEST_P(NoHeapRoundTrips, AllocateNothing) {
  const Case& k = GetParam();
  const HostPort addr = parse_host_port("127.0.0.1:" + std::to_string(k.port));
  ShmOptions shm;
  shm.ring_bytes = 512 * 1024;
  shm.hugetlb = false;
  std::unique_ptr<Transport> transport;
  if (std::string(k.transport) == "shm")
    transport = std::make_unique<ShmTransport>(shm);
  else
    transport = std::make_unique<TcpTransport>();
  MessengerOptions o;
  o.transport = transport.get();
  o.lossy = k.lossy;
  o.reconnect_window_ms = 5000;
  Echo server_echo(true), client_echo(false);
  Reactor server(0, server_echo, k.policy), client(0, client_echo, k.policy);
  Messenger server_messenger(o, {&server});
  server_messenger.bind(addr);
  std::atomic<bool> stop{false};
  std::thread server_thread([&] { server.run(stop); });
  // Threads start with the main lcore's affinity: two spinning loops on one CPU would take turns
  // by the scheduler's slice. The server gets the other CPU when there is one.
  if (std::thread::hardware_concurrency() > 1) {
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(1, &cpus);
    pthread_setaffinity_np(server_thread.native_handle(), sizeof(cpus), &cpus);
  }
  Messenger client_messenger(o, {&client});
  Connection* c = client_messenger.connect_to(addr, client);
  auto poll_until = [&](auto done, const char* what) {
    return test::eventually([&] { return done() || (client.poll_once(), false); }, what);
  };
  std::vector<uint8_t> payload(k.payload, 7);
  uint8_t front[200] = {};
  uint64_t tid = 0;
  auto round_trips = [&](int n) {
    for (int i = 0; i < n; ++i) {
      const uint64_t want = client_echo.received.load() + 1;
      const SendStatus st = c->send({proto::kMsgOsdOp, ++tid, {front, sizeof(front)}, payload});
      if (st != SendStatus::kSent && st != SendStatus::kQueued) {
        ADD_FAILURE() << "send failed at tid " << tid;
        return;
      }
      if (!poll_until([&] { return client_echo.received.load() >= want; }, "a reply")) return;
    }
  };
  if (poll_until([&] { return c->ready(); }, "the handshake")) {
    round_trips(100);  // warm: decoder buffers, caches, the server's accept
    if (k.resume) {
      c->transport_fault("injected by the test");
      poll_until([&] { return client_echo.resumed.load() == 1; }, "the session to resume");
      round_trips(100);
    }
    AllocationWindow window;
    round_trips(3000);
    EXPECT_EQ(window.count(), 0);
  }
  stop = true;
  server_thread.join();
  EXPECT_EQ(server_echo.received.load(), tid);
  EXPECT_FALSE(c->faulted()) << c->fault_reason();
  EXPECT_EQ(c->session().lossless(), !k.lossy);
  if (!k.lossy) {
    EXPECT_LE(c->unacked(), 1u);  // each reply acknowledged the ops before it
  }
}

std::vector<Case> cases() {
  std::vector<Case> out;
  uint16_t port = 17520;
  for (const char* t : {"shm", "tcp"})
    for (WaitPolicy p : {WaitPolicy::kPoll, WaitPolicy::kEvent}) {
      out.push_back({port++, t, p, true, false, 4096});
      out.push_back({port++, t, p, false, false, 4096});
      out.push_back({port++, t, p, false, true, 4096});
    }
  out.push_back({port++, "shm", WaitPolicy::kPoll, true, false, 64});
  out.push_back({port++, "tcp", WaitPolicy::kPoll, true, false, 1 << 20});
  return out;
}
void PrintTo(const Case& c, std::ostream* os) { *os << c.transport << " port " << c.port; }
INSTANTIATE_TEST_SUITE_P(Messenger, NoHeapRoundTrips, testing::ValuesIn(cases()), name_of);

}  // namespace
}  // namespace pollmsgr
