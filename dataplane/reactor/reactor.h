#pragma once
// The per-lcore run-to-completion loop. One iteration: receive a burst on every connection
// (parse in place, dispatch inline) -> the dispatcher's due work -> pump and flush each
// connection's tx (one doorbell each) -> every timer period: housekeeping. No locks, no epoll,
// no heap on the way; connections arrive from other lcores only through a ring.
// Lossless sessions whose transport failed are parked off the hot loop: a client's is dialled
// again with back-off, a server's waits for its client's SESSION_RECONNECT (which may arrive on
// any lcore and is passed to the session's owner); either gives up after the reconnect window.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/messenger/connection.h"
#include "dataplane/messenger/dispatcher.h"
#include "dataplane/reactor/spsc_ring.h"
#include "dataplane/transport/unique_fd.h"

namespace pollmsgr {

// How an idle reactor waits: `poll` spins; `event` (the event-driven design pollmsgr measures
// itself against) blocks in epoll_wait on its endpoints' wait fds, then runs the same code;
// `event-handoff` adds the hop Ceph's RDMA stack has: a helper thread blocks on the endpoints
// and wakes the worker through an eventfd.
enum class WaitPolicy : uint8_t { kPoll, kEvent, kEventHandoff };
// "poll" | "event", and whether --event-handoff was given; throws StartupError.
WaitPolicy parse_wait_policy(const std::string& mode, bool handoff);
const char* to_string(WaitPolicy policy);

struct ReactorStats {
  uint64_t iterations = 0;
  uint64_t busy_cycles = 0;   // TSC cycles of iterations that received something
  uint64_t total_cycles = 0;
  uint64_t connections_adopted = 0;
  uint64_t connections_faulted = 0;
  uint64_t transport_faults = 0;  // lossless sessions parked when their transport failed
  uint64_t sessions_resumed = 0;  // server: ... that a reconnecting client took up again
  uint64_t sleeps = 0;   // event policies: times it blocked
  uint64_t wakeups = 0;  // ... and was woken by an fd (the rest ran into a timeout)
};

class Reactor {
 public:
  static constexpr size_t kInboxDepth = 1024;
  using Timer = std::function<void(uint64_t now_tsc)>;

  Reactor(unsigned lcore, Dispatcher& dispatcher, WaitPolicy policy = WaitPolicy::kPoll);
  ~Reactor();

  // Takes a connection on this reactor's lcore (or before the loop starts).
  void adopt(std::unique_ptr<Connection> connection);
  // Another lcore's hand-off (a new connection, or one resuming a session here); false when the
  // inbox is full. Producers serialize on a lock; the owning lcore pops without one.
  bool hand_off(Connection* connection);
  // Lossless sessions: where servers record theirs, and how long a parked one waits.
  void enable_resume(std::shared_ptr<SessionDirectory> sessions, uint64_t window_us);
  // Event policies: also wake for `fd` becoming readable, and call `on_ready` (e.g. a listener).
  void watch_fd(int fd, std::function<void()> on_ready);
  WaitPolicy policy() const { return policy_; }
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
  size_t parked_count() const { return parked_.size(); }
  const ReactorStats& stats() const { return stats_; }
  const std::vector<std::unique_ptr<Connection>>& connections() const { return connections_; }

 private:
  void housekeeping(uint64_t now);
  void check_peers();
  void wait_for_events();
  bool block_until(uint64_t deadline_tsc);  // true when woken by an fd, not the deadline
  void handoff_loop();
  void drop(size_t index, const std::string& why);
  void watch(Connection& c);
  void unwatch(Connection& c);
  std::unique_ptr<Connection> take(size_t index);  // out of connections_, not destroyed
  void arrive(std::unique_ptr<Connection> c);       // from the inbox
  void park(size_t index, uint64_t now);
  void tend_parked(uint64_t now);
  void route_resume(size_t index);
  void resume_here(std::unique_ptr<Connection> fresh);

  unsigned lcore_;
  Dispatcher& dispatcher_;
  WaitPolicy policy_;
  std::vector<std::unique_ptr<Connection>> connections_;
  struct Parked {
    std::unique_ptr<Connection> conn;
    uint64_t deadline, next_dial, backoff;  // TSC
    std::string why, last_error;
  };
  std::vector<Parked> parked_;
  std::shared_ptr<SessionDirectory> sessions_;
  uint64_t resume_window_ = 0;  // TSC cycles
  SpscRing<Connection*, kInboxDepth> inbox_;
  std::mutex inbox_producers_;
  struct TimerEntry {
    uint64_t period, next;
    Timer fn;
  };
  std::vector<TimerEntry> timers_;
  bool exit_when_idle_ = false;
  bool local_stop_ = false;
  uint64_t now_ = 0, next_housekeeping_ = 0, housekeeping_period_ = 0;
  // Event policies: the set of endpoint and listener fds; the worker's doorbell (a connection
  // handed over, or the helper's wake-up); with the helper thread, its "worker is about to
  // sleep" and "stop" eventfds.
  UniqueFd epoll_, wake_, armed_, helper_stop_;
  std::vector<std::function<void()>> watched_;
  std::thread helper_;
  std::atomic<bool> helper_stopping_{false};
  ReactorStats stats_;
};

}  // namespace pollmsgr
