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
//   churn-setups   the same 600, each closed and opened again as soon as the server drops it,
//                for 20 s or until killed: a new client must still get in
//   reopen       an honest set-up, then tries to make the server's half writable through the
//                descriptor it was given (/proc/self/fd reopened read-write, then a shared
//                writable mapping, a hole punched, a write): each must be refused
//   write-only   300 set-ups whose memfd is sealed and sized right but opened write-only (so
//                the server cannot map it) and claims the largest ring: each must be refused,
//                and cost the server no address space
// Exits 0 when the server did what it must (and says so), 1 when it did not, 2 on a test error.
#include <fcntl.h>
#include <poll.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
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

// Tries to write the server's half through the descriptor it gave us; 0 when every way was
// refused.
int attack_server_half(int fd) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const int rw = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (rw < 0) {  // a stricter server: not even reopened
    std::printf("%s: the server's half could not be reopened read-write (%s)\n", kWho,
                std::strerror(errno));
    return 0;
  }
  struct stat st{};
  fstat(rw, &st);
  const size_t size = static_cast<size_t>(st.st_size);
  int broken = 0;
  void* w = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
  if (w != MAP_FAILED) {
    std::printf("%s: a writable shared mapping of the server's half SUCCEEDED\n", kWho);
    ++broken;
  }
  // The ring, past the control page (hugetlb: the first 2 MiB are the control page).
  const off_t ring = size >= (4u << 20) ? (2 << 20) : static_cast<off_t>(kPage);
  if (fallocate(rw, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, ring,
                static_cast<off_t>(size) - ring) == 0) {
    std::printf("%s: punching a hole in the server's ring SUCCEEDED\n", kWho);
    ++broken;
  }
  if (pwrite(rw, "x", 1, 64) == 1) {
    std::printf("%s: writing the server's control page SUCCEEDED\n", kWho);
    ++broken;
  }
  close(rw);
  if (broken) return 1;
  std::printf("%s: the server's half (%zu bytes) refused every write (mmap, hole punch, write)\n",
              kWho, size);
  return 0;
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
  int their_fd;  // the descriptor of the server's half it gave us
};

// An honest set-up of a `ring_bytes` ring: our memory mapped writable, the server's read-only.
Session set_up(const std::string& path, uint32_t ring_bytes) {
  Session s{connect_setup(path), nullptr, nullptr, nullptr, ring_bytes, -1};
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
  s.their_fd = fd;
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
  if (mode == "reopen") {
    return attack_server_half(set_up(path, kRing).their_fd);
  }
  if (mode == "write-only") {
    constexpr uint32_t kLargest = 64u << 20;  // the default --shm-max-peer-ring-kb
    for (int i = 0; i < 300; ++i) {
      const int sock = connect_setup(path);
      const int memfd = make_memfd(kPage + kLargest, true);  // sparse: costs us nothing
      const std::string own = "/proc/self/fd/" + std::to_string(memfd);
      const int wronly = open(own.c_str(), O_WRONLY | O_CLOEXEC);
      if (wronly < 0) die("reopen write-only");
      if (test::shm_send_hello(sock, kLargest, wronly) && receive_hello(sock) >= 0) {
        std::printf("%s: the server ACCEPTED a write-only memfd\n", kWho);
        return 1;
      }
      close(wronly);
      close(memfd);
      close(sock);
    }
    std::printf("%s: the server refused 300 set-ups with a write-only memfd\n", kWho);
    return 0;
  }
  if (mode == "churn-setups") {
    std::vector<int> held;
    for (int i = 0; i < 600; ++i) held.push_back(connect_setup(path));
    std::printf("%s: holding %zu silent set-ups, dialling again each one dropped\n", kWho, held.size());
    std::fflush(stdout);
    const time_t end = time(nullptr) + 20;
    while (time(nullptr) < end) {
      for (int& fd : held) {
        pollfd p{fd, POLLIN, 0};
        if (fd < 0 || poll(&p, 1, 0) == 1) {  // dropped (or refused): dial again at once
          close(fd);
          fd = test::shm_connect(path);
        }
      }
      usleep(100);
    }
    return 0;
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
