#include "dataplane/transport/shm_transport.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <poll.h>
#include <rte_cycles.h>
#include <rte_pause.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"

namespace pollmsgr {
namespace {

constexpr size_t kHugePage = 2u << 20;
constexpr size_t kControlBytes = 4096;
constexpr size_t kSetupFds = 4;  // control memfd, data memfd, doorbell c2s, doorbell s2c
constexpr int kSetupTimeoutMs = 5000;
constexpr size_t kMaxPendingAccepts = 64;
constexpr size_t kRxPrefetchBytes = 4096;
constexpr size_t kTxPrefetchBytes = 1024;
static_assert(sizeof(ShmControl) <= kControlBytes);

struct SetupMessage {
  uint64_t magic;
  uint32_t ring_bytes;
  uint32_t hugetlb;
};

// The set-up message and room for its fds, as one sendmsg/recvmsg argument. Points into itself:
// build it where it is used, never copy it.
struct SetupPacket {
  SetupMessage msg{};
  iovec iov{&msg, sizeof(msg)};
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kSetupFds)] = {};
  msghdr mh{};
  SetupPacket() {
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof(cbuf);
  }
  SetupPacket(const SetupPacket&) = delete;
  SetupPacket& operator=(const SetupPacket&) = delete;
};

sockaddr_un abstract_address(const std::string& name, socklen_t& len) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  // Abstract namespace: a leading NUL, nothing on disk.
  std::memcpy(sa.sun_path + 1, name.data(), std::min(name.size(), sizeof(sa.sun_path) - 2));
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return sa;
}

std::string errno_text() { return std::strerror(errno); }

// A sealed size means a peer cannot shrink the memfd under our mapping (SIGBUS).
bool seal_size(int fd) {
  return fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0;
}
bool size_is_sealed(int fd) {
  const int seals = fcntl(fd, F_GET_SEALS);
  return seals >= 0 && (seals & F_SEAL_SHRINK) && (seals & F_SEAL_GROW);
}

// Maps `bytes` of `fd` at `offset` twice, back to back: [ring][the same ring again].
uint8_t* map_mirrored(int fd, size_t offset, size_t bytes, size_t align, void** reservation,
                      size_t* reservation_len) {
  *reservation_len = 2 * bytes + align;
  void* base = mmap(nullptr, *reservation_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                    -1, 0);
  if (base == MAP_FAILED) return nullptr;
  *reservation = base;
  auto start = (reinterpret_cast<uintptr_t>(base) + align - 1) & ~(align - 1);
  for (int copy = 0; copy < 2; ++copy) {
    void* at = reinterpret_cast<void*>(start + copy * bytes);
    if (mmap(at, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
             static_cast<off_t>(offset)) == MAP_FAILED)
      return nullptr;
  }
  return reinterpret_cast<uint8_t*>(start);
}

}  // namespace

// The shared memory of one connection, mapped into this process.
class ShmMapping {
 public:
  ShmMapping(int control_fd, int data_fd, uint32_t ring_bytes, bool hugetlb) {
    void* c = mmap(nullptr, kControlBytes, PROT_READ | PROT_WRITE, MAP_SHARED, control_fd, 0);
    if (c == MAP_FAILED) throw StartupError("shm: cannot map the control page: " + errno_text(), 1);
    control = static_cast<ShmControl*>(c);
    const size_t align = hugetlb ? kHugePage : 4096;
    for (int i = 0; i < 2; ++i) {
      ring[i] = map_mirrored(data_fd, i * size_t{ring_bytes}, ring_bytes, align, &reservation[i],
                             &reservation_len[i]);
      if (!ring[i]) throw StartupError("shm: cannot map a ring: " + errno_text(), 1);
    }
  }
  ~ShmMapping() {
    if (control) munmap(control, kControlBytes);
    for (int i = 0; i < 2; ++i)
      if (reservation[i]) munmap(reservation[i], reservation_len[i]);
  }
  ShmMapping(const ShmMapping&) = delete;
  ShmMapping& operator=(const ShmMapping&) = delete;

  ShmControl* control = nullptr;
  uint8_t* ring[2] = {nullptr, nullptr};

 private:
  void* reservation[2] = {nullptr, nullptr};
  size_t reservation_len[2] = {0, 0};
};

ShmEndpoint::~ShmEndpoint() = default;

ShmControl& ShmEndpoint::control() { return *map_->control; }
bool ShmEndpoint::hugetlb() const { return map_->control->hugetlb != 0; }

