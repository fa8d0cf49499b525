// The loop itself: adopt, hand-off, one iteration over the short lists, housekeeping, timers.
// Readiness and the event policies' waiting are in reactor_wait.cc; parking and resuming
// lossless sessions in reactor_lossless.cc.
#include "dataplane/reactor/reactor.h"

#include <rte_cycles.h>
#include <rte_pause.h>

#include <algorithm>

#include <fmt/format.h>

#include "dataplane/reactor/owner_check.h"
#include "dataplane/runtime/startup_error.h"
#include "dataplane/runtime/tsc.h"

namespace pollmsgr {
namespace {
constexpr uint64_t kHousekeepingUs = 50;  // hand-offs, faults, timers, a slice of connections
// An event-driven reactor sleeps: its housekeeping (and timers) run this often at most.
constexpr uint64_t kEventHousekeepingUs = 10000;
// Poll mode with something active: how often the epoll set is asked about the idle ones.
constexpr uint64_t kReadyCheckUs = 20;
// A connection with nothing to read for this long stops being polled (until its fd signals).
constexpr uint64_t kIdleAfterUs = 200;
// Connections whose own timers (keepalive, peer timeout, acks) each housekeeping visits.
constexpr size_t kTimerSlice = 64;

template <class T>
void erase_one(std::vector<T*>& list, T* item) {
  auto it = std::find(list.begin(), list.end(), item);
  if (it == list.end()) return;
  *it = list.back();
  list.pop_back();
}
}  // namespace

WaitPolicy parse_wait_policy(const std::string& mode, bool handoff) {
  if (mode != "poll" && mode != "event")
    throw StartupError("--mode '" + mode + "': expected poll or event");
  if (handoff && mode != "event")
    throw StartupError("--event-handoff needs --mode event (it adds a thread hop to event mode)");
  if (mode == "poll") return WaitPolicy::kPoll;
  return handoff ? WaitPolicy::kEventHandoff : WaitPolicy::kEvent;
}

const char* to_string(WaitPolicy policy) {
  switch (policy) {
    case WaitPolicy::kPoll: return "poll";
    case WaitPolicy::kEvent: return "event";
    case WaitPolicy::kEventHandoff: return "event-handoff";
  }
  return "?";
}

Reactor::Reactor(unsigned lcore, Dispatcher& dispatcher, WaitPolicy policy)
    : lcore_(lcore), dispatcher_(dispatcher), policy_(policy),
      housekeeping_period_(us_to_tsc(policy == WaitPolicy::kPoll ? kHousekeepingUs
                                                                 : kEventHousekeepingUs)),
      ready_check_period_(us_to_tsc(kReadyCheckUs)),
      // An event-driven reactor lets a connection go idle at once: then it can sleep.
      idle_after_(policy == WaitPolicy::kPoll ? us_to_tsc(kIdleAfterUs) : 0) {
  set_up_wait();
}

Reactor::~Reactor() {
  Connection* c;
  while (inbox_.pop(c)) delete c;  // handed off but never adopted: the app never saw it
  // Every connection the app saw hears of its end before it goes, and goes before what it
  // gives back to (spare queues and rings, the wait set) is destroyed with the members.
  for (auto& p : parked_) connections_.push_back(std::move(p.conn));
  parked_.clear();
  while (!connections_.empty()) {
    dispatcher_.on_fault(*connections_.back(), kShutdownReason);
    connections_.pop_back();
  }
}

bool Reactor::on_owner_thread() const {
  const std::thread::id owner = owner_.load(std::memory_order_relaxed);
  return owner == std::thread::id{} || owner == std::this_thread::get_id();
}

void Reactor::claim_thread() {
  if (owner_.load(std::memory_order_relaxed) == std::thread::id{})
    owner_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  POLLMSGR_ASSERT_OWNER(this);
}

void Reactor::enable_resume(std::shared_ptr<SessionDirectory> sessions, uint64_t window_us) {
  sessions_ = std::move(sessions);
  resume_window_ = us_to_tsc(double(window_us));
}

void Reactor::add_timer(uint64_t period_us, Timer timer) {
  const uint64_t period = us_to_tsc(double(period_us));
  timers_.push_back({period, rte_rdtsc() + period, std::move(timer)});
}

bool Reactor::hand_off(Connection* connection) {
  if (!inbox_.push(connection)) return false;
  wake();  // an event-driven owner may be asleep: adopt it now
  return true;
}

// --- the lists ---

void Reactor::adopt(std::unique_ptr<Connection> c) {
  POLLMSGR_ASSERT_OWNER(this);
  ++stats_.connections_adopted;
  c->attach(&dispatcher_, this, sessions_);
  place(std::move(c));
}

void Reactor::place(std::unique_ptr<Connection> c) {
  Connection& conn = *c;
  conn.slot_ = connections_.size();
  connections_.push_back(std::move(c));
  watch(conn);
  activate(conn);  // a new transport: there may be something to read already
  note_tx(conn);
  if (conn.faulted() || conn.wants_resume()) note_attention(conn);
}

std::unique_ptr<Connection> Reactor::take(Connection& c) {
  unwatch(c);
  c.uncharge_reassembly();  // wherever it goes next charges it there
  if (c.in_active_) erase_one(active_, &c);
  if (c.in_tx_) erase_one(tx_, &c);
  if (c.in_attention_) erase_one(attention_, &c);
  c.in_active_ = c.in_tx_ = c.in_attention_ = false;
  const size_t slot = c.slot_;
  auto owned = std::move(connections_[slot]);
  if (slot + 1 != connections_.size()) {
    connections_[slot] = std::move(connections_.back());
    connections_[slot]->slot_ = slot;
  }
  connections_.pop_back();
  owned->slot_ = SIZE_MAX;
  return owned;
}

void Reactor::activate(Connection& c) {
  if (c.idle_) {
    c.idle_ = false;
    c.endpoint().leave_idle();
  }
  c.last_rx_tsc_ = now_;
  if (!c.in_active_) {
    c.in_active_ = true;
    active_.push_back(&c);
  }
}

void Reactor::note_tx(Connection& c) {
  if (c.in_tx_ || c.slot_ == SIZE_MAX) return;
  c.in_tx_ = true;
  tx_.push_back(&c);
}

void Reactor::note_attention(Connection& c) {
  if (c.in_attention_ || c.slot_ == SIZE_MAX) return;
  c.in_attention_ = true;
  attention_.push_back(&c);
  next_housekeeping_ = 0;  // see to it this iteration
}

// --- one iteration ---

bool Reactor::poll_once() {
  claim_thread();
  const uint64_t start = now_ = rte_rdtsc();
  if (active_.empty() || now_ >= next_ready_check_) {  // 1: who of the idle has something
    wait_ready(0);
    next_ready_check_ = now_ + ready_check_period_;
  }
  bool received = false;
  // 2: rx, parse in place, dispatch; a connection quiet for long enough goes idle here, in the
  // same pass (not only in iterations where nothing at all arrived: with thousands of
  // connections, something nearly always has).
  for (size_t i = 0; i < active_.size();) {
    Connection& c = *active_[i];
    ++stats_.polled;
    if (c.poll_rx(start)) {
      received = true;
      c.last_rx_tsc_ = start;
    } else if (start - c.last_rx_tsc_ >= idle_after_ && !c.faulted() && c.endpoint().enter_idle()) {
      c.idle_ = true;
      c.in_active_ = false;
      active_[i] = active_.back();
      active_.pop_back();
      continue;
    }
    ++i;
  }
  dispatcher_.on_tick(start);  // 3: work that is due now
  for (size_t i = 0; i < tx_.size();) {  // 4: one doorbell per connection with something to send
    Connection& c = *tx_[i];
    c.flush_tx();
    if (c.tx_queued() == 0 && c.endpoint().tx_idle()) {
      c.in_tx_ = false;
      tx_[i] = tx_.back();
      tx_.pop_back();
    } else {
      ++i;  // a blocked writer: retried next iteration
    }
  }
  now_ = rte_rdtsc();
  ++stats_.iterations;
  stats_.total_cycles += now_ - start;
  if (received) stats_.busy_cycles += now_ - start;
  if (now_ >= next_housekeeping_) {  // 5: housekeeping on the TSC
    housekeeping(now_);
    next_housekeeping_ = now_ + housekeeping_period_;
    if (exit_when_idle_ && connections_.empty() && parked_.empty()) return false;
  }
  if (!received) {
    if (policy_ == WaitPolicy::kPoll)
      rte_pause();
    else
      sleep_if_idle();
  }
  return !local_stop_;
}


// --- housekeeping ---

void Reactor::housekeeping(uint64_t now) {
  Connection* handed;
  while (inbox_.pop(handed)) arrive(std::unique_ptr<Connection>(handed));
  // Faulted connections and sessions to resume: only those that said so.
  while (!attention_.empty()) {
    Connection& c = *attention_.back();
    attention_.pop_back();
    c.in_attention_ = false;
    if (c.faulted()) {
      if (c.resumable())
        park(c, now);
      else
        drop(c, c.fault_reason());
    } else if (c.wants_resume()) {
      route_resume(c);
    }
  }
  if (!parked_.empty()) tend_parked(now);
  for (auto& t : timers_)
    if (now >= t.next) {
      t.fn(now);
      t.next = now + t.period;
    }
  tend_timers(now);
}

// Each connection's own timers (keepalive, peer timeout, acks, transport upkeep), a slice per
// housekeeping: with thousands of connections each is seen every few milliseconds, and a
// housekeeping costs the same whatever the count.
void Reactor::tend_timers(uint64_t now) {
  for (size_t n = 0; n < kTimerSlice && !connections_.empty(); ++n) {
    if (timer_cursor_ >= connections_.size()) timer_cursor_ = 0;
    Connection& c = *connections_[timer_cursor_++];
    if (c.endpoint().wait_fd() < 0) {  // nothing signals its close: ask
      const EndpointStatus s = c.endpoint().check_peer();
      if (s == EndpointStatus::kPeerClosed) c.peer_gone("peer closed the connection");
      if (s == EndpointStatus::kError) c.peer_gone("transport error");
    }
    c.on_timer(now);
  }
}

bool Reactor::evict_stalled_holders(Connection& growing, uint64_t now) {
  const uint64_t stalled = us_to_tsc(double(kStalledUs));
  while (reassembly_bytes_ > reassembly_budget_) {
    Connection* victim = nullptr;  // a scan, but only when the budget is passed
    for (auto& c : connections_)
      if (c.get() != &growing && c->reassembly_charged_ > 0 && !c->faulted() &&
          c->heard_at_tsc_ + stalled <= now &&
          (!victim || c->heard_at_tsc_ < victim->heard_at_tsc_))
        victim = c.get();
    if (!victim) return false;
    const size_t held = victim->reassembly_charged_;
    victim->uncharge_reassembly();
    victim->fault(fmt::format("its partial frame ({:.1f} MiB) made no progress for {:.1f} s while "
                              "the lcore's partial frames passed their budget ({} MiB, "
                              "--rx-budget-mb)", double(held) / (1 << 20),
                              tsc_to_seconds(now - victim->heard_at_tsc_), reassembly_budget_ >> 20));
  }
  return true;
}

void Reactor::drop(Connection& c, const std::string& why) {
  ++stats_.connections_faulted;
  dispatcher_.on_fault(c, why);
  take(c);  // destroying it unmaps its rings / closes its socket
}

void Reactor::arrive(std::unique_ptr<Connection> c) {
  if (c->wants_resume())
    resume_here(std::move(c));
  else
    adopt(std::move(c));
}

}  // namespace pollmsgr
