#pragma once
// The perf client's --ping workload: KEEPALIVE2 round trips, which every msgr2 server answers
// inside its messenger without dispatching (Ceph's AsyncMessenger as much as ours): the same
// client against any server, so that only the server differs. Each job keeps `concurrency`
// keepalives in flight, numbered in their stamps; each answer must echo the next number.
#include <cstdint>
#include <vector>

#include "apps/round_trips.h"
#include "dataplane/messenger/connection.h"
#include "dataplane/reactor/reactor.h"

namespace pollmsgr::perf {

struct PingWorkload {
  unsigned concurrency = 1;
  uint64_t pings = 0;        // per job; 0: until send_end
  uint64_t think_cycles = 0;
  uint64_t warmup_end = 0, send_end = 0;
  uint64_t inject_faults = 0;  // break the transport every this many answers (lossless tests)
};

struct PingJob {
  Connection* conn = nullptr;
  uint32_t next = 1, expected = 1;  // stamp numbers
  unsigned inflight = 0;
  uint64_t sent = 0, next_send = 0;
  std::vector<uint64_t> sent_at;  // by number % concurrency
  bool done = false;
  uint64_t unanswered() const { return next - expected; }
};

class PingDispatcher final : public ClientWorkload {
 public:
  PingDispatcher(const PingWorkload& w, Reactor*& reactor) : w_(w), reactor_(reactor), trips_(w.warmup_end) {}
  void add(PingJob* job);
  void on_ready(Connection& c) override;
  void on_tick(uint64_t now) override;
  uint64_t next_due_tsc() const override;
  void on_message(Connection&, const proto::MessageView&) override { ++other_messages_; }
  void on_keepalive_ack(Connection& c, proto::Timestamp stamp) override;
  void on_fault(Connection& c, std::string_view why) override;

  const RoundTrips& round_trips() const override { return trips_; }
  uint64_t errors() const override { return errors_; }
  uint64_t other_messages() const { return other_messages_; }

 private:
  bool sending_done(const PingJob& j, uint64_t now) const {
    return (w_.pings && j.sent >= w_.pings) || (w_.send_end && now >= w_.send_end) || stopping_;
  }
  void finish(PingJob& j);

  const PingWorkload& w_;
  Reactor*& reactor_;
  std::vector<PingJob*> jobs_;
  RoundTrips trips_;
  uint64_t errors_ = 0, other_messages_ = 0;
  size_t finished_ = 0;
};

}  // namespace pollmsgr::perf