std::span<const uint8_t> ShmEndpoint::rx_burst() {
  const uint64_t produced = rx_counters_->produced.load(std::memory_order_acquire);
  const uint64_t n = produced - rx_consumed_;
  if (n == 0) return {};
  if (n > ring_bytes_) {  // impossible unless the peer is broken: never read past the ring
    corrupt_ = true;
    return {};
  }
  const uint8_t* data = rx_ring_ + rx_consumed_ % ring_bytes_;
  // Ask for every line of the burst at once: the lines are in the sender's cache, and fetching
  // them one after another as the parser reaches them costs a cross-core trip each.
  const size_t prefetch = std::min<size_t>(n, kRxPrefetchBytes);
  for (size_t off = 0; off < prefetch; off += 64) __builtin_prefetch(data + off);
  return {data, static_cast<size_t>(n)};
}

void ShmEndpoint::rx_release(size_t n) {
  if (n == 0) return;
  rx_consumed_ += n;
  rx_counters_->consumed.store(rx_consumed_, std::memory_order_release);
}

std::span<uint8_t> ShmEndpoint::tx_window(size_t want) {
  // Credits are re-read from the shared line only when they run low: fewer cache-line moves.
  if (tx_credit_limit_ - tx_produced_ < std::max<uint64_t>(want, ring_bytes_ / 4)) {
    const uint64_t consumed = tx_counters_->consumed.load(std::memory_order_acquire);
    if (consumed <= tx_published_) tx_credit_limit_ = consumed + ring_bytes_;
  }
  const uint64_t room = std::min(tx_credit_limit_ - tx_produced_, ring_bytes_);
  return {tx_ring_ + tx_produced_ % ring_bytes_, static_cast<size_t>(room)};
}

EndpointStatus ShmEndpoint::tx_flush() {
  if (tx_produced_ != tx_published_) {
    tx_counters_->produced.store(tx_produced_, std::memory_order_release);  // the doorbell
    tx_published_ = tx_produced_;
    // Take ownership of the lines the next frames will be written into now, while nothing
    // waits on them, instead of one at a time from inside the encoder.
    uint8_t* next = tx_ring_ + tx_produced_ % ring_bytes_;
    for (size_t off = 0; off < kTxPrefetchBytes; off += 64) __builtin_prefetch(next + off, 1);
    // Only a receiver that may sleep costs the sender a fence: produced, then the flag, in
    // that order, so one of the two sides always sees the other (no lost wake-up).
    if (tx_counters_->receiver_may_sleep.load(std::memory_order_relaxed)) {
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (tx_counters_->receiver_sleeping.load(std::memory_order_relaxed)) {
        uint64_t one = 1;
        [[maybe_unused]] ssize_t r = write(tx_doorbell_.get(), &one, sizeof(one));
      }
    }
  }
  return corrupt_ ? EndpointStatus::kError : EndpointStatus::kOk;
}

void ShmEndpoint::allow_sleep() {
  rx_counters_->receiver_may_sleep.store(1, std::memory_order_seq_cst);
}

