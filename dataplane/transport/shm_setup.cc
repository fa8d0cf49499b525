// shm set-up and teardown: the memory each side creates and the peer's it maps, the rendezvous
// socket file, and the exchange of the two halves. The data path is in shm_endpoint_datapath.cc.
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <rte_cycles.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"
#include "dataplane/runtime/tsc.h"
#include "dataplane/transport/peer_memory_guard.h"
#include "dataplane/transport/shm_transport.h"

namespace pollmsgr {
namespace {

constexpr size_t kPage = 4096, kHugePage = 2u << 20;
constexpr uint32_t kVersion = 2;
constexpr unsigned kRequiredSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010  // Linux 5.1
#endif
// Our own halves also carry F_SEAL_FUTURE_WRITE, added once we have mapped them: a memfd's inode
// is mode 0777, so a peer can reopen the descriptor we hand it (/proc/self/fd/N) read-write;
// this seal makes every new writable mapping, write() and hole punch of it fail, ours included.
constexpr unsigned kOwnSeals = kRequiredSeals | F_SEAL_FUTURE_WRITE;
static_assert(sizeof(ShmControl) <= kPage);

// What each side sends the other, with its memfd (read-only) as SCM_RIGHTS.
struct ShmHello {
  uint64_t magic = ShmControl::kMagic;
  uint32_t version = kVersion;
  uint32_t ring_bytes = 0;
};

// A message and room for one fd, as one sendmsg/recvmsg argument. Points into itself: build it
// where it is used, never copy it.
struct HelloPacket {
  ShmHello hello{};
  iovec iov{&hello, sizeof(hello)};
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 4)] = {};
  msghdr mh{};
  HelloPacket() {
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof(cbuf);
  }
  HelloPacket(const HelloPacket&) = delete;
  HelloPacket& operator=(const HelloPacket&) = delete;
};

std::string errno_text() { return std::strerror(errno); }

size_t control_bytes(bool huge) { return huge ? kHugePage : kPage; }

