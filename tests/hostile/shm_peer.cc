// shm_peer DIR PORT MODE: a local client that misbehaves toward a perf_msgr_server on shm, doing
// the set-up by hand (the socket file DIR/127.0.0.1:PORT, a hello and a memfd each way):
//   unsealed     its memfd has no seals (it could shrink it under us later): must be refused
//   wrong-size   sealed, but smaller than the ring its hello claims: must be refused
//   huge-ring    claims a 128 MiB ring (beyond --shm-max-peer-ring-kb): must be refused
//   bad-index    set up, then publishes a ring index past anything it could have written
//   bad-consumed set up, then says it consumed more of the server's ring than was written, and
//                sends a banner so that the server answers (and looks at what we consumed)
//   stranger     an honest set-up, from a uid the server does not allow: must be refused
//   silent-setups  opens 600 set-ups (more than the server has slots), sends nothing, says
//                "holding", and waits to be killed
// Exits 0 when the server did what it must (and says so), 1 when it did not, 2 on a test error.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/transport/shm_transport.h"
#include "proto/session.h"
#include "tests/hostile/shm_wire.h"

using namespace pollmsgr;

namespace {

constexpr const char* kWho = "shm_peer";
constexpr size_t kPage = 4096;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "%s: FAILED: %s (%s)\n", kWho, why.c_str(), std::strerror(errno));
  std::exit(2);
}

int connect_setup(const std::string& path) {
  const int fd = test::shm_connect(path);
  if (fd < 0) die("cannot connect to " + path);
  return fd;
}

int make_memfd(size_t size, bool sealed) {
  const int fd = test::shm_memfd(size, sealed);
  if (fd < 0) die("memfd");
  return fd;
}

void send_hello(int sock, uint32_t ring_bytes, int memfd) {
  if (!test::shm_send_hello(sock, ring_bytes, memfd)) die("sendmsg");
}

// The server's answer: its memfd, or -1 when it closed the set-up instead.
int receive_hello(int sock) {
  test::ShmHello h;
  return test::shm_receive_hello(sock, h, 20000);
}

// True when the server closes `sock` within 20 s (what it sends meanwhile is ignored).
bool closed_by_server(int sock) {
  char buf[256];
  for (int waited = 0; waited < 200; ++waited) {
    pollfd p{sock, POLLIN, 0};
    if (poll(&p, 1, 100) == 1 && recv(sock, buf, sizeof(buf), MSG_DONTWAIT) <= 0) return true;
  }
  return false;
}

int verdict(bool closed, const char* what) {
  if (!closed) {
    std::printf("%s: the server did NOT close the %s\n", kWho, what);
    return 1;
  }
  std::printf("%s: the server closed the %s\n", kWho, what);
  return 0;
}

// A set-up the server must refuse: it answers with a close, never with its hello.
int refused(const std::string& path, uint32_t ring_bytes, size_t file_bytes, bool sealed,
            const char* what) {
  const int sock = connect_setup(path);
  // The server may refuse before reading our hello (a stranger is known from the connection
  // alone): a hello that finds the set-up already closed is a refusal too.
  if (!test::shm_send_hello(sock, ring_bytes, make_memfd(file_bytes, sealed))) {
    if (errno != EPIPE && errno != ECONNRESET) die("sendmsg");
    std::printf("%s: the server refused a set-up with %s (closed before our hello)\n", kWho, what);
    return 0;
  }
  const int fd = receive_hello(sock);
  if (fd >= 0) {
    std::printf("%s: the server ACCEPTED a set-up with %s\n", kWho, what);
    return 1;
  }
  std::printf("%s: the server refused a set-up with %s\n", kWho, what);
  return 0;
}

struct Session {
  int sock;
  ShmControl* ours;  // our page: we write
  uint8_t* our_ring;
  const ShmControl* theirs;
  uint32_t ring_bytes;
};

// An honest set-up of a `ring_bytes` ring: our memory mapped writable, the server's read-only.
Session set_up(const std::string& path, uint32_t ring_bytes) {
  Session s{connect_setup(path), nullptr, nullptr, nullptr, ring_bytes};
  const int memfd = make_memfd(kPage + ring_bytes, true);
  auto* base = static_cast<uint8_t*>(
      mmap(nullptr, kPage + ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0));
  if (base == MAP_FAILED) die("mmap");
  s.ours = new (base) ShmControl{ShmControl::kMagic, ring_bytes, 0, {}, {}, {}, {}, {}, {}};
  s.our_ring = base + kPage;
  send_hello(s.sock, ring_bytes, memfd);
  const int fd = receive_hello(s.sock);
  if (fd < 0) die("the server refused an honest set-up");
  void* peer = mmap(nullptr, kPage, PROT_READ, MAP_SHARED, fd, 0);
  if (peer == MAP_FAILED) die("mmap of the server's page");
  s.theirs = static_cast<const ShmControl*>(peer);
  return s;
}

void ring_doorbell(int sock) {
  const char b = 1;
  send(sock, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) die("usage: shm_peer DIR PORT MODE");
  const std::string path = std::string(argv[1]) + "/127.0.0.1:" + argv[2];
  const std::string mode = argv[3];
  constexpr uint32_t kRing = 64 << 10;
  if (mode == "unsealed") return refused(path, kRing, kPage + kRing, false, "an unsealed memfd");
  if (mode == "wrong-size") return refused(path, kRing, kPage + kRing / 2, true, "a short memfd");
  if (mode == "stranger")
    return refused(path, kRing, kPage + kRing, true, "a uid it does not allow");
  if (mode == "huge-ring")
    return refused(path, 128u << 20, kPage + (128u << 20), true, "a 128 MiB ring");
  if (mode == "bad-index") {
    Session s = set_up(path, kRing);
    s.ours->produced.store(5ull * kRing, std::memory_order_release);  // more than the ring holds
    ring_doorbell(s.sock);
    return verdict(closed_by_server(s.sock), "peer that published an impossible ring index");
  }
  if (mode == "bad-consumed") {
    Session s = set_up(path, kRing);
    s.ours->consumed.store(1ull << 40, std::memory_order_release);  // never written that much
    std::array<uint8_t, pollmsgr::proto::kBannerSize> banner;
    pollmsgr::proto::encode_banner(banner);
    std::memcpy(s.our_ring, banner.data(), banner.size());
    s.ours->produced.store(banner.size(), std::memory_order_release);
    ring_doorbell(s.sock);
    return verdict(closed_by_server(s.sock), "peer that claimed to consume what was never written");
  }
  if (mode == "silent-setups") {
    std::vector<int> held;
    for (int i = 0; i < 600; ++i) held.push_back(connect_setup(path));
    std::printf("%s: holding %zu silent set-ups\n", kWho, held.size());
    std::fflush(stdout);
    pause();  // until the test kills us
    return 0;
  }
  die("unknown mode " + mode);
}
