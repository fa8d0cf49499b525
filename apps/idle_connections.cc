#include "apps/idle_connections.h"

#include <algorithm>

#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"

namespace pollmsgr::perf {

IdleCrowd::IdleCrowd(uint64_t op_interval_cycles, size_t capacity) : interval_(op_interval_cycles) {
  slots_.reserve(capacity);
}

void IdleCrowd::add(Connection* c) {
  if (slots_.size() == slots_.capacity()) throw StartupError("IdleCrowd: more than its capacity", 1);
  slots_.push_back({c, 0});
  c->user = &slots_.back();
}

bool IdleCrowd::ping(Slot& s) {
  if (!s.conn->send_keepalive({static_cast<uint32_t>(sent_), 0})) return false;
  ++sent_;
  return true;
}

void IdleCrowd::on_ready(Connection& c) {
  Slot& s = *static_cast<Slot*>(c.user);
  if (!ping(s)) unsent_.push_back(&s);
}

void IdleCrowd::on_keepalive_ack(Connection& c, proto::Timestamp) {
  Slot& s = *static_cast<Slot*>(c.user);
  if (s.answered++ == 0) ++answering_;
  ++answered_;
}

void IdleCrowd::on_fault(Connection& c, std::string_view why) {
  static_cast<Slot*>(c.user)->conn = nullptr;  // about to go
  if (++lost_ <= 10)
    fmt::print(stderr, "perf_msgr_client: idle connection {} lost: {}\n", c.id(), why);
  else if (lost_ == 11)
    fmt::print(stderr, "perf_msgr_client: (more idle connections lost: counted, not shown)\n");
}

// After the first round trips, the crowd's ops are spread evenly: one every interval / N.
void IdleCrowd::on_tick(uint64_t now) {
  while (!unsent_.empty() && (!unsent_.back()->conn || ping(*unsent_.back()))) unsent_.pop_back();
  if (interval_ == 0 || slots_.empty() || now < next_op_ || !settled()) return;
  const uint64_t step = std::max<uint64_t>(1, interval_ / slots_.size());
  if (next_op_ == 0) next_op_ = now;
  for (size_t tries = 0; now >= next_op_ && tries < slots_.size(); ++tries) {
    Slot& s = slots_[cursor_];
    cursor_ = (cursor_ + 1) % slots_.size();
    if (!s.conn || !s.conn->ready()) continue;
    ping(s);
    next_op_ += step;
  }
  if (now >= next_op_) next_op_ = now + step;  // fell behind: no burst to catch up
}

uint64_t IdleCrowd::next_due_tsc() const {
  return interval_ && settled() && !slots_.empty() ? next_op_ : UINT64_MAX;
}

void CrowdRouter::on_ready(Connection& c) {
  crowd_.owns(c) ? crowd_.on_ready(c) : work_.on_ready(c);
}
void CrowdRouter::on_message(Connection& c, const proto::MessageView& m) {
  if (!crowd_.owns(c)) work_.on_message(c, m);  // the crowd asks for nothing else
}
void CrowdRouter::on_keepalive_ack(Connection& c, proto::Timestamp stamp) {
  crowd_.owns(c) ? crowd_.on_keepalive_ack(c, stamp) : work_.on_keepalive_ack(c, stamp);
}
void CrowdRouter::on_resumed(Connection& c, uint64_t outage) {
  if (!crowd_.owns(c)) work_.on_resumed(c, outage);
}
void CrowdRouter::on_transport_fault(Connection& c, std::string_view why) {
  if (!crowd_.owns(c)) work_.on_transport_fault(c, why);
}
void CrowdRouter::on_fault(Connection& c, std::string_view why) {
  crowd_.owns(c) ? crowd_.on_fault(c, why) : work_.on_fault(c, why);
}
void CrowdRouter::on_tick(uint64_t now) {
  crowd_.on_tick(now);
  if (started_) work_.on_tick(now);
}
uint64_t CrowdRouter::next_due_tsc() const {
  const uint64_t crowd = crowd_.next_due_tsc();
  return std::min(crowd, started_ ? work_.next_due_tsc() : UINT64_MAX);
}

}  // namespace pollmsgr::perf