// Sends our hello and a read-only descriptor of `memfd`: the peer can map our memory to read,
// but neither write it, nor resize or punch the file (both need a writable file description).
bool send_hello(int sock, int memfd, uint32_t ring_bytes) {
  UniqueFd readonly(open(fmt::format("/proc/self/fd/{}", memfd).c_str(), O_RDONLY | O_CLOEXEC));
  if (!readonly) return false;
  HelloPacket p;
  p.hello.ring_bytes = ring_bytes;
  cmsghdr* cm = CMSG_FIRSTHDR(&p.mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  const int fd = readonly.get();
  std::memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
  p.mh.msg_controllen = CMSG_SPACE(sizeof(int));
  return sendmsg(sock, &p.mh, MSG_DONTWAIT | MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof(ShmHello));
}

// Receives a hello and exactly one fd. 1: got it; 0: not yet; -1: `error` says why not.
int receive_hello(int sock, ShmHello& hello, UniqueFd& fd, std::string& error) {
  HelloPacket p;
  const ssize_t n = recvmsg(sock, &p.mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
  // Take every fd that came before judging anything, so that none leaks.
  std::vector<UniqueFd> fds;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&p.mh); n > 0 && cm; cm = CMSG_NXTHDR(&p.mh, cm))
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
      for (size_t k = 0; k < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++k) {
        int received;
        std::memcpy(&received, CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
        fds.emplace_back(received);
      }
  if (n <= 0) {
    error = n == 0 ? "the peer closed the connection during the set-up" : errno_text();
    return -1;
  }
  if (n != sizeof(ShmHello) || (p.mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || fds.size() != 1 ||
      p.hello.magic != ShmControl::kMagic || p.hello.version != kVersion) {
    error = "the peer's set-up message is not a pollmsgr shm hello";
    return -1;
  }
  hello = p.hello;
  fd = std::move(fds[0]);
  return 1;
}

// The peer's memory, before we map it: sealed against resizing (checked first: a size checked
// on an unsealed file may change before the mapping is touched), of the right size.
std::string check_peer_memfd(int fd, uint32_t ring_bytes, uint32_t max_ring, bool& huge) {
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (static_cast<unsigned>(seals) & kRequiredSeals) != kRequiredSeals)
    return "its memory is not a memfd sealed against resizing";
  struct statfs fs{};
  struct stat st{};
  if (fstatfs(fd, &fs) != 0 || fstat(fd, &st) != 0) return "its memory cannot be examined";
  huge = fs.f_type == HUGETLBFS_MAGIC;
  const size_t unit = huge ? kHugePage : kPage;
  if (ring_bytes < kPage || ring_bytes % unit != 0 || ring_bytes > max_ring)
    return fmt::format("its ring of {} bytes is not a multiple of {} between 4 KiB and {} KiB",
                       ring_bytes, unit, max_ring / 1024);
  if (static_cast<uint64_t>(st.st_size) != control_bytes(huge) + ring_bytes)
    return "its memory is not the size of its ring";
  return {};
}

// Our half: a memfd (hugetlb where possible: fewer TLB misses for the peer's reads), its
// hugepages taken now, so that a shortage shows at set-up and never as a fault later. Sealed by
// make_own_half once mapped.
UniqueFd create_half(uint32_t ring_bytes, bool try_huge, bool& huge) {
  huge = try_huge && ring_bytes % kHugePage == 0;
  UniqueFd fd;
  if (huge) {
    const off_t size = static_cast<off_t>(control_bytes(true) + ring_bytes);
    fd.reset(memfd_create("pollmsgr-shm", MFD_CLOEXEC | MFD_HUGETLB | MFD_ALLOW_SEALING));
    if (!fd || ftruncate(fd.get(), size) != 0 || fallocate(fd.get(), 0, 0, size) != 0)
      huge = false;
  }
  if (!huge) {
    fd.reset(memfd_create("pollmsgr-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd || ftruncate(fd.get(), static_cast<off_t>(kPage + ring_bytes)) != 0)
      throw StartupError("shm: cannot create a memfd: " + errno_text(), 1);
  }
  return fd;
}

}  // namespace

// A half mapped into this process: [control][ring][the same ring again] in one reservation, so
// that a frame that wraps the ring is still contiguous. Unmapped (all of it) on destruction,
// whatever stage the mapping reached.
class ShmMapping {
 public:
  ShmMapping(int fd, uint32_t ring_bytes, bool huge, bool writable) {
    const size_t control = control_bytes(huge), align = huge ? kHugePage : kPage;
    len_ = control + 2 * size_t{ring_bytes} + align;
    base_ = mmap(nullptr, len_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base_ == MAP_FAILED) {
      base_ = nullptr;
      throw StartupError("shm: cannot reserve address space: " + errno_text(), 1);
    }
    try {
      map(fd, ring_bytes, huge, writable);
    } catch (...) {  // the destructor does not run for a constructor that throws
      munmap(base_, len_);
      throw;
    }
  }
  ~ShmMapping() {
    PeerMemoryGuard::remove(guard_);
    if (base_) munmap(base_, len_);
  }
  ShmMapping(const ShmMapping&) = delete;
  ShmMapping& operator=(const ShmMapping&) = delete;

  ShmControl* control() const { return control_; }
  uint8_t* ring() const { return ring_; }
  bool huge() const { return huge_; }
  bool faulted() const { return PeerMemoryGuard::faulted(guard_); }

 private:
  // Maps the half into the reserved span; throws StartupError when it cannot (a peer's
  // descriptor opened write-only, no memory).
  void map(int fd, uint32_t ring_bytes, bool huge, bool writable) {
    const size_t control = control_bytes(huge), align = huge ? kHugePage : kPage;
    const auto start = (reinterpret_cast<uintptr_t>(base_) + align - 1) & ~(align - 1);
    const int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
    auto map_at = [&](uintptr_t at, size_t len, off_t offset) {
      if (mmap(reinterpret_cast<void*>(at), len, prot, MAP_SHARED | MAP_FIXED, fd, offset) == MAP_FAILED)
        throw StartupError("shm: cannot map a ring: " + errno_text(), 1);
    };
    map_at(start, control, 0);
    map_at(start + control, ring_bytes, static_cast<off_t>(control));
    map_at(start + control + ring_bytes, ring_bytes, static_cast<off_t>(control));
    control_ = reinterpret_cast<ShmControl*>(start);
    ring_ = reinterpret_cast<uint8_t*>(start + control);
    huge_ = huge;
    if (!writable) {  // the peer's: guarded
      guard_ = PeerMemoryGuard::add(base_, len_);
      if (guard_ < 0) throw StartupError("shm: too many peer mappings at once", 1);
    }
  }

  void* base_ = nullptr;
  size_t len_ = 0;
  ShmControl* control_ = nullptr;
  uint8_t* ring_ = nullptr;
  bool huge_ = false;
  int guard_ = -1;
};

namespace {
// Our half: the memfd (for the peer) and our writable mapping of it, its control page written.
struct OwnHalf {
  UniqueFd fd;
  std::unique_ptr<ShmMapping> map;
};
OwnHalf make_own_half(const ShmOptions& o) {
  bool huge = false;
  OwnHalf half{create_half(o.ring_bytes, o.hugetlb, huge), nullptr};
  half.map = std::make_unique<ShmMapping>(half.fd.get(), o.ring_bytes, huge, true);
  new (half.map->control()) ShmControl{ShmControl::kMagic, o.ring_bytes, huge};
  if (fcntl(half.fd.get(), F_ADD_SEALS, kOwnSeals) != 0)
    throw StartupError("shm: cannot seal a memfd: " + errno_text(), 1);
  return half;
}
}  // namespace

namespace {
// The peer's half, checked and mapped read-only under PeerMemoryGuard; null with `error` set
// when it is not acceptable (nothing of it is left mapped then).
std::unique_ptr<ShmMapping> map_peer_half(int fd, const ShmHello& hello, uint32_t max_ring,
                                          std::string& error) {
  bool huge = false;
  error = check_peer_memfd(fd, hello.ring_bytes, max_ring, huge);
  if (!error.empty()) return nullptr;
  std::unique_ptr<ShmMapping> peer;
  try {
    peer = std::make_unique<ShmMapping>(fd, hello.ring_bytes, huge, false);
  } catch (const StartupError& e) {
    error = e.what();
    return nullptr;
  }
  // Read once: the peer may change its page as we look.
  const uint64_t magic = peer->control()->magic;
  const uint32_t ring = peer->control()->ring_bytes;
  if (magic != ShmControl::kMagic || ring != hello.ring_bytes) {
    error = "its control page does not match its hello";
    return nullptr;
  }
  return peer;
}
}  // namespace

std::string default_shm_dir() { return fmt::format("/tmp/pollmsgr-shm-{}", geteuid()); }

std::string shm_socket_path(const ShmOptions& o, const HostPort& address) {
  return fmt::format("{}/{}", o.dir.empty() ? default_shm_dir() : o.dir, address.to_string());
}

namespace {

std::vector<uid_t> allowed(const std::vector<uid_t>& uids) {
  return uids.empty() ? std::vector<uid_t>{geteuid()} : uids;
}

// The uid of the process at the other end of `sock`, if `allowed` has it ("" when fine).
std::string check_peer_uid(int sock, const std::vector<uid_t>& allowed_uids, const char* who) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return "no peer credentials";
  if (std::find(allowed_uids.begin(), allowed_uids.end(), cred.uid) != allowed_uids.end()) return {};
  return fmt::format("{} runs as uid {}, which is not allowed (--shm-allow-uid)", who, cred.uid);
}

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof(sa.sun_path))
    throw StartupError(fmt::format("shm: the socket path {} is too long (choose a shorter --shm-dir)", path));
  std::memcpy(sa.sun_path, path.data(), path.size());
  return sa;
}

}  // namespace

