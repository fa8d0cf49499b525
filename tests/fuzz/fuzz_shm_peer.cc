// libFuzzer: a hostile shm peer. Each input sets up one real connection with a ShmTransport
// server (the peer's half made by hand, as tests/hostile/shm_peer.cc does), then plays a script:
// between the server endpoint's calls the peer writes whatever it likes into its control page
// (produced, consumed, idle), its ring and the doorbell socket. Every window the server hands out
// is read or written end to end, so a window that reaches past its mapping is a crash here;
// every status the server reports must be one the interface allows.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>

#include "dataplane/transport/shm_transport.h"
#include "tests/hostile/shm_wire.h"

using namespace pollmsgr;

namespace {

constexpr uint32_t kRing = 16 << 10;  // both sides
constexpr size_t kPage = 4096;

ShmTransport* server;
std::string socket_path;

struct Input {
  const uint8_t* p;
  size_t n;
  bool empty() const { return n == 0; }
  uint8_t u8() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | u8();
    return v;
  }
};

struct Peer {
  int sock = -1;
  uint8_t* mem = nullptr;  // our half: control page + ring
  const ShmControl* theirs = nullptr;
  ShmControl* control() const { return reinterpret_cast<ShmControl*>(mem); }
  uint8_t* ring() const { return mem + kPage; }
  ~Peer() {
    if (theirs) munmap(const_cast<ShmControl*>(theirs), kPage);
    if (mem) munmap(mem, kPage + kRing);
    if (sock >= 0) close(sock);
  }
};

// The peer's half and hello; true once the server has answered with its own.
bool connect_peer(Peer& peer, std::unique_ptr<Endpoint>& ep) {
  peer.sock = test::shm_connect(socket_path);
  const int memfd = test::shm_memfd(kPage + kRing, true);
  if (peer.sock < 0 || memfd < 0) std::abort();
  peer.mem = static_cast<uint8_t*>(
      mmap(nullptr, kPage + kRing, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0));
  new (peer.mem) ShmControl{ShmControl::kMagic, kRing, 0, {}, {}, {}, {}, {}, {}};
  if (!test::shm_send_hello(peer.sock, kRing, memfd)) std::abort();
  close(memfd);
  for (int i = 0; i < 100 && !ep; ++i) ep = server->accept([](uint64_t) { return size_t{0}; }).endpoint;
  if (!ep) std::abort();  // an honest set-up must be taken
  test::ShmHello hello;
  const int fd = test::shm_receive_hello(peer.sock, hello, 20000);
  if (fd < 0) std::abort();
  peer.theirs = static_cast<const ShmControl*>(mmap(nullptr, kPage, PROT_READ, MAP_SHARED, fd, 0));
  close(fd);
  return peer.theirs != MAP_FAILED;
}

void check_status(EndpointStatus s) {
  if (s != EndpointStatus::kOk && s != EndpointStatus::kPeerClosed && s != EndpointStatus::kError)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  static char dir[] = "/tmp/pollmsgr-fuzz-shm.XXXXXX";
  if (!mkdtemp(dir)) std::abort();
  ShmOptions o;
  o.ring_bytes = kRing;
  o.hugetlb = false;
  o.dir = dir;
  static ShmTransport transport(o);
  server = &transport;
  const HostPort at = parse_host_port("127.0.0.1:1");
  server->listen(at);
  socket_path = shm_socket_path(o, at);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Peer peer;
  std::unique_ptr<Endpoint> ep;
  if (!connect_peer(peer, ep)) return 0;
  Input in{data, size};
  volatile uint8_t sink = 0;
  for (int step = 0; step < 64 && !in.empty(); ++step) {
    switch (in.u8() % 10) {
      case 0: {  // the peer writes k bytes at its produced index and publishes them
        const uint64_t produced = peer.control()->produced.load();
        const size_t k = in.u8() * 128u;
        for (size_t i = 0; i < k; ++i) peer.ring()[(produced + i) % kRing] = in.u8();
        peer.control()->produced.store(produced + k);
        break;
      }
      case 1: peer.control()->produced.store(in.u64()); break;
      case 2: peer.control()->consumed.store(in.u64()); break;
      case 3: peer.control()->consumed.store(peer.theirs->produced.load()); break;  // honest
      case 4: peer.control()->idle.store(static_cast<uint32_t>(in.u64())); break;
      case 5: {  // the server reads what it is shown, all of it
        const auto w = ep->rx_window();
        if (w.size() > kRing) std::abort();  // more than the peer's ring can hold
        for (uint8_t b : w) sink = sink + b;
        ep->rx_release(std::min<size_t>(w.size(), in.u8() * 64u));
        break;
      }
      case 6: {  // the server writes the whole window it is given
        const size_t want = in.u8() * 64u;
        const auto w = ep->tx_window(want);
        if (w.size() > kRing) std::abort();
        if (!w.empty()) std::memset(w.data(), 0x5a, w.size());  // an empty window may be null
        ep->tx_commit(std::min<size_t>(w.size(), want));
        check_status(ep->tx_flush());
        break;
      }
      case 7: check_status(ep->check_peer()); break;
      case 8: {  // doorbell bytes
        char bytes[64] = {};
        send(peer.sock, bytes, 1 + in.u8() % 64, MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
      }
      case 9:
        if (ep->enter_idle()) ep->leave_idle();
        break;
    }
    check_status(ep->status());
  }
  return 0;
}
