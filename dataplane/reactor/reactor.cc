#include "dataplane/reactor/reactor.h"

#include <rte_cycles.h>
#include <rte_pause.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"

namespace pollmsgr {
namespace {
constexpr uint64_t kHousekeepingUs = 50;   // adopt hand-offs, drop faulted connections
constexpr uint64_t kPeerCheckUs = 100000;  // is each peer still alive (a syscall for shm)
// An event-driven reactor sleeps: its housekeeping (and timers) run this often at most.
constexpr uint64_t kEventHousekeepingUs = 10000;
constexpr uint64_t kWakeTag = UINT64_MAX;  // epoll data of the worker's doorbell
// A lossless client dials again at once, then backs off up to this (its window still applies).
constexpr uint64_t kFirstRedialUs = 1000, kMaxRedialUs = 1000000;

void ring(int eventfd_fd) {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t r = write(eventfd_fd, &one, sizeof(one));
}
void drain(int eventfd_fd) {
  uint64_t count;
  [[maybe_unused]] ssize_t r = read(eventfd_fd, &count, sizeof(count));
}
UniqueFd watched_eventfd(int epoll_fd, uint64_t tag, int flags) {
  UniqueFd fd(eventfd(0, EFD_CLOEXEC | flags));
  epoll_event ev{EPOLLIN, {.u64 = tag}};
  if (!fd || (epoll_fd >= 0 && epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd.get(), &ev) != 0))
    throw StartupError(std::string("event mode: cannot set up an eventfd: ") + strerror(errno), 1);
  return fd;
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
      housekeeping_period_(rte_get_tsc_hz() / 1000000 *
                           (policy == WaitPolicy::kPoll ? kHousekeepingUs : kEventHousekeepingUs)) {
  connections_.reserve(4096);
  if (policy_ != WaitPolicy::kPoll) {
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) throw StartupError(std::string("event mode: epoll_create1: ") + strerror(errno), 1);
    // The worker blocks on the whole set itself, or (hand-off) only on its doorbell.
    wake_ = watched_eventfd(policy_ == WaitPolicy::kEvent ? epoll_.get() : -1, kWakeTag,
                            EFD_NONBLOCK);
    if (policy_ == WaitPolicy::kEventHandoff) {
      armed_ = watched_eventfd(-1, 0, 0);  // blocking: the helper sleeps on it
      helper_stop_ = watched_eventfd(epoll_.get(), 0, EFD_NONBLOCK);  // ends its epoll_wait
    }
  }
  add_timer(kPeerCheckUs, [this](uint64_t) { check_peers(); });
}

Reactor::~Reactor() {
  Connection* c;
  while (inbox_.pop(c)) delete c;  // handed off but never adopted
}

void Reactor::adopt(std::unique_ptr<Connection> c) {
  ++stats_.connections_adopted;
  c->attach(&dispatcher_, this, sessions_);
  watch(*c);
  connections_.push_back(std::move(c));
}

void Reactor::watch(Connection& c) {
  if (!epoll_) return;
  c.endpoint().allow_sleep();
  epoll_event ev{EPOLLIN, {.u64 = 0}};
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.endpoint().wait_fd(), &ev) != 0)
    c.fault("event mode: cannot watch the connection");
}

void Reactor::unwatch(Connection& c) {
  if (epoll_) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.endpoint().wait_fd(), nullptr);
}

void Reactor::enable_resume(std::shared_ptr<SessionDirectory> sessions, uint64_t window_us) {
  sessions_ = std::move(sessions);
  resume_window_ = rte_get_tsc_hz() / 1000000 * window_us;
}

bool Reactor::hand_off(Connection* connection) {
  {
    std::lock_guard lock(inbox_producers_);
    if (!inbox_.push(connection)) return false;
  }
  if (wake_) ring(wake_.get());
  return true;
}

