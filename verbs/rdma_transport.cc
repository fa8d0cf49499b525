// rdma set-up and teardown: the device, the registered pool, the SRQs, the side channel, queue
// pairs. The data path is in rdma_endpoint_datapath.cc.
#include <poll.h>
#include <rte_cycles.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <random>

#include "dataplane/runtime/startup_error.h"
#include "verbs/rdma_endpoint.h"

namespace pollmsgr::verbs {
namespace {

constexpr int kSetupTimeoutMs = 5000;
constexpr size_t kMaxPendingAccepts = 64;
// Retries of a SEND that finds the peer's receive queue empty: forever. On our wire an honest
// peer meets that only while another peer, past its credits, has drained the shared queue (it
// is faulted at arrival, and its buffers come back); Ceph's wire has no credits at all.
constexpr uint8_t kRnrRetry = 7;

// Blocking (start-up) send/receive of exactly n bytes on a non-blocking socket.
bool send_all(int fd, const void* data, size_t n) {
  return send(fd, data, n, MSG_NOSIGNAL) == static_cast<ssize_t>(n);
}
bool recv_all(int fd, void* data, size_t n, int timeout_ms) {
  auto* p = static_cast<uint8_t*>(data);
  size_t have = 0;
  while (have < n) {
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) != 1) return false;
    ssize_t r = recv(fd, p + have, n - have, 0);
    if (r <= 0) return false;
    have += static_cast<size_t>(r);
  }
  return true;
}

uint32_t random_psn() { return std::random_device{}() & 0xffffff; }

RdmaHello hello(const RdmaOptions& o, uint32_t large_bytes, const QpAddress& qp,
                uint64_t resume_cookie = 0) {
  return {RdmaHello::kMagic, o.credits, o.chunk_bytes, large_bytes, 0, resume_cookie, qp};
}

}  // namespace

// --- RdmaTransport ---

