#pragma once
// What perf_msgr_server and perf_msgr_client share: transport and wait-mode flags, the transport
// they choose, SIGINT/SIGTERM handling, the process's CPU time.
#include <atomic>
#include <memory>
#include <string>

#include "dataplane/messenger/messenger.h"
#include "dataplane/reactor/reactor.h"
#include "dataplane/transport/shm_transport.h"
#include "dataplane/transport/tcp_transport.h"
#include "verbs/rdma_transport.h"

namespace CLI {
class App;
}

namespace pollmsgr::perf {

struct TransportFlags {
  std::string transport = "shm";
  uint32_t shm_ring_kb = 1024;
  uint32_t shm_max_peer_ring_kb = 65536;
  std::string shm_dir;
  std::vector<uid_t> shm_allow_uids;
  bool serve_floor_probe = false;
  bool no_data_crc = false;
  std::string mode = "poll";
  bool event_handoff = false;
  verbs::RdmaOptions rdma;  // its chunk_bytes comes from rdma_chunk_kb
  uint32_t rdma_chunk_kb = 16;
  std::string rdma_wire = "pollmsgr";
  uint32_t rdma_peer_buffer_kb = 16;
  bool lossless = false;
  double reconnect_window_s = 10;
  double peer_timeout_s = 30;
  uint64_t inject_faults = 0;  // break a connection's transport every this many messages received
  double handshake_timeout_s = 10;
  uint32_t rx_budget_mb = 1024;
};
void add_transport_flags(CLI::App& app, TransportFlags& flags);
// Validates the flags into messenger options, without the transport (throws StartupError).
MessengerOptions messenger_options(const TransportFlags& flags, proto::EntityType my_type);
WaitPolicy wait_policy(const TransportFlags& flags);  // throws StartupError
// The transport the flags ask for (for rdma: the device opened, the buffers registered); it
// must outlive the Messenger and every connection. Sets options.transport. Throws StartupError.
std::unique_ptr<Transport> make_transport(const TransportFlags& flags, MessengerOptions& options,
                                          size_t reactors);
// A census, so that a leak shows: one line per buffer pool of the transport (where its buffers
// are), one for its rdma queue pairs, and (lcore_census) what one lcore's connections hold.
std::string pool_census(const Transport& transport);
std::string lcore_census(const Reactor& reactor);  // on its lcore, or after it ran
// Counts SIGUSR1s: a server prints its census for each (install_stop_signals installs it).
std::atomic<unsigned>& census_requests();

// Raises RLIMIT_NOFILE so that `connections` connections fit, as far as the hard limit allows,
// or beyond it when we may (root, up to fs.nr_open). Throws StartupError, naming `flag`, when
// they cannot.
// (A connection holds one open file on every transport: tcp its socket, shm its set-up socket,
// rdma its side channel.)
void ensure_fd_limit(size_t connections, const char* flag);
// Raises the soft RLIMIT_NOFILE to the hard one; returns how many connections then fit.
size_t connections_within_fd_limit();
// One line for a server's start-up: what one connection takes of the transport's resources.
std::string capacity_note(const TransportFlags& flags, size_t max_connections);

// User + system CPU time of this process so far, seconds.
double process_cpu_seconds();
// The most resident memory this process has had (VmHWM), KiB.
uint64_t peak_rss_kb();

// Set by SIGINT / SIGTERM: the server's loops stop; the client's stop sending and end once
// what is in flight is answered.
std::atomic<bool>& stop_requested();
// Set by a second signal: the client's loops stop at once.
std::atomic<bool>& stop_now();
void install_stop_signals();

}  // namespace pollmsgr::perf
