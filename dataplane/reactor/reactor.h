#pragma once
// The per-lcore run-to-completion loop. One iteration: receive a burst on every connection
// (parse in place, dispatch inline) -> the dispatcher's due work -> pump and flush each
// connection's tx (one doorbell each) -> every timer period: housekeeping. No locks, no epoll,
// no heap on the way; connections arrive from other lcores only through an SPSC ring.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "dataplane/messenger/connection.h"
#include "dataplane/messenger/dispatcher.h"
#include "dataplane/reactor/spsc_ring.h"

namespace pollmsgr {

// How an idle reactor waits: `poll` spins; `event` (the event-driven design pollmsgr measures
// itself against) will block on the endpoints' wait fds.
enum class WaitPolicy : uint8_t { kPoll, kEvent };

struct ReactorStats {
  uint64_t iterations = 0;
  uint64_t busy_cycles = 0;   // TSC cycles of iterations that received something
  uint64_t total_cycles = 0;
  uint64_t connections_adopted = 0;
  uint64_t connections_faulted = 0;
};

class Reactor {
 public:
  static constexpr size_t kInboxDepth = 1024;
  using Timer = std::function<void(uint64_t now_tsc)>;

  Reactor(unsigned lcore, Dispatcher& dispatcher, WaitPolicy policy = WaitPolicy::kPoll);
  ~Reactor();

  // Takes a connection on this reactor's lcore (or before the loop starts).
  void adopt(std::unique_ptr<Connection> connection);
  // Another lcore's hand-off; false when the inbox is full. Single producer per reactor.
  bool hand_off(Connection* connection) { return inbox_.push(connection); }
  // Runs `timer` every `period_us` on this lcore (set up before run()).
  void add_timer(uint64_t period_us, Timer timer);

  // Loops until `stop` is set, or (with exit_when_idle) no connection is left.
  void run(const std::atomic<bool>& stop);
  // One iteration of that loop; false once the loop would end. (Tests drive reactors with it.)
  bool poll_once();
  void set_exit_when_idle(bool on) { exit_when_idle_ = on; }
  void request_stop() { local_stop_ = true; }

  unsigned lcore() const { return lcore_; }
  size_t connection_count() const { return connections_.size(); }
  const ReactorStats& stats() const { return stats_; }
  const std::vector<std::unique_ptr<Connection>>& connections() const { return connections_; }

 private:
  void housekeeping(uint64_t now);
  void check_peers();
  void drop(size_t index, const std::string& why);

  unsigned lcore_;
  Dispatcher& dispatcher_;
  WaitPolicy policy_;
  std::vector<std::unique_ptr<Connection>> connections_;
  SpscRing<Connection*, kInboxDepth> inbox_;
  struct TimerEntry {
    uint64_t period, next;
    Timer fn;
  };
  std::vector<TimerEntry> timers_;
  bool exit_when_idle_ = false;
  bool local_stop_ = false;
  uint64_t now_ = 0, next_housekeeping_ = 0, housekeeping_period_ = 0;
  ReactorStats stats_;
};

}  // namespace pollmsgr