RdmaTransport::RdmaTransport(const RdmaOptions& o, size_t reactors, bool event_mode)
    : options_(o) {
  if (o.credits < kMinCredits)
    throw StartupError(fmt::format("--rdma-credits must be at least {}: one is kept for credit "
                                   "updates, and with 2 each update would call for one back",
                                   kMinCredits));
  if (o.chunk_bytes < 1024 || o.chunk_bytes > (16u << 20))
    throw StartupError("--rdma-chunk-kb must be between 1 and 16384");
  // A Ceph peer sends up to its buffer size whatever we say: our buffers must take that.
  if (o.wire == RdmaWire::kCeph && o.ceph_peer_buffer_bytes > o.chunk_bytes)
    throw StartupError(fmt::format("--rdma-peer-buffer-kb {} exceeds our receive buffers "
                                   "(--rdma-chunk-kb {}): a Ceph peer's SENDs would not fit",
                                   o.ceph_peer_buffer_bytes / 1024, o.chunk_bytes / 1024));
  device_ = std::make_unique<Device>(o.device, o.port, o.gid_index);
  const ibv_device_attr& a = device_->attr();
  if (o.credits > 16384) throw StartupError("--rdma-credits must be at most 16384");
  const uint32_t send_depth = RdmaEndpoint::send_queue_depth(o.credits);
  auto check = [&](const char* what, uint64_t want, uint64_t limit, const char* field,
                   const char* flag) {
    if (want > limit)
      throw StartupError(fmt::format("{} {} exceeds what {} allows ({} = {}): lower {}", what, want,
                                     device_->name(), field, limit, flag));
  };
  check("a send queue of", send_depth, static_cast<uint64_t>(a.max_qp_wr), "max_qp_wr", "--rdma-credits");
  check("a shared receive queue of", o.srq_depth, static_cast<uint64_t>(a.max_srq_wr), "max_srq_wr", "--rdma-srq-depth");
  check("a receive completion queue of", o.srq_depth + 32ull, static_cast<uint64_t>(a.max_cqe), "max_cqe", "--rdma-srq-depth");
  const uint64_t send_cq = o.send_cq_entries ? o.send_cq_entries : static_cast<uint64_t>(a.max_cqe);
  check("a send completion queue of", send_cq, static_cast<uint64_t>(a.max_cqe), "max_cqe", "send_cq_entries");
  // Room for the reserve, one queue pair's beacon and its largest burst.
  if (send_cq < LcoreQueues::kSendReserve + send_depth + 1ull)
    throw StartupError(fmt::format("a send completion queue of {} entries holds less than one "
                                   "connection's sends ({} with the reserve): raise send_cq_entries",
                                   send_cq, LcoreQueues::kSendReserve + send_depth + 1));
  check("work requests with", 1, static_cast<uint64_t>(a.max_sge), "max_sge", "nothing: the device cannot gather");
  check("receive buffers of", o.chunk_bytes, a.max_mr_size, "max_mr_size", "--rdma-chunk-kb");

  static std::atomic<unsigned> instances{0};  // pool names are unique in the process
  const unsigned instance = instances++;
  pool_ = std::make_unique<BufferPool>(fmt::format("rdma_chunks{}", instance), o.chunk_bytes,
                                       o.buffers);
  // Large frames are lent through memory windows; a device without them sends them as SENDs.
  if (o.large_buffers > 0 && o.large_bytes > o.chunk_bytes && device_->binds_memory_windows())
    large_pool_ = std::make_unique<BufferPool>(fmt::format("rdma_large{}", instance),
                                               o.large_bytes, o.large_buffers);
  // The chunks' memory is registered once, for local access. Each large buffer is a registration
  // of its own, which only a memory window bound to it (while it is lent) lets a peer READ: so
  // even a device that checks a window's range only against its registration (soft-RoCE does)
  // keeps a peer inside the one buffer lent to it.
  pool_->for_each_memory_chunk([&](void* addr, size_t len) {
    memory_regions_.push_back(device_->register_memory(addr, len, false));
  });
  pool_->set_keys([&](const void* addr) {
    const ibv_mr* mr = region_of(addr);
    return mr ? BufferPool::Keys{mr->lkey, mr->rkey} : BufferPool::Keys{0, 0};
  });
  if (large_pool_)
    large_pool_->set_keys([&](const void* addr) {
      memory_regions_.push_back(device_->register_memory(const_cast<void*>(addr),
                                                         large_pool_->buffer_size(), true));
      return BufferPool::Keys{memory_regions_.back()->lkey, memory_regions_.back()->rkey};
    });
  for (size_t i = 0; i < reactors; ++i)
    lcores_.push_back(std::make_unique<LcoreQueues>(*device_, *pool_, o.srq_depth, o.credits,
                                                    send_depth, send_cq, event_mode));
}

RdmaTransport::~RdmaTransport() = default;

std::unique_ptr<RdmaEndpoint> RdmaTransport::make_endpoint(size_t index, UniqueFd side,
                                                           RdmaWire wire) {
  LcoreQueues& queues = *lcores_.at(index);
  if (!queues.add_connection())
    throw StartupError(fmt::format(
        "lcore {}'s receive queue cannot take another connection: {} posted of {}, {} buffers "
        "free (raise --rdma-srq-depth or --rdma-buffers, or lower --rdma-credits)",
        index, queues.posted(), options_.srq_depth, pool_->available()), 1);
  return std::make_unique<RdmaEndpoint>(*this, queues, std::move(side), wire);
}