// --- the endpoint's set-up ---

ShmEndpoint::ShmEndpoint(UniqueFd socket, std::string where, std::unique_ptr<ShmMapping> own,
                         const ShmOptions& o)
    : own_(std::move(own)), socket_(std::move(socket)), where_(std::move(where)),
      own_control_(own_->control()), tx_ring_(own_->ring()), tx_ring_bytes_(o.ring_bytes),
      tx_credit_limit_(o.ring_bytes),  // the peer has consumed nothing yet
      setup_deadline_(rte_rdtsc() + ms_to_tsc(o.setup_timeout_ms)),
      max_peer_ring_bytes_(o.max_peer_ring_bytes), serve_floor_(o.serve_floor_probe) {}

ShmEndpoint::~ShmEndpoint() = default;

void ShmEndpoint::attach_peer(std::unique_ptr<ShmMapping> peer, uint32_t ring_bytes) {
  peer_ = std::move(peer);
  peer_control_ = peer_->control();
  rx_ring_ = peer_->ring();
  rx_ring_bytes_ = ring_bytes;
}

void ShmEndpoint::fail(EndpointStatus status, std::string why) {
  if (status_ != EndpointStatus::kOk) return;
  status_ = status;
  failure_ = std::move(why);
}

bool ShmEndpoint::hugetlb() const { return own_->huge(); }
bool ShmEndpoint::peer_memory_faulted() const { return peer_ && peer_->faulted(); }

bool ShmEndpoint::finish_setup() {
  if (status_ != EndpointStatus::kOk) return false;
  ShmHello hello;
  UniqueFd fd;
  std::string error;
  const int got = receive_hello(socket_.get(), hello, fd, error);
  if (got == 0) {
    if (rte_rdtsc() > setup_deadline_)
      fail(EndpointStatus::kError, fmt::format("{} did not answer the set-up in time (too many "
                                               "pending clients, or not a pollmsgr server)", where_));
    return false;
  }
  std::unique_ptr<ShmMapping> peer;
  if (got > 0) peer = map_peer_half(fd.get(), hello, max_peer_ring_bytes_, error);
  if (!peer) {
    fail(EndpointStatus::kError, fmt::format("{} refused or failed the set-up: {}", where_, error));
    return false;
  }
  attach_peer(std::move(peer), hello.ring_bytes);
  return true;
}