void Reactor::watch_fd(int fd, std::function<void()> on_ready) {
  if (!epoll_) return;
  watched_.push_back(std::move(on_ready));
  epoll_event ev{EPOLLIN, {.u64 = watched_.size()}};
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
    throw StartupError("event mode: cannot watch a listener", 1);
}

void Reactor::add_timer(uint64_t period_us, Timer timer) {
  const uint64_t period = rte_get_tsc_hz() / 1000000 * period_us;
  timers_.push_back({period, rte_rdtsc() + period, std::move(timer)});
}

void Reactor::run(const std::atomic<bool>& stop) {
  // Started here so that it inherits this lcore's affinity: the hop costs a thread switch.
  if (policy_ == WaitPolicy::kEventHandoff) helper_ = std::thread([this] { handoff_loop(); });
  while (!stop.load(std::memory_order_relaxed) && poll_once()) {
  }
  if (helper_.joinable()) {
    helper_stopping_.store(true);
    ring(helper_stop_.get());  // wakes it in epoll_wait
    ring(armed_.get());        // ... or in its wait for the worker to sleep
    helper_.join();
  }
}

bool Reactor::poll_once() {
  const uint64_t start = now_ = rte_rdtsc();
  bool received = false;
  for (auto& c : connections_) received |= c->poll_rx(start);  // 1-3: rx, parse in place, dispatch
  dispatcher_.on_tick(start);                              // work that is due now
  for (auto& c : connections_) c->flush_tx();              // 4: one doorbell per connection
  now_ = rte_rdtsc();
  ++stats_.iterations;
  stats_.total_cycles += now_ - start;
  if (received) stats_.busy_cycles += now_ - start;
  if (now_ >= next_housekeeping_) {                        // 5: timers on the TSC
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

void Reactor::wait_for_events() {
  for (auto& c : connections_)
    if (!c->endpoint().tx_idle() || c->tx_queued() || c->faulted() || c->wants_resume())
      return;  // work left: no sleep
  size_t armed = 0;
  for (; armed < connections_.size(); ++armed)
    if (!connections_[armed]->endpoint().arm_wait()) break;
  if (armed == connections_.size()) {
    ++stats_.sleeps;
    if (block_until(std::min(next_housekeeping_, dispatcher_.next_due_tsc())))
      ++stats_.wakeups;
  }
  for (size_t i = 0; i < armed; ++i) connections_[i]->endpoint().disarm_wait();
}

bool Reactor::block_until(uint64_t deadline) {
  const uint64_t now = rte_rdtsc();
  const uint64_t ns = deadline <= now ? 0
                      : static_cast<uint64_t>(double(deadline - now) * 1e9 / double(rte_get_tsc_hz()));
  const timespec timeout{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  if (policy_ == WaitPolicy::kEventHandoff) {
    ring(armed_.get());  // the helper may now block on the endpoints for us
    pollfd doorbell{wake_.get(), POLLIN, 0};
    if (ppoll(&doorbell, 1, &timeout, nullptr) != 1) return false;
    drain(wake_.get());
    next_housekeeping_ = 0;  // a hand-off may be waiting
    for (auto& on_ready : watched_) on_ready();  // the helper does not say which fd woke
    return true;
  }
  epoll_event events[16];
  const int n = epoll_pwait2(epoll_.get(), events, 16, &timeout, nullptr);
  for (int i = 0; i < n; ++i) {
    const uint64_t tag = events[i].data.u64;
    if (tag == kWakeTag) {
      drain(wake_.get());
      next_housekeeping_ = 0;  // adopt the hand-off now
    } else if (tag > 0) {
      watched_[tag - 1]();
    }
  }
  return n > 0;
}

// The helper thread of kEventHandoff: each time the worker is about to sleep, block in epoll_wait
// on its endpoints and listeners, then wake the worker through its eventfd.
void Reactor::handoff_loop() {
  epoll_event events[16];
  while (!helper_stopping_.load()) {
    drain(armed_.get());  // blocks until the worker sleeps
    // Any return is a wake-up; the stop flag, not the stop fd (which may not be among the
    // first 16 ready fds), decides whether to go on.
    if (!helper_stopping_.load() && epoll_wait(epoll_.get(), events, 16, -1) != 0)
      ring(wake_.get());
  }
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

// --- lossless sessions ---

void Reactor::park(size_t index, uint64_t now) {
  ++stats_.transport_faults;
  unwatch(*connections_[index]);
  std::unique_ptr<Connection> c = take(index);
  std::string why = c->fault_reason();
  dispatcher_.on_transport_fault(*c, why);
  c->drop_transport();
  const uint64_t first = rte_get_tsc_hz() / 1000000 * kFirstRedialUs;
  parked_.push_back({std::move(c), now + resume_window_, now, first, std::move(why), {}});
}

void Reactor::tend_parked(uint64_t now) {
  const uint64_t max_backoff = rte_get_tsc_hz() / 1000000 * kMaxRedialUs;
  const double window_s = double(resume_window_) / double(rte_get_tsc_hz());
  for (size_t i = parked_.size(); i-- > 0;) {
    Parked& p = parked_[i];
    bool gone = false;
    if (p.conn->can_redial() && now >= p.next_dial) {
      if (p.conn->redial(p.last_error)) {
        watch(*p.conn);
        connections_.push_back(std::move(p.conn));
        gone = true;
      } else {
        p.next_dial = now + p.backoff;
        p.backoff = std::min(p.backoff * 2, max_backoff);
      }
    }
    if (!gone && now >= p.deadline) {
      ++stats_.connections_faulted;
      dispatcher_.on_fault(*p.conn,
                           p.conn->can_redial()
                               ? fmt::format("{}; could not reconnect within {:g} s: {}", p.why,
                                             window_s, p.last_error)
                               : fmt::format("{}; the client did not reconnect within {:g} s",
                                             p.why, window_s));
      gone = true;
    }
    if (gone) {
      parked_[i] = std::move(parked_.back());
      parked_.pop_back();
    }
  }
}

// A client asks, on this connection, to resume a session: it may be ours or another lcore's.
void Reactor::route_resume(size_t index) {
  unwatch(*connections_[index]);
  std::unique_ptr<Connection> fresh = take(index);
  Reactor* owner = sessions_ ? sessions_->owner(fresh->session().resume_request().client_cookie)
                             : nullptr;
  // An endpoint that cannot move (rdma) was built on the owner's lcore by the messenger, if the
  // session had an owner then; otherwise it is refused here.
  if (owner && owner != this && fresh->endpoint().movable_between_lcores() &&
      owner->hand_off(fresh.get())) {
    fresh.release();  // the owner resumes the session with it
    return;
  }
  resume_here(std::move(fresh));
}

void Reactor::resume_here(std::unique_ptr<Connection> fresh) {
  const proto::ReconnectFrame& request = fresh->session().resume_request();
  Connection* session = nullptr;
  for (auto& c : connections_)
    if (c->resumes(request)) {
      session = c.get();
      unwatch(*session);  // its transport is replaced
      break;
    }
  for (size_t i = 0; !session && i < parked_.size(); ++i)
    if (parked_[i].conn->resumes(request)) {
      session = parked_[i].conn.get();
      connections_.push_back(std::move(parked_[i].conn));
      parked_[i] = std::move(parked_.back());
      parked_.pop_back();
    }
  if (session) {
    session->resume_from(*fresh);
    watch(*session);
    ++stats_.sessions_resumed;
    return;  // fresh, now without a transport, goes
  }
  fresh->refuse_resume();  // SESSION_RESET: the client learns its session is lost
  fresh->attach(&dispatcher_, this, sessions_);
  watch(*fresh);
  connections_.push_back(std::move(fresh));
}

}  // namespace pollmsgr