std::unique_ptr<Endpoint> RdmaTransport::connect(const HostPort& server, size_t index,
                                                 uint64_t resume_cookie, bool) {
  if (options_.wire == RdmaWire::kCeph) return connect_ceph(server, index);
  UniqueFd side = tcp_connect(server, "perf_msgr_server with --transport rdma");
  auto ep = make_endpoint(index, std::move(side), RdmaWire::kPollmsgr);
  const RdmaHello mine = hello(options_, large_bytes(), ep->address(), resume_cookie);
  RdmaHello theirs;
  if (!send_all(ep->side_channel(), &mine, sizeof(mine)) ||
      !recv_all(ep->side_channel(), &theirs, sizeof(theirs), kSetupTimeoutMs))
    throw StartupError(fmt::format("the rdma server at {} did not answer the set-up within {} s "
                                   "(out of receive buffers or queue pairs? see its log; a Ceph "
                                   "daemon? add --rdma-wire ceph)",
                                   server.to_string(), kSetupTimeoutMs / 1000), 1);
  if (theirs.magic != RdmaHello::kMagic)
    throw StartupError(fmt::format("{} is not a pollmsgr rdma server", server.to_string()), 1);
  ep->connect(theirs.qp, theirs.credits, theirs.chunk_bytes, theirs.large_bytes);
  if (!send_all(ep->side_channel(), &RdmaHello::kReadyByte, 1))
    throw StartupError(fmt::format("the rdma server at {} went away during set-up",
                                   server.to_string()), 1);
  return ep;
}

// Ceph's three-way exchange, client side: our record, the server's (naming our queue pair), our
// record again (naming the server's) as the acknowledgement.
std::unique_ptr<Endpoint> RdmaTransport::connect_ceph(const HostPort& server, size_t index) {
  UniqueFd side = tcp_connect(server, "a Ceph daemon with ms_type async+rdma, or perf_msgr_server "
                                      "with --transport rdma");
  auto ep = make_endpoint(index, std::move(side), RdmaWire::kCeph);
  const int fd = ep->side_channel();
  const auto mine = format_ceph_record(ep->ceph_record(0));
  std::array<uint8_t, kCephRecordSize> answer{};
  if (!send_all(fd, mine.data(), mine.size()) ||
      !recv_all(fd, answer.data(), answer.size(), kSetupTimeoutMs))
    throw StartupError(fmt::format("{} did not answer Ceph's rdma set-up within {} s (is it an "
                                   "async+rdma daemon, or an rdma perf_msgr_server?)",
                                   server.to_string(), kSetupTimeoutMs / 1000), 1);
  const auto theirs = parse_ceph_record(answer);
  if (!theirs)
    throw StartupError(fmt::format("{} answered Ceph's rdma set-up with something else than a "
                                   "record", server.to_string()), 1);
  if (theirs->peer_qpn != ep->address().qpn)
    throw StartupError(fmt::format("{} answered for queue pair {:#x}, not ours ({:#x})",
                                   server.to_string(), theirs->peer_qpn, ep->address().qpn), 1);
  ep->connect_ceph(*theirs, options_.ceph_peer_buffer_bytes);
  const auto ack = format_ceph_record(ep->ceph_record(theirs->qpn));
  if (!send_all(fd, ack.data(), ack.size()))
    throw StartupError(fmt::format("{} went away during Ceph's rdma set-up", server.to_string()),
                       1);
  return ep;
}

// A client's set-up in progress. First its hello (our wire) or record (Ceph's), told apart by
// the first five bytes; then, with our queue pair connected and our answer sent, its ready byte
// or its acknowledging record.
struct RdmaTransport::Pending {
  UniqueFd side;
  uint64_t deadline_tsc = 0;
  std::array<uint8_t, kCephRecordSize> bytes{};
  size_t have = 0;
  bool ceph = false;
  std::unique_ptr<RdmaEndpoint> ep;  // once the client's hello is in
  size_t reactor_index = 0;
  bool done = false;
};
static_assert(sizeof(RdmaHello) <= kCephRecordSize);

void RdmaTransport::listen(const HostPort& bind) {
  listener_ = std::make_unique<TcpListener>(bind);
  pending_.reserve(kMaxPendingAccepts);
}

int RdmaTransport::listen_fd() const { return listener_ ? listener_->fd() : -1; }

