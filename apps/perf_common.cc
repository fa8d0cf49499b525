#include "apps/perf_common.h"

#include <sys/resource.h>

#include <algorithm>
#include <csignal>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"

namespace pollmsgr::perf {

namespace {
void add_rdma_flags(CLI::App& app, TransportFlags& f) {
  verbs::RdmaOptions& r = f.rdma;
  app.add_option("--rdma-device", r.device, "RDMA device (default: the first; see ibv_devices)");
  app.add_option("--gid-index", r.gid_index,
                 "GID index (default: the port's RoCEv2 IPv4-mapped GID; see ibv_devinfo -v)")
      ->check(CLI::Range(0, 1023));
  app.add_option("--rdma-chunk-kb", f.rdma_chunk_kb, "rdma: largest single SEND, KiB (default 16)")
      ->check(CLI::Range(1u, 16384u));
  app.add_option("--rdma-credits", r.credits,
                 "rdma: receive buffers each peer may fill, per connection (default 32, at least 3)")
      ->check(CLI::Range(3u, 16384u));
  app.add_option("--rdma-buffers", r.buffers, "rdma: registered buffers in the pool (default 4096)")
      ->check(CLI::Range(16u, 1u << 20));
  app.add_option("--rdma-srq-depth", r.srq_depth,
                 "rdma: receive buffers one lcore may have posted (default 8192)")
      ->check(CLI::Range(2u, 1u << 24));
  app.add_option("--rdma-inline", r.max_inline, "rdma: inline SENDs up to this size (default 128)")
      ->check(CLI::Range(0u, 4096u));
  app.add_option("--rdma-wire", f.rdma_wire,
                 "rdma client: pollmsgr (its own wire, the fast path) or ceph (Ceph's async+rdma "
                 "wire, to meet Ceph daemons); a server serves both")
      ->check(CLI::IsMember({"pollmsgr", "ceph"}));
  app.add_option("--rdma-peer-buffer-kb", f.rdma_peer_buffer_kb,
                 "rdma, Ceph's wire: the peer's ms_async_rdma_buffer_size, KiB: the largest SEND "
                 "it can take (its wire does not say; default 16)")
      ->check(CLI::Range(1u, 16384u));
}
}  // namespace

void add_transport_flags(CLI::App& app, TransportFlags& f) {
  app.add_option("--transport", f.transport, "shm (same host), tcp, or rdma")
      ->check(CLI::IsMember({"shm", "tcp", "rdma"}));
  app.add_option("--shm-ring-kb", f.shm_ring_kb,
                 "shm: the ring this side sends through, KiB (default 1024)")
      ->check(CLI::Range(4u, 1u << 20));
  app.add_option("--shm-max-peer-ring-kb", f.shm_max_peer_ring_kb,
                 "shm: the largest ring a peer may ask us to map, KiB (default 65536)")
      ->check(CLI::Range(4u, 1u << 20));
  app.add_option("--shm-dir", f.shm_dir,
                 "shm: the directory of the servers' socket files (default /tmp/pollmsgr-shm-UID, "
                 "made mode 0700)");
  app.add_option("--shm-allow-uid", f.shm_allow_uids,
                 "shm: the uids a peer may run as (default: our own); repeat for more");
  app.add_flag("--serve-floor-probe", f.serve_floor_probe,
               "shm server: answer clients' --measure-floor (it spins the lcore, up to a second)");
  app.add_flag("--no-data-crc", f.no_data_crc,
               "skip data-segment crcs (like Ceph's ms_crc_data = false); both sides must agree");
  app.add_option("--mode", f.mode,
                 "poll: lcores spin on their connections; event: they block in epoll_wait and "
                 "are woken by the transport (the event-driven design, for comparison)");
  app.add_flag("--event-handoff", f.event_handoff,
               "with --mode event: a helper thread blocks on the connections and wakes the worker "
               "through an eventfd (the extra hop of Ceph's RDMA stack)");
  app.add_flag("--lossless", f.lossless,
               "lossless sessions (both sides must ask): a failed transport is reconnected and "
               "resumed, and no message is lost or delivered twice");
  app.add_option("--reconnect-window", f.reconnect_window_s,
                 "lossless: seconds a client keeps redialling, and a server keeps a session for "
                 "its client to come back (default 10)")
      ->check(CLI::Range(0.001, 86400.0));
  app.add_option("--peer-timeout", f.peer_timeout_s,
                 "a connection whose peer sends nothing for this many seconds has failed "
                 "(KEEPALIVE2 goes out after a quarter of it; default 30, 0: never)")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--handshake-timeout", f.handshake_timeout_s,
                 "a connection whose msgr2 handshake is not done this many seconds after it "
                 "began is dropped (default 10, 0: never)")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--rx-budget-mb", f.rx_budget_mb,
                 "MiB of partial frames (split across reads) one lcore's connections may hold "
                 "together; the connection that takes them past it is closed (default 1024, 0: "
                 "no limit)")
      ->check(CLI::Range(0u, 1u << 20));
  app.add_option("--inject-faults", f.inject_faults,
                 "break a connection's transport every N messages received, as a network failure "
                 "would (to exercise --lossless; 0: never)");
  add_rdma_flags(app, f);
}

