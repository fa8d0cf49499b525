#pragma once
// What perf_msgr_server and perf_msgr_client share: transport and wait-mode flags, SIGINT/SIGTERM
// handling, the process's CPU time.
#include <atomic>
#include <string>

#include "dataplane/messenger/messenger.h"
#include "dataplane/reactor/reactor.h"
#include "verbs/rdma_transport.h"

namespace CLI {
class App;
}

namespace pollmsgr::perf {

struct TransportFlags {
  std::string transport = "shm";
  uint32_t shm_ring_kb = 1024;
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
// Validates the flags into messenger options (throws StartupError).
MessengerOptions messenger_options(const TransportFlags& flags, proto::EntityType my_type);
WaitPolicy wait_policy(const TransportFlags& flags);  // throws StartupError
// --transport rdma: opens the device and registers the buffers (throws StartupError); else
// nullptr. It must outlive the Messenger and every connection.
std::unique_ptr<verbs::RdmaTransport> make_rdma_transport(const TransportFlags& flags,
                                                          MessengerOptions& options,
                                                          size_t reactors);
// One line on where the rdma buffers are, for the final report (empty without rdma).
std::string rdma_census(const verbs::RdmaTransport* rdma);

// User + system CPU time of this process so far, seconds.
double process_cpu_seconds();

// Set by SIGINT / SIGTERM: every reactor loop watches it.
std::atomic<bool>& stop_requested();
void install_stop_signals();

}  // namespace pollmsgr::perf