bool RdmaTransport::advance(Pending& p, const Placement& place) {
  constexpr size_t kSniff = 5;
  for (;;) {
    const int fd = p.ep ? p.ep->side_channel() : p.side.get();
    const size_t need = p.ep ? (p.ceph ? kCephRecordSize : 1)
                             : p.have < kSniff ? kSniff
                             : p.ceph          ? kCephRecordSize
                                               : sizeof(RdmaHello);
    if (p.have < need) {
      const ssize_t r = recv(fd, p.bytes.data() + p.have, need - p.have, MSG_DONTWAIT);
      if (r == 0) return false;
      if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
      p.have += static_cast<size_t>(r);
      if (p.have < need) return true;
    }
    if (need == kSniff && !p.ep) {
      p.ceph = looks_like_ceph_record({p.bytes.data(), kSniff});
      continue;
    }
    if (p.ep) {  // the client's queue pair is ready: the connection is made
      if (!p.ceph) return p.done = p.bytes[0] == RdmaHello::kReadyByte;
      const auto ack = parse_ceph_record(p.bytes);
      return p.done = ack && ack->peer_qpn == p.ep->address().qpn;
    }
    try {  // the client's half is in: our queue pair, connected to its, and our answer
      if (p.ceph) {
        const auto theirs = parse_ceph_record(p.bytes);
        if (!theirs || theirs->peer_qpn != 0) return false;
        p.reactor_index = place(0) % lcores_.size();
        p.ep = make_endpoint(p.reactor_index, std::move(p.side), RdmaWire::kCeph);
        p.ep->connect_ceph(*theirs, options_.ceph_peer_buffer_bytes);
        const auto mine = format_ceph_record(p.ep->ceph_record(theirs->qpn));
        if (!send_all(p.ep->side_channel(), mine.data(), mine.size())) return false;
      } else {
        RdmaHello theirs;
        std::memcpy(&theirs, p.bytes.data(), sizeof(theirs));
        if (theirs.magic != RdmaHello::kMagic) return false;
        p.reactor_index = place(theirs.resume_cookie) % lcores_.size();
        p.ep = make_endpoint(p.reactor_index, std::move(p.side), RdmaWire::kPollmsgr);
        p.ep->connect(theirs.qp, theirs.credits, theirs.chunk_bytes, theirs.large_bytes);
        const RdmaHello mine = hello(options_, large_bytes(), p.ep->address());
        if (!send_all(p.ep->side_channel(), &mine, sizeof(mine))) return false;
      }
    } catch (const StartupError&) {
      return false;  // the client sees its side channel close
    }
    p.have = 0;
  }
}

Transport::Accepted RdmaTransport::accept(const Placement& place) {
  if (pending_.size() < kMaxPendingAccepts) {
    if (UniqueFd fd = listener_->accept_socket())
      pending_.push_back({std::move(fd), rte_rdtsc() + rte_get_tsc_hz() * kSetupTimeoutMs / 1000});
  }
  const uint64_t now = rte_rdtsc();
  for (size_t i = 0; i < pending_.size(); ++i) {
    Pending& p = pending_[i];
    const bool keep = now <= p.deadline_tsc && advance(p, place);
    if (p.done) {
      Accepted done{std::move(p.ep), p.reactor_index};
      pending_.erase(pending_.begin() + static_cast<ptrdiff_t>(i));
      return done;
    }
    if (!keep) pending_.erase(pending_.begin() + static_cast<ptrdiff_t>(i--));
  }
  return {};
}

ibv_mr* RdmaTransport::region_of(const void* addr) const {
  for (const auto& mr : memory_regions_) {
    auto* base = static_cast<const uint8_t*>(mr->addr);
    if (addr >= base && addr < base + mr->length) return mr.get();
  }
  return nullptr;
}

uint32_t RdmaTransport::large_bytes() const { return large_pool_ ? options_.large_bytes : 0; }