std::unique_ptr<Transport> make_transport(const TransportFlags& f, MessengerOptions& o,
                                          size_t reactors) {
  std::unique_ptr<Transport> t;
  if (f.transport == "shm") {
    if (f.shm_ring_kb % 4 != 0)
      throw StartupError(fmt::format("--shm-ring-kb {} must be a multiple of 4", f.shm_ring_kb));
    ShmOptions s;
    s.ring_bytes = f.shm_ring_kb * 1024;
    s.max_peer_ring_bytes = f.shm_max_peer_ring_kb * 1024;
    s.dir = f.shm_dir;
    s.allowed_uids = f.shm_allow_uids;
    s.serve_floor_probe = f.serve_floor_probe;
    t = std::make_unique<ShmTransport>(s);
  } else if (f.transport == "tcp") {
    t = std::make_unique<TcpTransport>();
  } else if (f.transport == "rdma") {
    verbs::RdmaOptions options = f.rdma;
    options.chunk_bytes = f.rdma_chunk_kb * 1024;
    options.wire = f.rdma_wire == "ceph" ? verbs::RdmaWire::kCeph : verbs::RdmaWire::kPollmsgr;
    options.ceph_peer_buffer_bytes = f.rdma_peer_buffer_kb * 1024;
    t = std::make_unique<verbs::RdmaTransport>(options, reactors,
                                               wait_policy(f) != WaitPolicy::kPoll);
  } else {
    throw StartupError(fmt::format("--transport '{}': expected shm, tcp or rdma", f.transport));
  }
  o.transport = t.get();
  return t;
}

std::string pool_census(const Transport& transport) {
  std::string out;
  for (const auto& p : transport.pools())
    out += fmt::format("census: pool {}: {} buffers: {} in the pool, {} posted for receive, {} held "
                       "by connections\n", p.name, p.total, p.free, p.posted_for_receive, p.held());
  if (auto* rdma = dynamic_cast<const verbs::RdmaTransport*>(&transport))
    out += fmt::format("census: rdma: {} queue pairs\n", rdma->census().queue_pairs);
  return out;
}

std::string lcore_census(const Reactor& r) {
  return fmt::format("census: lcore {}: {} connections, {} sessions waiting, {} bytes of partial "
                     "frames\n", r.lcore(), r.connection_count(), r.parked_count(),
                     r.reassembly_bytes());
}

std::atomic<unsigned>& census_requests() {
  static std::atomic<unsigned> requests{0};
  return requests;
}

WaitPolicy wait_policy(const TransportFlags& f) { return parse_wait_policy(f.mode, f.event_handoff); }

double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto seconds = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return seconds(ru.ru_utime) + seconds(ru.ru_stime);
}

uint64_t peak_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss);  // KiB on Linux
}

MessengerOptions messenger_options(const TransportFlags& f, proto::EntityType my_type) {
  MessengerOptions o;
  o.my_type = my_type;
  o.data_crc = !f.no_data_crc;
  o.lossy = !f.lossless;
  o.reconnect_window_ms = static_cast<uint32_t>(f.reconnect_window_s * 1000);
  o.peer_timeout_ms = static_cast<uint32_t>(f.peer_timeout_s * 1000);
  o.handshake_timeout_ms = static_cast<uint32_t>(f.handshake_timeout_s * 1000);
  o.lcore_reassembly_budget = size_t{f.rx_budget_mb} << 20;
  return o;
}

namespace {
constexpr size_t kSpareFds = 256;  // EAL, listeners, epoll, set-ups in progress
}

void ensure_fd_limit(size_t connections, const char* flag) {
  const rlim_t want = static_cast<rlim_t>(connections + kSpareFds);
  rlimit now{};
  getrlimit(RLIMIT_NOFILE, &now);
  if (now.rlim_cur >= want) return;
  rlimit raised{want, std::max(want, now.rlim_max)};
  if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return;  // within the hard limit, or we may raise it
  throw StartupError(fmt::format(
      "{} connections need about {} open files, but this process may open only {} (the hard "
      "limit, `ulimit -Hn`): lower {}, or raise the limit (as root: `ulimit -Hn {}`, or "
      "LimitNOFILE= in a systemd unit)", connections, want, now.rlim_max, flag, want));
}

size_t connections_within_fd_limit() {
  rlimit now{};
  getrlimit(RLIMIT_NOFILE, &now);
  now.rlim_cur = now.rlim_max;
  setrlimit(RLIMIT_NOFILE, &now);
  getrlimit(RLIMIT_NOFILE, &now);
  return now.rlim_cur > kSpareFds ? now.rlim_cur - kSpareFds : 1;
}

std::string capacity_note(const TransportFlags& f, size_t max_connections) {
  const double n = static_cast<double>(max_connections);
  if (f.transport == "shm")
    return fmt::format("shm: each connection holds its {} KiB ring (hugetlb pages when a multiple "
                       "of 2048 KiB, else ordinary shared memory) and maps its peer's: {:.0f} MiB "
                       "of ours at {} connections", f.shm_ring_kb, n * (f.shm_ring_kb + 4) / 1024,
                       max_connections);
  if (f.transport == "rdma")
    return fmt::format("rdma: each connection has a queue pair and {} receive buffers of {} KiB "
                       "posted to its lcore's shared queue (and one connection's worth in reserve): up to {} "
                       "connections per lcore (--rdma-srq-depth / --rdma-credits - 1)",
                       f.rdma.credits, f.rdma_chunk_kb,
                       std::max(1u, f.rdma.srq_depth / std::max(1u, f.rdma.credits)) - 1);
  return "tcp: a connection holds a receive or send buffer (64 KiB, hugepages) only while bytes "
         "wait in it";
}

std::atomic<bool>& stop_requested() {
  static std::atomic<bool> stop{false};
  return stop;
}

std::atomic<bool>& stop_now() {
  static std::atomic<bool> stop{false};
  return stop;
}

void install_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = [](int) {
    if (stop_requested().exchange(true)) stop_now().store(true);
  };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = [](int) { census_requests().fetch_add(1); };
  sigaction(SIGUSR1, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace pollmsgr::perf
