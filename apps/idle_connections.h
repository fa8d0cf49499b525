#pragma once
// perf_msgr_client --idle-connections: a crowd of connections beside the measured jobs. Each
// makes one KEEPALIVE2 round trip as soon as its handshake is done (any msgr2 server answers it
// in its messenger), which proves the server serves it; then it stays idle, or makes one every
// --idle-op-interval seconds. The jobs start sending once every connection of the crowd has
// answered (or is lost), so that their latency is measured among the crowd (tools/bench-scale).
#include <cstdint>
#include <vector>

#include "apps/round_trips.h"
#include "dataplane/messenger/connection.h"

namespace pollmsgr::perf {

// One lcore's share of the crowd.
class IdleCrowd {
 public:
  IdleCrowd(uint64_t op_interval_cycles, size_t capacity);
  void add(Connection* c);
  bool owns(const Connection& c) const {
    return c.user >= static_cast<const void*>(slots_.data()) &&
           c.user < static_cast<const void*>(slots_.data() + slots_.size());
  }
  bool settled() const { return answering_ + lost_ >= slots_.size(); }  // each answered, or gone

  void on_ready(Connection& c);
  void on_keepalive_ack(Connection& c, proto::Timestamp);
  void on_fault(Connection& c, std::string_view why);
  void on_tick(uint64_t now);
  uint64_t next_due_tsc() const;

  size_t size() const { return slots_.size(); }
  uint64_t answering() const { return answering_; }  // connections that have answered
  uint64_t lost() const { return lost_; }
  uint64_t sent() const { return sent_; }
  uint64_t answered() const { return answered_; }

 private:
  struct Slot {
    Connection* conn;
    uint64_t answered;
  };
  bool ping(Slot& s);

  uint64_t interval_;  // each connection's op period; 0: idle after its first
  std::vector<Slot> slots_;  // reserved at construction: connections point into it
  std::vector<Slot*> unsent_;  // ready, first keepalive not yet sent (its queue was full)
  size_t cursor_ = 0;
  uint64_t next_op_ = 0;
  uint64_t answering_ = 0, lost_ = 0, sent_ = 0, answered_ = 0;
};

// The reactor's dispatcher when a crowd is there: the crowd's connections to the crowd, the
// jobs' to the workload, whose ticks wait for start().
class CrowdRouter final : public Dispatcher {
 public:
  CrowdRouter(ClientWorkload& work, IdleCrowd& crowd) : work_(work), crowd_(crowd) {}
  void start() { started_ = true; }

  void on_ready(Connection& c) override;
  void on_message(Connection& c, const proto::MessageView& m) override;
  void on_keepalive_ack(Connection& c, proto::Timestamp stamp) override;
  void on_resumed(Connection& c, uint64_t outage) override;
  void on_transport_fault(Connection& c, std::string_view why) override;
  void on_fault(Connection& c, std::string_view why) override;
  void on_tick(uint64_t now) override;
  uint64_t next_due_tsc() const override;

 private:
  ClientWorkload& work_;
  IdleCrowd& crowd_;
  bool started_ = false;
};

}  // namespace pollmsgr::perf
