#pragma once
// The per-lcore run-to-completion loop, at the cost of the connections that have work, not of
// all it owns (a server lcore may hold ten thousand, nearly all idle). One iteration:
//   1. readiness: one non-blocking epoll_wait on the set of its endpoints' wait fds, and one
//      look at each shared ReadySource they name (rdma: the lcore's completion queues), every
//      iteration while nothing is active, else every few microseconds, wakes idle connections
//   2. receive on each active connection, parse in place, dispatch inline
//   3. the dispatcher's due work (on_tick)
//   4. flush each connection that has something to send: one doorbell each
//   5. housekeeping, every few tens of microseconds: hand-offs from other lcores, faulted
//      connections, timers, a slice of the connections' own timers, parked sessions
// A connection that has had nothing to read for a while goes idle (Endpoint::enter_idle): it is
// not polled again until its wait fd signals. In the event policies an iteration with nothing
// to do blocks in that same epoll_wait instead of spinning. Lossless sessions whose transport
// failed are parked off the hot loop: a client's is dialled again with back-off, a server's
// waits for its client's SESSION_RECONNECT (which may arrive on any lcore and is passed to the
// session's owner); either gives up after the reconnect window.
// (reactor.cc: the loop; reactor_wait.cc: readiness and the event policies;
// reactor_lossless.cc: parking and resuming.)
//
// Threads. A reactor belongs to the thread that runs it (run() or the first poll_once()), which
// is one lcore for its whole life. Before that, set-up may call anything from one thread.
// Checked by debug-build asserts (owner_check.h); free in release builds.
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
  uint64_t polled = 0;   // connections polled for receive, summed over iterations
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
  // Also wake for `fd` becoming readable, and call `on_ready` (a listener).
  void watch_fd(int fd, std::function<void()> on_ready);
  // Runs `timer` every `period_us` on this lcore.
  void add_timer(uint64_t period_us, Timer timer);
  void set_exit_when_idle(bool on) { exit_when_idle_ = on; }
  // Bytes of partial frames (split across reads) its connections may hold together; 0: no limit.
  void set_reassembly_budget(size_t bytes) { reassembly_budget_ = bytes; }

  // --- the owning lcore (or before run()) ---
  // Takes a connection; it stays on this lcore until it is destroyed.
  void adopt(std::unique_ptr<Connection> connection);
  // Loops until `stop` is set, or (with exit_when_idle) no connection is left.
  void run(const std::atomic<bool>& stop);
  // One iteration of that loop; false once the loop would end. (Tests drive reactors with it.)
  bool poll_once();
  void request_stop() { local_stop_ = true; }
  // From the connections it owns: it has something to send / has faulted / wants a session
  // resumed. Each puts the connection on a short list, so that nothing scans them all.
  void note_tx(Connection& c);
  void note_attention(Connection& c);

  // A connection's partial frames grew or shrank from `was` to `now` bytes; false when they grew
  // and the lcore's connections together now hold more than the budget.
  bool charge_reassembly(size_t was, size_t now) {
    reassembly_bytes_ = reassembly_bytes_ - was + now;
    return now <= was || reassembly_budget_ == 0 || reassembly_bytes_ <= reassembly_budget_;
  }
  // Past the budget: closes connections holding partial frames that have made no progress
  // for kStalledUs (the longest stalled first), other than `growing`, until the lcore is
  // within it again; false when it is not (then `growing` is the one to go).
  bool evict_stalled_holders(Connection& growing, uint64_t now);
  static constexpr uint64_t kStalledUs = 100000;
  size_t reassembly_budget() const { return reassembly_budget_; }
  size_t reassembly_bytes() const { return reassembly_bytes_; }

  // Spare tx queues and lossless rings for its connections (the owning lcore).
  SparePool<Connection::TxQueue>& spare_queues() { return spare_queues_; }
  SparePool<Connection::UnackedRing>& spare_rings() { return spare_rings_; }

  // --- any thread ---
  // Another lcore's hand-off (a new connection, or one resuming a session here); false when
  // the inbox is full (the caller keeps the connection). The reactor owns it once true.
  bool hand_off(Connection* connection);
  // Whether the calling thread may use this reactor: its owner, or anyone before it runs.
  bool on_owner_thread() const;

  // --- reading, after run() returned (or on the owning lcore) ---
  WaitPolicy policy() const { return policy_; }
  Dispatcher& dispatcher() const { return dispatcher_; }
  unsigned lcore() const { return lcore_; }
  size_t connection_count() const { return connections_.size(); }
  size_t active_count() const { return active_.size(); }
  size_t parked_count() const { return parked_.size(); }
  const ReactorStats& stats() const { return stats_; }
  const std::vector<std::unique_ptr<Connection>>& connections() const { return connections_; }

 private:
  void claim_thread();
  void housekeeping(uint64_t now);
  void tend_timers(uint64_t now);
  void drop(Connection& c, const std::string& why);
  std::unique_ptr<Connection> take(Connection& c);  // out of every list, not destroyed
  void place(std::unique_ptr<Connection> c);        // into connections_ and the lists
  void arrive(std::unique_ptr<Connection> c);       // from the inbox
  void activate(Connection& c);
  // reactor_wait.cc
  void set_up_wait();
  void wake();  // an event-driven owner asleep in wait_ready wakes (any thread)
  void watch(Connection& c);
  void unwatch(Connection& c);
  void watch_source(ReadySource& source);
  Connection* watched_connection(uint64_t tag) const;  // nullptr: gone since the tag was taken
  // Takes what the epoll set reports, waiting up to `timeout_ns` (0: not at all); true when
  // an fd signalled.
  bool wait_ready(uint64_t timeout_ns);
  void sleep_if_idle();
  void handoff_loop();
  // reactor_lossless.cc
  void park(Connection& c, uint64_t now);
  void tend_parked(uint64_t now);
  void route_resume(Connection& c);
  void resume_here(std::unique_ptr<Connection> fresh);

  unsigned lcore_;
  Dispatcher& dispatcher_;
  WaitPolicy policy_;
  std::atomic<std::thread::id> owner_{};  // set when the loop first runs
  std::vector<std::unique_ptr<Connection>> connections_;  // all it owns (Connection::slot_)
  // The short lists: connections to receive on, to flush, and to look at in housekeeping.
  std::vector<Connection*> active_, tx_, attention_;
  size_t timer_cursor_ = 0;  // the timer sweep's place in connections_
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
  uint64_t next_ready_check_ = 0, ready_check_period_ = 0, idle_after_ = 0;
  // The set of wait fds (edge-triggered): endpoints (data: the Connection*), the worker's
  // doorbell (a connection handed over, or the helper's wake-up) and listeners; with the
  // helper thread, its "worker is about to sleep" and "stop" eventfds.
  UniqueFd epoll_, wake_, armed_, helper_stop_;
  std::vector<std::function<void()>> watched_;
  size_t unwatched_ = 0;  // connections whose endpoint has no wait fd: polled every iteration
  struct WatchSlot {
    Connection* conn;
    uint32_t generation;
  };
  std::vector<WatchSlot> watch_slots_;  // what an epoll or ReadySource tag names (see watch())
  std::vector<ReadySource*> sources_;   // shared readiness its endpoints name (rdma: its CQs)
  std::vector<uint32_t> free_watch_slots_;
  std::mutex handed_mutex_;  // event-handoff: the helper's catch (epoll data) for the worker
  std::vector<uint64_t> handed_;
  std::thread helper_;
  std::atomic<bool> helper_stopping_{false};
  SparePool<Connection::TxQueue> spare_queues_;
  SparePool<Connection::UnackedRing> spare_rings_;
  ReactorStats stats_;
  size_t reassembly_bytes_ = 0, reassembly_budget_ = 0;
};

}  // namespace pollmsgr