bool ShmEndpoint::arm_wait() {
  rx_counters_->receiver_sleeping.store(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (rx_counters_->produced.load(std::memory_order_relaxed) != rx_consumed_) {
    rx_counters_->receiver_sleeping.store(0, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void ShmEndpoint::disarm_wait() {
  rx_counters_->receiver_sleeping.store(0, std::memory_order_relaxed);
  uint64_t count;
  [[maybe_unused]] ssize_t r = read(rx_doorbell_.get(), &count, sizeof(count));  // drain
}

EndpointStatus ShmEndpoint::check_peer() {
  if (corrupt_) return EndpointStatus::kError;
  char c;
  ssize_t n = recv(setup_socket_.get(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
    return EndpointStatus::kPeerClosed;
  return EndpointStatus::kOk;
}

void ShmEndpoint::serve_floor_probe() {
  ShmControl& c = control();
  const uint64_t rounds = c.floor_rounds.load(std::memory_order_acquire);
  if (rounds == 0) return;
  uint64_t last = c.floor_pong.load(std::memory_order_relaxed);
  const uint64_t end = last + rounds;
  const uint64_t give_up = rte_get_tsc_hz();  // a second without a ping: the client went away
  uint64_t since = rte_rdtsc();
  while (last < end) {
    const uint64_t ping = c.floor_ping.load(std::memory_order_acquire);
    if (ping != last) {
      c.floor_pong.store(ping, std::memory_order_release);
      last = ping;
      since = rte_rdtsc();
    } else if (rte_rdtsc() - since > give_up) {
      break;
    } else {
      rte_pause();
    }
  }
  c.floor_rounds.store(0, std::memory_order_release);
}

void ShmEndpoint::measure_floor(uint64_t* rtt_cycles, uint64_t rounds) {
  ShmControl& c = control();
  uint64_t seq = c.floor_pong.load(std::memory_order_acquire);
  c.floor_ping.store(seq, std::memory_order_release);
  c.floor_rounds.store(rounds, std::memory_order_release);
  for (uint64_t i = 0; i < rounds; ++i) {
    const uint64_t t0 = rte_rdtsc();
    c.floor_ping.store(++seq, std::memory_order_release);
    while (c.floor_pong.load(std::memory_order_acquire) != seq) rte_pause();
    rtt_cycles[i] = rte_rdtsc() - t0;
  }
}

std::unique_ptr<ShmEndpoint> ShmEndpoint::connect(const HostPort& server, const ShmOptions& o) {
  const std::string where = fmt::format("shm server at {}", server.to_string());
  if (o.ring_bytes < 4096 || o.ring_bytes % 4096 != 0 || o.ring_bytes > (1u << 30))
    throw StartupError(fmt::format("shm ring size {} must be a multiple of 4096, at most 1 GiB",
                                   o.ring_bytes));
  UniqueFd sock(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  socklen_t len;
  sockaddr_un sa = abstract_address(server.shm_socket_name(), len);
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0)
    throw StartupError(fmt::format("cannot connect to the {}: {} (is perf_msgr_server running "
                                   "there with --transport shm?)", where, errno_text()), 1);

  UniqueFd control(memfd_create("pollmsgr-shm-control", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!control || ftruncate(control.get(), kControlBytes) != 0 || !seal_size(control.get()))
    throw StartupError("shm: cannot create the control memfd: " + errno_text(), 1);
  const size_t data_bytes = 2 * size_t{o.ring_bytes};
  bool huge = o.hugetlb && o.ring_bytes % kHugePage == 0;
  UniqueFd data;
  if (huge) {
    data.reset(memfd_create("pollmsgr-shm-rings", MFD_CLOEXEC | MFD_HUGETLB | MFD_ALLOW_SEALING));
    // Hugetlb memory is taken at fault time: reserve it now, so a shortage shows here.
    if (!data || ftruncate(data.get(), static_cast<off_t>(data_bytes)) != 0 ||
        fallocate(data.get(), 0, 0, static_cast<off_t>(data_bytes)) != 0 || !seal_size(data.get()))
      huge = false;
  }
  if (!huge) {
    data.reset(memfd_create("pollmsgr-shm-rings", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!data || ftruncate(data.get(), static_cast<off_t>(data_bytes)) != 0 ||
        !seal_size(data.get()))
      throw StartupError("shm: cannot create the ring memfd: " + errno_text(), 1);
  }
  UniqueFd c2s(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), s2c(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));

  auto ep = std::unique_ptr<ShmEndpoint>(new ShmEndpoint);
  ep->map_ = std::make_unique<ShmMapping>(control.get(), data.get(), o.ring_bytes, huge);
  ShmControl* ctl = new (ep->map_->control) ShmControl{};
  ctl->magic = ShmControl::kMagic;
  ctl->ring_bytes = o.ring_bytes;
  ctl->hugetlb = huge;

  SetupPacket packet;
  packet.msg = {ShmControl::kMagic, o.ring_bytes, huge};
  cmsghdr* cm = CMSG_FIRSTHDR(&packet.mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int) * kSetupFds);
  const int fds[kSetupFds] = {control.get(), data.get(), c2s.get(), s2c.get()};
  std::memcpy(CMSG_DATA(cm), fds, sizeof(fds));
  if (sendmsg(sock.get(), &packet.mh, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(packet.msg)))
    throw StartupError(fmt::format("cannot set up with the {}: {}", where, errno_text()), 1);
  pollfd p{sock.get(), POLLIN, 0};
  char ack = 0;
  if (poll(&p, 1, kSetupTimeoutMs) != 1 || recv(sock.get(), &ack, 1, 0) != 1 || ack != 'k')
    throw StartupError(fmt::format("the {} did not accept the connection within {} s (too many "
                                   "pending clients, or not a pollmsgr server)",
                                   where, kSetupTimeoutMs / 1000), 1);

  ep->setup_socket_ = std::move(sock);
  ep->ring_bytes_ = o.ring_bytes;
  ep->tx_counters_ = &ctl->ring[0];
  ep->rx_counters_ = &ctl->ring[1];
  ep->tx_ring_ = ep->map_->ring[0];
  ep->rx_ring_ = ep->map_->ring[1];
  ep->tx_credit_limit_ = o.ring_bytes;
  ep->tx_doorbell_ = std::move(c2s);
  ep->rx_doorbell_ = std::move(s2c);
  return ep;
}

struct ShmListener::Pending {
  UniqueFd sock;
  uint64_t deadline_tsc = 0;
};

ShmListener::ShmListener(const HostPort& bind)
    : pending_(std::make_unique<Pending[]>(kMaxPendingAccepts)) {
  listen_.reset(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  socklen_t len;
  sockaddr_un sa = abstract_address(bind.shm_socket_name(), len);
  if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0)
    throw StartupError(fmt::format("cannot listen for shm clients at {}: {}{}", bind.to_string(),
                                   errno_text(),
                                   errno == EADDRINUSE ? " (another server is using it)" : ""));
  if (listen(listen_.get(), 128) != 0)
    throw StartupError("shm: listen failed: " + errno_text());
}

ShmListener::~ShmListener() = default;

std::unique_ptr<ShmEndpoint> ShmListener::accept() {
  if (pending_count_ < kMaxPendingAccepts) {
    int fd = accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) pending_[pending_count_++] = {UniqueFd(fd), rte_rdtsc() + 5 * rte_get_tsc_hz()};
  }
  const uint64_t now = rte_rdtsc();
  for (size_t i = 0; i < pending_count_; ++i) {
    Pending& p = pending_[i];
    SetupPacket packet;
    const SetupMessage& msg = packet.msg;
    msghdr& mh = packet.mh;
    ssize_t n = recvmsg(p.sock.get(), &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && now < p.deadline_tsc) continue;
    Pending taken = std::move(p);
    p = std::move(pending_[--pending_count_]);  // the slot now holds the last one: look again
    --i;
    // Take ownership of whatever fds arrived before judging the message.
    UniqueFd fds[kSetupFds];
    size_t nfds = 0;
    for (cmsghdr* cm = CMSG_FIRSTHDR(&mh); n > 0 && cm; cm = CMSG_NXTHDR(&mh, cm))
      if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
        for (size_t k = 0; k < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++k) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
          if (nfds < kSetupFds) fds[nfds++].reset(fd); else close(fd);
        }
    if (n != sizeof(msg) || nfds != kSetupFds || msg.magic != ShmControl::kMagic ||
        msg.ring_bytes < 4096 || msg.ring_bytes % 4096 != 0 || msg.ring_bytes > (1u << 30))
      continue;  // not a pollmsgr client, or it gave up: drop it
    struct stat data_st{}, control_st{};
    if (fstat(fds[1].get(), &data_st) != 0 ||
        data_st.st_size < 2 * static_cast<off_t>(msg.ring_bytes) ||
        fstat(fds[0].get(), &control_st) != 0 ||
        control_st.st_size < static_cast<off_t>(kControlBytes) || !size_is_sealed(fds[0].get()) ||
        !size_is_sealed(fds[1].get()))
      continue;
    auto ep = std::unique_ptr<ShmEndpoint>(new ShmEndpoint);
    try {
      ep->map_ = std::make_unique<ShmMapping>(fds[0].get(), fds[1].get(), msg.ring_bytes,
                                              msg.hugetlb != 0);
    } catch (const StartupError&) {
      continue;
    }
    if (ep->map_->control->magic != ShmControl::kMagic ||
        ep->map_->control->ring_bytes != msg.ring_bytes)
      continue;
    char ack = 'k';
    if (send(taken.sock.get(), &ack, 1, MSG_NOSIGNAL) != 1) continue;
    ShmControl* ctl = ep->map_->control;
    ep->setup_socket_ = std::move(taken.sock);
    ep->ring_bytes_ = msg.ring_bytes;
    ep->rx_counters_ = &ctl->ring[0];
    ep->tx_counters_ = &ctl->ring[1];
    ep->rx_ring_ = ep->map_->ring[0];
    ep->tx_ring_ = ep->map_->ring[1];
    ep->tx_credit_limit_ = msg.ring_bytes;
    ep->rx_doorbell_ = std::move(fds[2]);
    ep->tx_doorbell_ = std::move(fds[3]);
    return ep;
  }
  return nullptr;
}

}  // namespace pollmsgr
