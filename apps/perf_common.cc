#include "apps/perf_common.h"

#include <sys/resource.h>

#include <csignal>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"

namespace pollmsgr::perf {

void add_transport_flags(CLI::App& app, TransportFlags& f) {
  app.add_option("--transport", f.transport, "shm (same host), tcp, or rdma")
      ->check(CLI::IsMember({"shm", "tcp", "rdma"}));
  app.add_option("--shm-ring-kb", f.shm_ring_kb, "shm ring size per direction, KiB (default 1024)")
      ->check(CLI::Range(4u, 1u << 20));
  app.add_flag("--no-data-crc", f.no_data_crc,
               "skip data-segment crcs (like Ceph's ms_crc_data = false); both sides must agree");
  app.add_option("--mode", f.mode,
                 "poll: lcores spin on their connections; event: they block in epoll_wait and "
                 "are woken by the transport (the event-driven design, for comparison)");
  app.add_flag("--event-handoff", f.event_handoff,
               "with --mode event: a helper thread blocks on the connections and wakes the worker "
               "through an eventfd (the extra hop of Ceph's RDMA stack)");
}

WaitPolicy wait_policy(const TransportFlags& f) { return parse_wait_policy(f.mode, f.event_handoff); }

double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto seconds = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return seconds(ru.ru_utime) + seconds(ru.ru_stime);
}

MessengerOptions messenger_options(const TransportFlags& f, proto::EntityType my_type) {
  MessengerOptions o;
  o.transport = parse_transport(f.transport);
  o.my_type = my_type;
  o.data_crc = !f.no_data_crc;
  if (f.shm_ring_kb % 4 != 0)
    throw StartupError(fmt::format("--shm-ring-kb {} must be a multiple of 4", f.shm_ring_kb));
  o.shm.ring_bytes = f.shm_ring_kb * 1024;
  return o;
}

std::atomic<bool>& stop_requested() {
  static std::atomic<bool> stop{false};
  return stop;
}

void install_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = [](int) { stop_requested().store(true); };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace pollmsgr::perf
