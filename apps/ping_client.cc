#include "apps/ping_client.h"

#include <fmt/format.h>
#include <rte_cycles.h>

namespace pollmsgr::perf {

void PingDispatcher::add(PingJob* job) {
  job->conn->user = job;
  job->sent_at.assign(w_.concurrency, 0);
  jobs_.push_back(job);
}

void PingDispatcher::on_ready(Connection& c) { static_cast<PingJob*>(c.user)->next_send = rte_rdtsc(); }

void PingDispatcher::on_tick(uint64_t now) {
  for (PingJob* j : jobs_) {
    if (j->done || !j->conn->ready()) continue;
    if (sending_done(*j, now) && j->inflight == 0) finish(*j);
    while (!j->done && j->inflight < w_.concurrency && now >= j->next_send && !sending_done(*j, now)) {
      if (!j->conn->send_keepalive({j->next, 0})) break;
      j->sent_at[j->next % w_.concurrency] = now;
      ++j->next;
      ++j->inflight;
      ++j->sent;
      if (w_.think_cycles) j->next_send = now + w_.think_cycles;
    }
  }
}

uint64_t PingDispatcher::next_due_tsc() const {
  uint64_t due = UINT64_MAX;
  const uint64_t now = rte_rdtsc();
  for (const PingJob* j : jobs_)
    if (!j->done && j->conn->ready() && j->inflight < w_.concurrency && !sending_done(*j, now))
      due = std::min(due, j->next_send);
  return due;
}

void PingDispatcher::on_keepalive_ack(Connection& c, proto::Timestamp stamp) {
  PingJob& j = *static_cast<PingJob*>(c.user);
  const uint64_t now = rte_rdtsc();
  if (stamp.sec != j.expected || stamp.nsec != 0 || j.inflight == 0) {
    ++errors_;
    c.fault(fmt::format("KEEPALIVE2_ACK echoed stamp {}.{}, expected {}.0", stamp.sec, stamp.nsec,
                        j.expected));
    return;
  }
  trips_.record(j.sent_at[j.expected % w_.concurrency], now);
  ++j.expected;
  --j.inflight;
  if (w_.inject_faults && j.expected % w_.inject_faults == 0)
    c.transport_fault("transport failure injected (--inject-faults)");
  if (w_.think_cycles) j.next_send = now + w_.think_cycles;
}

void PingDispatcher::finish(PingJob& j) {
  j.done = true;
  if (++finished_ == jobs_.size()) reactor_->request_stop();
}

void PingDispatcher::on_fault(Connection& c, std::string_view why) {
  PingJob& j = *static_cast<PingJob*>(c.user);
  j.conn = nullptr;
  if (j.done) return;
  ++errors_;
  fmt::print(stderr, "perf_msgr_client: connection {} lost: {}\n", c.id(), why);
  finish(j);
}

}  // namespace pollmsgr::perf