std::vector<Transport::PoolCensus> RdmaTransport::pools() const {
  unsigned posted = 0;
  for (const auto& l : lcores_) posted += l->posted();
  std::vector<PoolCensus> pools = {{pool_->name(), pool_->count(), pool_->available(), posted}};
  if (large_pool_) pools.push_back({large_pool_->name(), large_pool_->count(), large_pool_->available(), 0});
  return pools;
}

RdmaTransport::Census RdmaTransport::census() const {
  Census c{};
  for (const auto& p : pools()) {
    c.total += p.total;
    c.in_pool += p.free;
    c.posted_for_receive += p.posted_for_receive;
    c.held_by_connections += p.held();
  }
  c.queue_pairs = queue_pairs_.load();
  return c;
}

// --- RdmaEndpoint: set-up and teardown ---

RdmaEndpoint::RdmaEndpoint(RdmaTransport& t, LcoreQueues& queues, UniqueFd side,
                           RdmaWire wire)
    : device_(*t.device_), transport_(t), queues_(queues), pool_(*t.pool_),
      large_pool_(wire == RdmaWire::kCeph ? nullptr : t.large_pool_.get()),
      side_(std::move(side)), psn_(random_psn()),
      send_depth_(send_queue_depth(t.options_.credits)), wire_(wire),
      my_credits_(t.options_.credits) {
  // A Ceph peer has no credits: it may fill as much of the lcore's receive queue as is posted.
  const uint32_t receivable = wire == RdmaWire::kCeph ? t.options_.srq_depth : my_credits_;
  ibv_qp_init_attr qa{};
  qa.send_cq = queues_.send_cq();
  qa.recv_cq = queues_.recv_cq();
  qa.srq = queues_.srq();
  qa.qp_type = IBV_QPT_RC;
  qa.sq_sig_all = 0;
  qa.cap.max_send_wr = send_depth_;
  qa.cap.max_send_sge = 1;
  qa.cap.max_inline_data = t.options_.max_inline;
  qp_.reset(ibv_create_qp(device_.pd(), &qa));
  if (!qp_) {
    queues_.remove_connection();
    throw StartupError(fmt::format(
        "cannot create an RDMA queue pair on {}: {} (send queue {}, inline {} B: lower "
        "--rdma-credits or --rdma-inline)", device_.name(), strerror(errno), send_depth_,
        t.options_.max_inline), 1);
  }
  max_inline_ = qa.cap.max_inline_data;
  for (uint32_t i = 0; large_pool_ && i < max_lent(my_credits_); ++i) {
    windows_.emplace_back(ibv_alloc_mw(device_.pd(), IBV_MW_TYPE_2));
    if (!windows_.back()) {
      queues_.remove_connection();
      throw StartupError(fmt::format("cannot allocate a memory window on {}: {} (max_mw {})",
                                     device_.name(), strerror(errno), device_.attr().max_mw), 1);
    }
    window_keys_.push_back(windows_.back()->rkey);
  }
  transport_.queue_pairs_.fetch_add(1);
  rx_.slots.resize(receivable + kMaxLargeLent);
  tx_ready_.slots.resize(my_credits_);  // resized to the peer's grant in connect()
  tx_posted_.slots.resize(send_depth_);
  tx_lent_.slots.resize(max_lent(my_credits_));
}

void RdmaEndpoint::connect(const QpAddress& peer, uint32_t peer_credits, uint32_t peer_chunk,
                           uint32_t peer_large) {
  if (peer_credits < 2 || peer_credits > 16384 || peer_chunk < 1024)
    throw StartupError("the peer's rdma set-up is malformed (credits or chunk size)", 1);
  device_.connect_qp(qp_.get(), psn_, peer, kRnrRetry);
  peer_credits_ = peer_credits;
  peer_chunk_bytes_ = std::min(peer_chunk, pool_.buffer_size());
  // Large frames by READ only when both sides have large buffers and a descriptor fits inline.
  if (large_pool_ && peer_large > peer_chunk_bytes_ && max_inline_ >= sizeof(ReadDescriptor))
    peer_large_bytes_ = std::min(peer_large, large_pool_->buffer_size());
  tx_ready_.slots.resize(std::min(peer_credits, send_depth_));
}