// --- the rendezvous socket file ---

class ShmListener {
 public:
  ShmListener(const ShmOptions& o, const HostPort& bind) : options_(o), path_(shm_socket_path(o, bind)) {
    const std::string dir = path_.substr(0, path_.rfind('/'));
    // Private to us: made 0700; an existing one must be ours (else another user could swap the
    // socket file under us, or take its name first).
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      throw StartupError(fmt::format("shm: cannot create {}: {}", dir, errno_text()));
    struct stat st{};
    if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
      throw StartupError(fmt::format("shm: {} is not a directory of ours (uid {}): choose another "
                                     "--shm-dir", dir, geteuid()));
    listen_.reset(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_un sa = unix_address(path_);
    if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      if (errno != EADDRINUSE)
        throw StartupError(fmt::format("cannot listen for shm clients at {}: {}", path_, errno_text()));
      // Left by a server that was killed, or in use? Whoever answers there owns it.
      UniqueFd probe(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
      if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0)
        throw StartupError(fmt::format("cannot listen for shm clients at {}: another server is "
                                       "using it ({})", bind.to_string(), path_));
      unlink(path_.c_str());
      if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
        throw StartupError(fmt::format("cannot listen for shm clients at {}: {}", path_, errno_text()));
    }
    if (::listen(listen_.get(), SOMAXCONN) != 0) throw StartupError("shm: listen failed: " + errno_text());
    ready_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!ready_ || !watch(listen_.get()))
      throw StartupError("shm: cannot set up the listener's epoll set: " + errno_text());
  }
  ~ShmListener() { unlink(path_.c_str()); }
  // Readable when a client is waiting to be taken or one being set up has sent its half: an
  // epoll set of the listener and the set-ups in progress, so that an event-driven reactor
  // wakes for the second half of a set-up too.
  int fd() const { return ready_.get(); }

  // Never blocks: takes new clients, and finishes the set-up of those whose hello is in. A
  // client turned away comes back as nullptr with `refused` saying why.
  // A client sends its hello the moment it connects, so an honest one is usually served as it
  // is taken, and otherwise at the next call, before any new client can take its slot: the
  // set-ups already waiting are looked at first, and a burst takes fewer new clients than there
  // are slots. Only set-ups silent since then are dropped for newcomers, the oldest first.
  std::unique_ptr<ShmEndpoint> accept(std::string& refused) {
    const uint64_t now = rte_rdtsc();
    for (size_t i = 0; i < pending_.size(); ++i) {
      ShmHello hello;
      UniqueFd memfd;
      std::string error;
      const int got = receive_hello(pending_[i].sock.get(), hello, memfd, error);
      if (got == 0 && now < pending_[i].deadline) continue;
      Pending taken = std::move(pending_[i]);
      epoll_ctl(ready_.get(), EPOLL_CTL_DEL, taken.sock.get(), nullptr);
      pending_[i] = std::move(pending_.back());
      pending_.pop_back();
      if (got == 0) error = fmt::format("no set-up message within {} ms", options_.setup_timeout_ms);
      return settle(std::move(taken.sock), got, hello, memfd, error, refused);
    }
    for (size_t taken = 0; taken < std::min<size_t>(kAcceptBurst, options_.max_pending_setups / 2 + 1);
         ++taken) {
      UniqueFd fd(accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!fd) break;
      if (auto e = check_peer_uid(fd.get(), allowed(options_.allowed_uids), "the client"); !e.empty()) {
        refused = "refused an shm client: " + e;
        return nullptr;
      }
      ShmHello hello;
      UniqueFd memfd;
      std::string error;
      if (const int got = receive_hello(fd.get(), hello, memfd, error); got != 0)
        return settle(std::move(fd), got, hello, memfd, error, refused);
      // Slots full: the oldest silent set-up goes, so that silent ones can delay a new client by
      // no more than it takes to cycle them out, never lock it out.
      if (pending_.size() >= options_.max_pending_setups) drop_oldest_pending();
      if (!watch(fd.get())) continue;
      pending_.push_back({std::move(fd), rte_rdtsc() + ms_to_tsc(options_.setup_timeout_ms)});
    }
    return nullptr;
  }

 private:
  struct Pending {
    UniqueFd sock;
    uint64_t deadline;
  };

  // A set-up whose hello came (got > 0) is served; one that failed (got < 0, or timed out with
  // `error` set) is refused.
  std::unique_ptr<ShmEndpoint> settle(UniqueFd sock, int got, const ShmHello& hello,
                                      const UniqueFd& memfd, std::string& error,
                                      std::string& refused) {
    if (got > 0)
      if (auto ep = serve(std::move(sock), hello, memfd.get(), error)) return ep;
    refused = "refused an shm client: " + error;
    return nullptr;
  }

  std::unique_ptr<ShmEndpoint> serve(UniqueFd sock, const ShmHello& hello, int memfd,
                                     std::string& error) {
    try {
      auto peer = map_peer_half(memfd, hello, options_.max_peer_ring_bytes, error);
      if (!peer) return nullptr;
      OwnHalf own = make_own_half(options_);
      if (!send_hello(sock.get(), own.fd.get(), options_.ring_bytes)) {
        error = "cannot answer its set-up: " + errno_text();
        return nullptr;
      }
      auto ep = std::unique_ptr<ShmEndpoint>(
          new ShmEndpoint(std::move(sock), "the shm client", std::move(own.map), options_));
      ep->attach_peer(std::move(peer), hello.ring_bytes);
      return ep;
    } catch (const StartupError& e) {
      error = e.what();  // out of memory or mappings: this client goes, the others carry on
      return nullptr;
    }
  }

  static constexpr int kAcceptBurst = 64;

  void drop_oldest_pending() {
    auto oldest = std::min_element(pending_.begin(), pending_.end(), [](const Pending& a, const Pending& b) {
      return a.deadline < b.deadline;
    });
    std::swap(*oldest, pending_.back());
    pending_.pop_back();  // its socket closes: the client sees its set-up refused
  }

  bool watch(int fd) {
    epoll_event ev{EPOLLIN, {.fd = fd}};
    return epoll_ctl(ready_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
  }

  ShmOptions options_;
  std::string path_;
  UniqueFd listen_, ready_;
  std::vector<Pending> pending_;
};

