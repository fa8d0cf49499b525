#pragma once
// The perf client's OSD workload, one dispatcher per client lcore: each job (a connection)
// keeps `concurrency` MOSDOps in flight and checks every reply: a tid it sent, once, in any
// order across objects (an OSD runs different PGs' ops on different shards) but in order on one;
// result and every op's rval 0; the object it asked about; a version for writes; for reads,
// the bytes it wrote. Against perf_msgr_server or a real ceph-osd (ceph mode: the cluster's
// pool, epoch and PG primaries from the mon, a new object per op as `rados bench` writes, and an
// MOSDMap from the OSD followed by resending what the old epoch may have lost).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dataplane/messenger/connection.h"
#include "dataplane/reactor/reactor.h"
#include "apps/round_trips.h"
#include "proto/osd_messages.h"

namespace pollmsgr::perf {

enum class OsdOpKind : uint8_t { kWrite, kWriteFull, kRead };

struct OsdWorkload {
  OsdOpKind op = OsdOpKind::kWrite;
  unsigned concurrency = 1;
  uint64_t ios = 0;            // measured ops per job; 0: until send_end
  uint64_t think_cycles = 0;
  uint64_t warmup_end = 0;     // TSC; ops completing before it are not measured
  uint64_t send_end = 0;       // TSC; 0: no time limit
  uint64_t inject_faults = 0;  // break the transport every this many replies
  std::span<const uint8_t> payload;  // every write's data; what every read must return
  // Distinct objects a job cycles through (writes move their offset each round, wrapping
  // within object_span); 0: a new object for every op, as `rados bench` writes.
  uint32_t objects = 1;
  uint64_t object_span = 64u << 20;
  bool cleanup = false;  // delete every object written, after the measured ops
  std::string object_prefix;  // names are <prefix>.<job>.<n>
  // Where ops go: the pool and its PGs, and (ceph mode) which OSD is each PG's primary.
  int64_t pool = 1;
  uint32_t pg_num = 1;
  uint32_t osdmap_epoch = 1;
  std::vector<int> primary_of_pg;  // empty: every PG is on the one server
  uint64_t bad_op_at = 0;  // tests: job 0's op with this seq goes out malformed (0: none)
  // An op unanswered this long fails its job (an OSD drops writes when it is full, and ops
  // it is waiting to have a map for): the run ends with an error instead of hanging.
  uint64_t op_timeout_cycles = 0;
  bool quiet = false;  // no line when a lossless session's transport fails
};

struct OsdJob {
  Connection* conn = nullptr;
  unsigned index = 0;
  int osd = -1;  // ceph mode: the OSD this job's objects are on
  enum class Phase : uint8_t { kPrefill, kMeasured, kCleanup, kDone } phase = Phase::kMeasured;
  uint64_t sent = 0, completed = 0;  // measured ops
  uint64_t answered = 0;             // every op answered, prefill and cleanup included
  uint64_t unanswered() const { return inflight; }

  // The job's state; the dispatcher's to touch.
  uint64_t tid_base = 0, next_seq = 1;
  uint64_t expected_seq = 1;  // the oldest op not answered yet
  uint64_t phase_ops = 0;       // ops sent in the current phase
  uint64_t next_object = 0;     // new-object mode: the next name's number
  uint64_t resent_upto = 0;     // seqs up to here were sent again: a second answer is expected
  unsigned inflight = 0;
  uint64_t next_send = 0;
  struct Slot {
    uint64_t sent_at = 0, object = 0, offset = 0;
    uint16_t code = 0;
    Phase phase = Phase::kMeasured;
    uint32_t epoch = 0;  // the osdmap epoch it was last sent with
    bool answered = false;
  };
  std::vector<uint64_t> object_ids;  // the objects it cycles through (objects > 0)
  // By seq % size: twice the concurrency, so that one slow op does not hold back the others.
  std::vector<Slot> slots;
  Slot& slot(uint64_t seq) { return slots[seq % slots.size()]; }
  // Another op may be sent: fewer than `concurrency` in flight, and its slot is free.
  bool can_send(unsigned concurrency) const {
    return inflight < concurrency && next_seq - expected_seq < slots.size();
  }
  // The last op's front: the next op to the same object with the same code and epoch only
  // moves its offset (no encoding, no name, no hash on the common path).
  std::vector<uint8_t> front;
  size_t front_len = 0, front_offset_at = 0;
  uint64_t front_object = UINT64_MAX;
  uint16_t front_code = 0;
  uint32_t front_epoch = 0;
  // The last object name formatted, kept for the replies that name it.
  char name[256];
  size_t name_len = 0;
  uint64_t name_object = UINT64_MAX;
};

class OsdClientDispatcher final : public ClientWorkload {
 public:
  OsdClientDispatcher(const OsdWorkload& w, Reactor*& reactor);
  void add(OsdJob* job);

  void on_ready(Connection& c) override;
  void on_tick(uint64_t now) override;
  uint64_t next_due_tsc() const override;
  void on_message(Connection& c, const proto::MessageView& m) override;
  void on_transport_fault(Connection& c, std::string_view why) override;
  void on_fault(Connection& c, std::string_view why) override;

  const RoundTrips& round_trips() const override { return trips_; }
  uint64_t errors() const override { return errors_; }
  uint64_t maps_followed() const { return maps_followed_; }
  uint64_t ops_resent() const { return ops_resent_; }
  uint64_t duplicate_replies() const { return duplicates_; }
  uint64_t objects_deleted() const { return deleted_; }
  uint32_t epoch() const { return epoch_; }

 private:
  bool sending_done(const OsdJob& j, uint64_t now) const;
  void next_phase(OsdJob& j);
  bool send_op(OsdJob& j, uint64_t now);
  bool transmit(OsdJob& j, uint64_t seq, uint32_t retry);
  [[gnu::noinline]] void encode_front(OsdJob& j, const OsdJob::Slot& s, uint32_t retry);
  // The object number the next op of `j` goes to, and where in it.
  void pick_target(OsdJob& j, uint64_t& object, uint64_t& offset);
  bool on_this_osd(const OsdJob& j, uint64_t object) const;
  // The first object number from `from` on whose PG the job's OSD is primary: names that hash
  // elsewhere are skipped, so that every op of a job goes down its one connection, in order.
  uint64_t next_on_osd(const OsdJob& j, uint64_t from) const;
  std::string_view object_name(const OsdJob& j, uint64_t object) const;
  std::string_view cached_name(OsdJob& j, uint64_t object) const;
  uint16_t op_code(OsdJob::Phase phase) const;
  void follow_map(Connection& c, const proto::MessageView& m);
  void check_timeouts(uint64_t now);
  void fail(Connection& c, std::string why);

  const OsdWorkload& w_;
  Reactor*& reactor_;
  std::vector<OsdJob*> jobs_;
  uint32_t epoch_;
  mutable char name_[256];  // object_name's
  proto::OsdOpReply reply_;  // decoded into, reply after reply: no copies
  RoundTrips trips_;
  uint64_t replies_ = 0, errors_ = 0;
  uint64_t maps_followed_ = 0, ops_resent_ = 0, duplicates_ = 0, deleted_ = 0;
  uint64_t next_timeout_check_ = 0;
  size_t finished_ = 0;
};

}  // namespace pollmsgr::perf
