#include "dataplane/reactor/reactor.h"

#include <rte_cycles.h>
#include <rte_pause.h>

namespace pollmsgr {
namespace {
constexpr uint64_t kHousekeepingUs = 50;   // adopt hand-offs, drop faulted connections
constexpr uint64_t kPeerCheckUs = 100000;  // is each peer still alive (a syscall for shm)
}  // namespace

Reactor::Reactor(unsigned lcore, Dispatcher& dispatcher, WaitPolicy policy)
    : lcore_(lcore), dispatcher_(dispatcher), policy_(policy),
      housekeeping_period_(rte_get_tsc_hz() / 1000000 * kHousekeepingUs) {
  connections_.reserve(4096);
  add_timer(kPeerCheckUs, [this](uint64_t) { check_peers(); });
}

Reactor::~Reactor() {
  Connection* c;
  while (inbox_.pop(c)) delete c;  // handed off but never adopted
}

void Reactor::adopt(std::unique_ptr<Connection> c) {
  ++stats_.connections_adopted;
  c->set_dispatcher(&dispatcher_);
  connections_.push_back(std::move(c));
}

void Reactor::add_timer(uint64_t period_us, Timer timer) {
  const uint64_t period = rte_get_tsc_hz() / 1000000 * period_us;
  timers_.push_back({period, rte_rdtsc() + period, std::move(timer)});
}

void Reactor::run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed) && poll_once()) {
  }
}

bool Reactor::poll_once() {
  const uint64_t start = now_ = rte_rdtsc();
  bool received = false;
  for (auto& c : connections_) received |= c->poll_rx();  // 1-3: rx, parse in place, dispatch
  dispatcher_.on_tick(start);                              // work that is due now
  for (auto& c : connections_) c->flush_tx();              // 4: one doorbell per connection
  now_ = rte_rdtsc();
  ++stats_.iterations;
  stats_.total_cycles += now_ - start;
  if (received) stats_.busy_cycles += now_ - start;
  if (now_ >= next_housekeeping_) {                        // 5: timers on the TSC
    housekeeping(now_);
    next_housekeeping_ = now_ + housekeeping_period_;
    if (exit_when_idle_ && connections_.empty()) return false;
  }
  if (!received && policy_ == WaitPolicy::kPoll) rte_pause();
  return !local_stop_;
}

void Reactor::housekeeping(uint64_t now) {
  Connection* c;
  while (inbox_.pop(c)) adopt(std::unique_ptr<Connection>(c));
  for (size_t i = connections_.size(); i-- > 0;) {
    Connection& conn = *connections_[i];
    if (conn.faulted()) drop(i, conn.fault_reason());
  }
  for (auto& t : timers_)
    if (now >= t.next) {
      t.fn(now);
      t.next = now + t.period;
    }
  for (auto& conn : connections_) conn->endpoint().on_timer();
}

void Reactor::check_peers() {
  for (auto& c : connections_) {
    EndpointStatus s = c->endpoint().check_peer();
    if (s == EndpointStatus::kPeerClosed) c->fault("peer closed the connection");
    if (s == EndpointStatus::kError) c->fault("transport error");
  }
}

void Reactor::drop(size_t index, const std::string& why) {
  ++stats_.connections_faulted;
  dispatcher_.on_fault(*connections_[index], why);
  connections_[index] = std::move(connections_.back());
  connections_.pop_back();  // destroying it unmaps its rings / closes its socket
}

}  // namespace pollmsgr
