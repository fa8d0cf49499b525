// The event-driven wait policies: what an idle reactor blocks on, and how it is woken. `poll`
// never comes here. `event` blocks in epoll_wait on every connection's wait fd, its listeners and
// its doorbell (an eventfd other lcores ring on a hand-off); `event-handoff` has a helper thread
// block there instead and wake the worker through its doorbell, the extra hop of Ceph's RDMA
// stack.
#include <poll.h>
#include <rte_cycles.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "dataplane/reactor/owner_check.h"
#include "dataplane/reactor/reactor.h"
#include "dataplane/runtime/startup_error.h"

namespace pollmsgr {
namespace {

constexpr uint64_t kWakeTag = UINT64_MAX;  // epoll data of the worker's doorbell

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

void Reactor::set_up_wait() {
  if (policy_ == WaitPolicy::kPoll) return;
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) throw StartupError(std::string("event mode: epoll_create1: ") + strerror(errno), 1);
  // The worker blocks on the whole set itself, or (hand-off) only on its doorbell.
  wake_ = watched_eventfd(policy_ == WaitPolicy::kEvent ? epoll_.get() : -1, kWakeTag, EFD_NONBLOCK);
  if (policy_ == WaitPolicy::kEventHandoff) {
    armed_ = watched_eventfd(-1, 0, 0);  // blocking: the helper sleeps on it
    helper_stop_ = watched_eventfd(epoll_.get(), 0, EFD_NONBLOCK);  // ends its epoll_wait
  }
}

void Reactor::wake() {
  if (wake_) ring(wake_.get());
}

void Reactor::watch_fd(int fd, std::function<void()> on_ready) {
  if (!epoll_) return;
  watched_.push_back(std::move(on_ready));
  epoll_event ev{EPOLLIN, {.u64 = watched_.size()}};
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
    throw StartupError("event mode: cannot watch a listener", 1);
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

void Reactor::run(const std::atomic<bool>& stop) {
  claim_thread();
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

void Reactor::wait_for_events() {
  for (auto& c : connections_)
    if (!c->endpoint().tx_idle() || c->tx_queued() || c->faulted() || c->wants_resume())
      return;  // work left: no sleep
  size_t armed = 0;
  for (; armed < connections_.size(); ++armed)
    if (!connections_[armed]->endpoint().arm_wait()) break;
  if (armed == connections_.size()) {
    ++stats_.sleeps;
    if (block_until(std::min(next_housekeeping_, dispatcher_.next_due_tsc()))) ++stats_.wakeups;
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

}  // namespace pollmsgr
