// Readiness: one epoll set per reactor holds every endpoint's wait fd, edge-triggered and armed
// once (when the connection arrives), so that finding who has something costs one syscall and
// O(ready), never a visit to each connection. In poll mode the set is asked without waiting; in
// `event` the worker blocks in it when nothing is active; `event-handoff` has a helper thread
// block there instead and wake the worker through its doorbell, the extra hop of Ceph's RDMA
// stack.
#include <poll.h>
#include <rte_cycles.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "dataplane/reactor/owner_check.h"
#include "dataplane/reactor/reactor.h"
#include "dataplane/runtime/startup_error.h"

namespace pollmsgr {
namespace {

// epoll data: a connection's watch tag (generation << 32 | slot, generation >= 1), or one of
// these.
constexpr uint64_t kWakeTag = UINT64_MAX;  // the worker's doorbell
constexpr uint64_t kMaxListenerTag = 4096;  // listeners: 1, 2, ...
constexpr uint64_t watch_tag(uint32_t slot, uint32_t generation) {
  return uint64_t(generation) << 32 | slot;
}
constexpr int kEventsPerWait = 64;

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
    throw StartupError(std::string("cannot set up an eventfd: ") + strerror(errno), 1);
  return fd;
}
timespec from_ns(uint64_t ns) {
  return {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
}

}  // namespace

void Reactor::set_up_wait() {
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) throw StartupError(std::string("epoll_create1: ") + strerror(errno), 1);
  // The worker's doorbell is in the set, except with the helper thread (the worker then
  // blocks on the doorbell alone, and the helper on the set).
  wake_ = watched_eventfd(policy_ == WaitPolicy::kEventHandoff ? -1 : epoll_.get(), kWakeTag,
                          EFD_NONBLOCK);
  if (policy_ == WaitPolicy::kEventHandoff) {
    handed_.reserve(1 << 16);  // what the helper takes: no allocation once running
    armed_ = watched_eventfd(-1, 0, 0);  // blocking: the helper sleeps on it
    helper_stop_ = watched_eventfd(epoll_.get(), kWakeTag, EFD_NONBLOCK);  // ends its epoll_wait
  }
}

void Reactor::wake() { ring(wake_.get()); }

void Reactor::watch_fd(int fd, std::function<void()> on_ready) {
  if (fd < 0) return;  // nothing to watch: a timer polls it
  if (watched_.size() + 1 >= kMaxListenerTag) throw StartupError("too many watched fds", 1);
  watched_.push_back(std::move(on_ready));
  epoll_event ev{EPOLLIN, {.u64 = watched_.size()}};
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
    throw StartupError(std::string("cannot watch a listener: ") + strerror(errno), 1);
}

// A connection is known to the set by a slot of watch_slots_ and that slot's generation, not
// by its address: a tag taken before the connection left (the helper thread's, or one later
// in the same batch) then names an empty or reused slot and is dropped, never dereferenced.
void Reactor::watch(Connection& c) {
  const int fd = c.endpoint().wait_fd();
  ReadySource* source = c.endpoint().ready_source();
  if (fd < 0 && !source) {  // polled every iteration instead
    ++unwatched_;
    return;
  }
  if (free_watch_slots_.empty()) {
    free_watch_slots_.push_back(static_cast<uint32_t>(watch_slots_.size()));
    watch_slots_.push_back({nullptr, 1});
  }
  c.watch_slot_ = free_watch_slots_.back();
  free_watch_slots_.pop_back();
  WatchSlot& slot = watch_slots_[c.watch_slot_];
  slot.conn = &c;
  const uint64_t tag = watch_tag(c.watch_slot_, slot.generation);
  epoll_event ev{EPOLLIN | EPOLLRDHUP | EPOLLET, {.u64 = tag}};
  if (fd >= 0 && epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
    c.fault(std::string("cannot watch the connection: ") + strerror(errno));
  if (source) {
    c.endpoint().set_ready_tag(tag);
    watch_source(*source);
  }
}

// A shared source is asked at every readiness check; in the event policies its fd joins the set.
void Reactor::watch_source(ReadySource& source) {
  if (std::find(sources_.begin(), sources_.end(), &source) != sources_.end()) return;
  sources_.push_back(&source);
  if (policy_ != WaitPolicy::kPoll) watch_fd(source.wait_fd(), [&source] { source.acknowledge(); });
}

void Reactor::unwatch(Connection& c) {
  if (!c.has_endpoint()) return;  // never watched
  if (c.watch_slot_ == UINT32_MAX) {
    --unwatched_;
    return;
  }
  if (c.endpoint().wait_fd() >= 0)
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.endpoint().wait_fd(), nullptr);
  WatchSlot& slot = watch_slots_[c.watch_slot_];
  slot.conn = nullptr;
  slot.generation = slot.generation % (1u << 31) + 1;  // stays in [1, 2^31]
  free_watch_slots_.push_back(c.watch_slot_);
  c.watch_slot_ = UINT32_MAX;
}