CephRecord RdmaEndpoint::ceph_record(uint32_t peer_qpn) const {
  const QpAddress a = address();
  return {a.lid, a.qpn, a.psn, peer_qpn, a.gid};
}

void RdmaEndpoint::connect_ceph(const CephRecord& peer, uint32_t peer_buffer_bytes) {
  const QpAddress a{peer.qpn, peer.psn, peer.lid, IBV_MTU_1024, 0, peer.gid};  // Ceph's MTU
  device_.connect_qp(qp_.get(), psn_, a, kRnrRetry);
  peer_credits_ = kCephCredits;
  peer_chunk_bytes_ = std::min(peer_buffer_bytes, pool_.buffer_size());
  tx_ready_.slots.resize(send_depth_);
}

// Faulted or closed: the queue pair goes to the error state and a last "beacon" work request
// follows every posted one; once its (flushed) completion is reaped from the lcore's send
// completion queue, every buffer the queue pair held has come back and the queue pair can go.
// That wait is the lcore's (LcoreQueues::retire), so the lcore goes on with its other
// connections meanwhile. An endpoint that never ran on its lcore (its set-up failed on the
// accepting one) has nothing there but what retire() takes.
RdmaEndpoint::~RdmaEndpoint() {
  if (enrolled_) {
    while (poll_completions() > 0) {  // what has completed is ours again
    }
    queues_.withdraw(qp_->qp_num);
  }
  // On Ceph's wire the beacon is the fin, a zero-length SEND the peer must receive: the queue
  // pair stays up until it completes (LcoreQueues moves it to error then).
  if (wire_ != RdmaWire::kCeph || failed_) set_qp_error(qp_.get());
  ibv_send_wr beacon{};
  beacon.wr_id = kBeaconWrId;
  beacon.opcode = IBV_WR_SEND;
  beacon.send_flags = IBV_SEND_SIGNALED;
  ibv_send_wr* bad = nullptr;
  const bool posted = ibv_post_send(qp_.get(), &beacon, &bad) == 0;
  // Buffers the device may still read or write wait in the retired queue pair; the rest go now.
  LcoreQueues::Retired retired;
  retired.qp_num = qp_->qp_num;
  retired.send_room = enrolled_ ? static_cast<unsigned>(tx_posted_.size()) + reads_in_flight_ + 1 : 0;
  retired.give_up_tsc = rte_rdtsc() + (posted ? rte_get_tsc_hz() : 0);
  while (!rx_.empty()) {  // (only once enrolled)
    const RxChunk c = rx_.pop();
    if (!c.buffer) continue;  // a READ never started
    if (c.state == RxChunk::kReading)
      retired.in_flight.push_back(c.buffer);
    else if (is_large(c.buffer))
      c.buffer->release();
    else
      queues_.recycle(c.buffer);
  }
  if (tx_fill_) tx_fill_->release();
  while (!tx_ready_.empty()) tx_ready_.pop()->release();
  while (!tx_posted_.empty())
    if (Buffer* b = tx_posted_.pop()) retired.in_flight.push_back(b);
  // The peer may be reading what we lent it: the windows close now (dealloc invalidates them),
  // and the buffers wait for the queue pair's flush all the same.
  windows_.clear();
  while (!tx_lent_.empty()) retired.in_flight.push_back(tx_lent_.pop());
  retired.qp = std::move(qp_);
  queues_.retire(std::move(retired));
  if (enrolled_) queues_.flush_reposts();
  queues_.remove_connection();
  transport_.queue_pairs_.fetch_sub(1);
}

}  // namespace pollmsgr::verbs
