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
  bool lossless = false;
  double reconnect_window_s = 10;
  double peer_timeout_s = 30;
  uint64_t inject_faults = 0;  // break a connection's transport every this many messages received
};
void add_transport_flags(CLI::App& app, TransportFlags& flags);
// Validates the flags into messenger options, without the transport (throws StartupError).
MessengerOptions messenger_options(const TransportFlags& flags, proto::EntityType my_type);
WaitPolicy wait_policy(const TransportFlags& flags);  // throws StartupError
// The transport the flags ask for (for rdma: the device opened, the buffers registered); it
// must outlive the Messenger and every connection. Sets options.transport. Throws StartupError.
std::unique_ptr<Transport> make_transport(const TransportFlags& flags, MessengerOptions& options,
                                          size_t reactors);
// One line on where the rdma buffers are, for the final report (empty without rdma).
std::string rdma_census(const Transport& transport);

// User + system CPU time of this process so far, seconds.
double process_cpu_seconds();

// Set by SIGINT / SIGTERM: every reactor loop watches it.
std::atomic<bool>& stop_requested();
void install_stop_signals();

}  // namespace pollmsgr::perf