// --- the transport ---

ShmTransport::ShmTransport(ShmOptions options) : options_(std::move(options)) {
  if (options_.ring_bytes < kPage || options_.ring_bytes % kPage != 0 ||
      options_.ring_bytes > (1u << 30))
    throw StartupError(fmt::format("shm ring size {} must be a multiple of 4096, at most 1 GiB",
                                   options_.ring_bytes));
}
ShmTransport::~ShmTransport() = default;

void ShmTransport::listen(const HostPort& bind) { listener_ = std::make_unique<ShmListener>(options_, bind); }
int ShmTransport::listen_fd() const { return listener_ ? listener_->fd() : -1; }

Transport::Accepted ShmTransport::accept(const Placement& place) {
  std::string refused;
  auto ep = listener_->accept(refused);
  if (!ep) return {nullptr, 0, std::move(refused)};
  return {std::move(ep), place(0)};
}

std::unique_ptr<Endpoint> ShmTransport::connect(const HostPort& server, size_t, uint64_t, bool wait) {
  const std::string where = fmt::format("the shm server at {}", server.to_string());
  const std::string path = shm_socket_path(options_, server);
  // Our half first: the hello follows the connect at once, and the server serves a set-up
  // whose hello is in before any newcomer can take its slot.
  OwnHalf own = make_own_half(options_);
  UniqueFd sock(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_un sa = unix_address(path);
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    throw StartupError(fmt::format("cannot connect to {}: {} at {} (is perf_msgr_server running "
                                   "there with --transport shm, and the same --shm-dir?)",
                                   where, errno_text(), path), 1);
  if (auto e = check_peer_uid(sock.get(), allowed(options_.allowed_uids), "the server"); !e.empty())
    throw StartupError(fmt::format("{} ({}): {}", where, path, e), 1);
  if (!send_hello(sock.get(), own.fd.get(), options_.ring_bytes))
    throw StartupError(fmt::format("cannot set up with {}: {}", where, errno_text()), 1);
  auto ep = std::unique_ptr<ShmEndpoint>(
      new ShmEndpoint(std::move(sock), where, std::move(own.map), options_));
  if (wait) {  // start-up: the answer, or a clear error, now
    while (!ep->finish_setup()) {
      if (ep->status_ != EndpointStatus::kOk) throw StartupError(ep->failure_, 1);
      pollfd p{ep->socket_.get(), POLLIN, 0};
      poll(&p, 1, 100);
    }
  }
  return ep;
}

}  // namespace pollmsgr
