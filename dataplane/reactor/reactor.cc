// The loop itself: adopt, hand-off, one iteration, housekeeping and timers. The event
// policies' waiting is in reactor_wait.cc; parking and resuming lossless sessions in
// reactor_lossless.cc.
#include "dataplane/reactor/reactor.h"

#include <rte_cycles.h>
#include <rte_pause.h>

#include "dataplane/reactor/owner_check.h"
#include "dataplane/runtime/startup_error.h"
#include "dataplane/runtime/tsc.h"

namespace pollmsgr {
namespace {
constexpr uint64_t kHousekeepingUs = 50;   // adopt hand-offs, drop faulted connections
constexpr uint64_t kPeerCheckUs = 100000;  // is each peer still alive (a syscall for shm)
// An event-driven reactor sleeps: its housekeeping (and timers) run this often at most.
constexpr uint64_t kEventHousekeepingUs = 10000;
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
                                                                 : kEventHousekeepingUs)) {
  connections_.reserve(4096);
  set_up_wait();
  add_timer(kPeerCheckUs, [this](uint64_t) { check_peers(); });
}

Reactor::~Reactor() {
  Connection* c;
  while (inbox_.pop(c)) delete c;  // handed off but never adopted
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

void Reactor::adopt(std::unique_ptr<Connection> c) {
  POLLMSGR_ASSERT_OWNER(this);
  ++stats_.connections_adopted;
  c->attach(&dispatcher_, this, sessions_);
  watch(*c);
  connections_.push_back(std::move(c));
}

void Reactor::enable_resume(std::shared_ptr<SessionDirectory> sessions, uint64_t window_us) {
  sessions_ = std::move(sessions);
  resume_window_ = us_to_tsc(double(window_us));
}

bool Reactor::hand_off(Connection* connection) {
  if (!inbox_.push(connection)) return false;
  wake();  // an event-driven owner may be asleep: to adopt it now
  return true;
}

void Reactor::add_timer(uint64_t period_us, Timer timer) {
  const uint64_t period = us_to_tsc(double(period_us));
  timers_.push_back({period, rte_rdtsc() + period, std::move(timer)});
}

bool Reactor::poll_once() {
  claim_thread();
  const uint64_t start = now_ = rte_rdtsc();
  bool received = false;
  for (auto& c : connections_) received |= c->poll_rx(start);  // 1: rx, parse in place, dispatch
  dispatcher_.on_tick(start);                              // 2: work that is due now
  for (auto& c : connections_) c->flush_tx();              // 3: one doorbell per connection
  now_ = rte_rdtsc();
  ++stats_.iterations;
  stats_.total_cycles += now_ - start;
  if (received) stats_.busy_cycles += now_ - start;
  if (now_ >= next_housekeeping_) {                        // 4: timers on the TSC
    housekeeping(now_);
    next_housekeeping_ = now_ + housekeeping_period_;
    if (exit_when_idle_ && connections_.empty() && parked_.empty()) return false;
  }
  if (!received) {
    if (policy_ == WaitPolicy::kPoll)
      rte_pause();
    else
      wait_for_events();
  }
  return !local_stop_;
}

void Reactor::housekeeping(uint64_t now) {
  Connection* c;
  while (inbox_.pop(c)) arrive(std::unique_ptr<Connection>(c));
  for (size_t i = connections_.size(); i-- > 0;) {
    Connection& conn = *connections_[i];
    if (conn.faulted()) {
      if (conn.resumable())
        park(i, now);
      else
        drop(i, conn.fault_reason());
    } else if (conn.wants_resume()) {
      route_resume(i);
    }
  }
  if (!parked_.empty()) tend_parked(now);
  for (auto& t : timers_)
    if (now >= t.next) {
      t.fn(now);
      t.next = now + t.period;
    }
  for (auto& conn : connections_) conn->on_timer(now);
}

void Reactor::check_peers() {
  for (auto& c : connections_) {
    EndpointStatus s = c->endpoint().check_peer();
    if (s == EndpointStatus::kPeerClosed) c->peer_gone("peer closed the connection");
    if (s == EndpointStatus::kError) c->peer_gone("transport error");
  }
}

std::unique_ptr<Connection> Reactor::take(size_t index) {
  auto c = std::move(connections_[index]);
  connections_[index] = std::move(connections_.back());
  connections_.pop_back();
  return c;
}

void Reactor::drop(size_t index, const std::string& why) {
  ++stats_.connections_faulted;
  unwatch(*connections_[index]);
  dispatcher_.on_fault(*connections_[index], why);
  take(index);  // destroying it unmaps its rings / closes its socket
}

void Reactor::arrive(std::unique_ptr<Connection> c) {
  if (c->wants_resume())
    resume_here(std::move(c));
  else
    adopt(std::move(c));
}

}  // namespace pollmsgr
