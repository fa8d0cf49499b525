#pragma once
// The per-lcore run-to-completion loop. One iteration (poll_once):
//   1. receive a burst on each connection, parse in place, dispatch inline
//   2. the dispatcher's due work (on_tick)
//   3. pump and flush each connection's tx: one doorbell each
//   4. every housekeeping period: hand-offs from other lcores, faults, timers, parked sessions
// then, in an event policy with nothing received, block until a transport wakes it.
// No locks, no heap on the data path; connections arrive from other lcores only through the
// inbox. Lossless sessions whose transport failed are parked off the hot loop: a client's is
// dialled again with back-off, a server's waits for its client's SESSION_RECONNECT (which may
// arrive on any lcore and is passed to the session's owner); either gives up after the
// reconnect window. (reactor.cc: the loop; reactor_wait.cc: the event policies;
// reactor_lossless.cc: parking and resuming.)
//
// Threads. A reactor belongs to the thread that runs it (run() or the first poll_once()), which
// is one lcore for its whole life. Before that, set-up may call anything from one thread.
// Checked by debug-build asserts (owner_check.h); free in release builds.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/messenger/connection.h"
#include "dataplane/messenger/dispatcher.h"
#include "dataplane/reactor/inbox.h"
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

  // Any thread (before the loop runs).
  Reactor(unsigned lcore, Dispatcher& dispatcher, WaitPolicy policy = WaitPolicy::kPoll);
  ~Reactor();

  // --- before run() (set-up) ---
  // Lossless sessions: where servers record theirs, and how long a parked one waits.
  void enable_resume(std::shared_ptr<SessionDirectory> sessions, uint64_t window_us);
  // Event policies: also wake for `fd` becoming readable, and call `on_ready` (a listener).
  void watch_fd(int fd, std::function<void()> on_ready);
  // Runs `timer` every `period_us` on this lcore.
  void add_timer(uint64_t period_us, Timer timer);
  void set_exit_when_idle(bool on) { exit_when_idle_ = on; }

  // --- the owning lcore (or before run()) ---
  // Takes a connection; it stays on this lcore until it is destroyed.
  void adopt(std::unique_ptr<Connection> connection);
  // Loops until `stop` is set, or (with exit_when_idle) no connection is left.
  void run(const std::atomic<bool>& stop);
  // One iteration of that loop; false once the loop would end. (Tests drive reactors with it.)
  bool poll_once();
  void request_stop() { local_stop_ = true; }

  // --- any thread ---
  // Another lcore's hand-off (a new connection, or one resuming a session here); false when
  // the inbox is full (the caller keeps the connection). The reactor owns it once true.
  bool hand_off(Connection* connection);
  // Whether the calling thread may use this reactor: its owner, or anyone before it runs.
  bool on_owner_thread() const;

  // --- reading, after run() returned (or on the owning lcore) ---
  WaitPolicy policy() const { return policy_; }
  unsigned lcore() const { return lcore_; }
  size_t connection_count() const { return connections_.size(); }
  size_t parked_count() const { return parked_.size(); }
  const ReactorStats& stats() const { return stats_; }
  const std::vector<std::unique_ptr<Connection>>& connections() const { return connections_; }

 private:
  void claim_thread();
  void housekeeping(uint64_t now);
  void check_peers();
  void drop(size_t index, const std::string& why);
  std::unique_ptr<Connection> take(size_t index);  // out of connections_, not destroyed
  void arrive(std::unique_ptr<Connection> c);       // from the inbox
  // reactor_wait.cc
  void set_up_wait();
  void wake();  // an event-driven owner asleep in block_until wakes (any thread)
  void watch(Connection& c);
  void unwatch(Connection& c);
  void wait_for_events();
  bool block_until(uint64_t deadline_tsc);  // true when woken by an fd, not the deadline
  void handoff_loop();
  // reactor_lossless.cc
  void park(size_t index, uint64_t now);
  void tend_parked(uint64_t now);
  void route_resume(size_t index);
  void resume_here(std::unique_ptr<Connection> fresh);

  unsigned lcore_;
  Dispatcher& dispatcher_;
  WaitPolicy policy_;
  std::atomic<std::thread::id> owner_{};  // set when the loop first runs
  std::vector<std::unique_ptr<Connection>> connections_;
  struct Parked {
    std::unique_ptr<Connection> conn;
    uint64_t deadline, next_dial;  // TSC
  };
  std::vector<Parked> parked_;
  std::shared_ptr<SessionDirectory> sessions_;
  uint64_t resume_window_ = 0;  // TSC cycles
  Inbox<Connection*, kInboxDepth> inbox_;
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
