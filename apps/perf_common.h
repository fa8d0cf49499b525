#pragma once
// What perf_msgr_server and perf_msgr_client share: transport and wait-mode flags, SIGINT/SIGTERM
// handling, the process's CPU time.
#include <atomic>
#include <string>

#include "dataplane/messenger/messenger.h"
#include "dataplane/reactor/reactor.h"

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
};
void add_transport_flags(CLI::App& app, TransportFlags& flags);
// Validates the flags into messenger options (throws StartupError).
MessengerOptions messenger_options(const TransportFlags& flags, proto::EntityType my_type);
WaitPolicy wait_policy(const TransportFlags& flags);  // throws StartupError

// User + system CPU time of this process so far, seconds.
double process_cpu_seconds();

// Set by SIGINT / SIGTERM: every reactor loop watches it.
std::atomic<bool>& stop_requested();
void install_stop_signals();

}  // namespace pollmsgr::perf