bool Reactor::wait_ready(uint64_t timeout_ns) {
  uint64_t tags[kEventsPerWait];
  size_t n = 0;
  if (policy_ == WaitPolicy::kEventHandoff) {  // what the helper took for us
    std::lock_guard lock(handed_mutex_);
    n = std::min<size_t>(handed_.size(), kEventsPerWait);
    std::copy(handed_.end() - static_cast<ptrdiff_t>(n), handed_.end(), tags);
    handed_.resize(handed_.size() - n);
  }
  if (n == 0) {
    epoll_event events[kEventsPerWait];
    const timespec timeout = from_ns(timeout_ns);
    const int got = epoll_pwait2(epoll_.get(), events, kEventsPerWait, &timeout, nullptr);
    for (int i = 0; i < got; ++i) tags[n++] = events[i].data.u64;
  }
  const bool signalled = n > 0;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t tag = tags[i];
    if (tag == kWakeTag) {
      drain(wake_.get());
      next_housekeeping_ = 0;  // a hand-off may be waiting: adopt it now
    } else if (tag < kMaxListenerTag) {
      watched_[tag - 1]();
    } else if (Connection* c = watched_connection(tag)) {
      c->endpoint().check_peer();  // doorbell bytes read, a close seen
      activate(*c);
    }
  }
  for (ReadySource* source : sources_)  // what arrived on shared queues, for idle endpoints
    do {
      n = source->take_ready(tags, kEventsPerWait);
      for (size_t i = 0; i < n; ++i)
        if (Connection* c = watched_connection(tags[i])) activate(*c);
    } while (n == kEventsPerWait);
  return signalled;
}

Connection* Reactor::watched_connection(uint64_t tag) const {
  const uint32_t slot = static_cast<uint32_t>(tag);
  if (slot >= watch_slots_.size()) return nullptr;
  const WatchSlot& watched = watch_slots_[slot];
  return watched.generation == tag >> 32 ? watched.conn : nullptr;  // else gone since
}

void Reactor::sleep_if_idle() {
  if (!active_.empty() || !tx_.empty() || !attention_.empty()) return;  // work left
  if (unwatched_ > 0) return;  // connections only polling can hear
  for (ReadySource* source : sources_)
    if (!source->arm()) return;  // something came meanwhile
  const uint64_t deadline = std::min(next_housekeeping_, dispatcher_.next_due_tsc());
  const uint64_t now = rte_rdtsc();
  const uint64_t ns = deadline <= now ? 0
                      : static_cast<uint64_t>(double(deadline - now) * 1e9 / double(rte_get_tsc_hz()));
  ++stats_.sleeps;
  bool woken;
  if (policy_ == WaitPolicy::kEventHandoff) {
    ring(armed_.get());  // the helper may now block on the set for us
    pollfd doorbell{wake_.get(), POLLIN, 0};
    const timespec timeout = from_ns(ns);
    woken = ppoll(&doorbell, 1, &timeout, nullptr) == 1;
    if (woken) {
      drain(wake_.get());
      next_housekeeping_ = 0;  // a hand-off may be waiting
      wait_ready(0);           // what the helper took
    }
  } else {
    woken = wait_ready(ns);
  }
  if (woken) ++stats_.wakeups;
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

// The helper thread of kEventHandoff: each time the worker is about to sleep, block in
// epoll_wait on its set, hand what it took to the worker, and wake it through its eventfd.
void Reactor::handoff_loop() {
  epoll_event events[kEventsPerWait];
  while (!helper_stopping_.load()) {
    drain(armed_.get());  // blocks until the worker sleeps
    if (helper_stopping_.load()) break;
    const int n = epoll_wait(epoll_.get(), events, kEventsPerWait, -1);
    {
      std::lock_guard lock(handed_mutex_);
      for (int i = 0; i < n; ++i)
        if (events[i].data.u64 != kWakeTag) handed_.push_back(events[i].data.u64);  // not the stop fd
    }
    ring(wake_.get());
  }
}

}  // namespace pollmsgr
