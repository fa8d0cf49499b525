#include "apps/osd_client.h"

#include <rte_cycles.h>

#include <cstring>
#include <ctime>
#include <fmt/format.h>

#include "proto/object_hash.h"

namespace pollmsgr::perf {

using Phase = OsdJob::Phase;

OsdClientDispatcher::OsdClientDispatcher(const OsdWorkload& w, Reactor*& reactor)
    : w_(w), reactor_(reactor), epoch_(w.osdmap_epoch), trips_(w.warmup_end) {}

void OsdClientDispatcher::add(OsdJob* job) {
  job->conn->user = job;
  job->slots.assign(2 * size_t{w_.concurrency}, {});
  job->front.resize(1024 + sizeof(name_));
  job->tid_base = uint64_t{job->index} << 40;  // one reqid space per client: unique tids
  job->phase = w_.op == OsdOpKind::kRead ? Phase::kPrefill : Phase::kMeasured;
  for (uint64_t id = 0; job->object_ids.size() < w_.objects; ++id)
    job->object_ids.push_back(id = next_on_osd(*job, id));
  jobs_.push_back(job);
}

void OsdClientDispatcher::on_ready(Connection& c) {
  static_cast<OsdJob*>(c.user)->next_send = rte_rdtsc();
}

bool OsdClientDispatcher::on_this_osd(const OsdJob& j, uint64_t object) const {
  if (w_.primary_of_pg.empty()) return true;
  const uint32_t hash = proto::object_hash_rjenkins(object_name(j, object));
  return w_.primary_of_pg[proto::pg_seed_of(hash, w_.pg_num)] == j.osd;
}

uint64_t OsdClientDispatcher::next_on_osd(const OsdJob& j, uint64_t from) const {
  while (!on_this_osd(j, from)) ++from;
  return from;
}

std::string_view OsdClientDispatcher::object_name(const OsdJob& j, uint64_t object) const {
  auto r = fmt::format_to_n(name_, sizeof(name_), "{}.{}.{}", w_.object_prefix, j.index, object);
  return {name_, std::min(r.size, sizeof(name_))};
}

std::string_view OsdClientDispatcher::cached_name(OsdJob& j, uint64_t object) const {
  if (j.name_object != object) {
    const std::string_view n = object_name(j, object);
    j.name_len = std::min(n.size(), sizeof(j.name));
    std::memcpy(j.name, n.data(), j.name_len);
    j.name_object = object;
  }
  return {j.name, j.name_len};
}

uint16_t OsdClientDispatcher::op_code(Phase phase) const {
  if (phase == Phase::kPrefill) return proto::osd_op::kWriteFull;
  if (phase == Phase::kCleanup) return proto::osd_op::kDelete;
  switch (w_.op) {
    case OsdOpKind::kWrite: return proto::osd_op::kWrite;
    case OsdOpKind::kWriteFull: return proto::osd_op::kWriteFull;
    case OsdOpKind::kRead: return proto::osd_op::kRead;
  }
  return 0;
}

bool OsdClientDispatcher::sending_done(const OsdJob& j, uint64_t now) const {
  switch (j.phase) {
    case Phase::kPrefill: return j.phase_ops >= w_.objects || stopping_;
    case Phase::kMeasured:
      return (w_.ios && j.sent >= w_.ios) || (w_.send_end && now >= w_.send_end) || stopping_;
    case Phase::kCleanup:
      return w_.objects ? j.phase_ops >= w_.objects : next_on_osd(j, j.phase_ops) >= j.next_object;
    case Phase::kDone: return true;
  }
  return true;
}

void OsdClientDispatcher::next_phase(OsdJob& j) {
  j.phase_ops = 0;
  if (j.phase == Phase::kPrefill) {
    j.phase = Phase::kMeasured;
    return;
  }
  j.phase = j.phase == Phase::kMeasured && w_.cleanup ? Phase::kCleanup : Phase::kDone;
  if (j.phase != Phase::kDone) return;
  if (j.conn->session().lossless()) j.conn->close();  // or the server keeps it a while
  if (++finished_ == jobs_.size()) reactor_->request_stop();
}

void OsdClientDispatcher::check_timeouts(uint64_t now) {
  next_timeout_check_ = now + w_.op_timeout_cycles / 16;
  for (OsdJob* j : jobs_) {
    if (j->inflight == 0 || j->phase == Phase::kDone || !j->conn) continue;
    const OsdJob::Slot& oldest = j->slot(j->expected_seq);
    if (now - oldest.sent_at > w_.op_timeout_cycles)
      fail(*j->conn, fmt::format("no reply to tid {} ({} of {}) within {:.0f} s; a Ceph OSD drops "
                                 "writes when it is full (ceph osd df) and ops whose epoch it "
                                 "does not have yet", j->tid_base + j->expected_seq,
                                 proto::osd_op_name(oldest.code), object_name(*j, oldest.object),
                                 double(w_.op_timeout_cycles) / double(rte_get_tsc_hz())));
  }
}

void OsdClientDispatcher::on_tick(uint64_t now) {
  if (w_.op_timeout_cycles && now >= next_timeout_check_) check_timeouts(now);
  for (OsdJob* j : jobs_) {
    if (j->phase == Phase::kDone || !j->conn->ready()) continue;
    if (sending_done(*j, now) && j->inflight == 0) next_phase(*j);
    while (j->phase != Phase::kDone && j->can_send(w_.concurrency) && now >= j->next_send &&
           !sending_done(*j, now)) {
      if (!send_op(*j, now)) break;
      if (w_.think_cycles && j->phase == Phase::kMeasured) j->next_send = now + w_.think_cycles;
    }
  }
}

uint64_t OsdClientDispatcher::next_due_tsc() const {
  uint64_t due = UINT64_MAX;
  const uint64_t now = rte_rdtsc();
  for (const OsdJob* j : jobs_)
    if (j->phase != Phase::kDone && j->conn->ready() && j->can_send(w_.concurrency) &&
        !sending_done(*j, now))
      due = std::min(due, j->next_send);
  return due;
}

bool OsdClientDispatcher::send_op(OsdJob& j, uint64_t now) {
  uint64_t object = 0, offset = 0;
  uint64_t next_object = j.next_object, phase_ops = j.phase_ops + 1;
  if (w_.objects == 0) {  // a new object per op (and, cleaning up, each of them again)
    if (j.phase == Phase::kCleanup) {
      object = next_on_osd(j, j.phase_ops);
      phase_ops = object + 1;
    } else {
      object = next_object = next_on_osd(j, j.next_object);
      ++next_object;
    }
  } else if (j.phase == Phase::kMeasured) {
    object = j.object_ids[j.sent % w_.objects];
    if (w_.op == OsdOpKind::kWrite)
      offset = (j.sent / w_.objects * w_.payload.size()) % w_.object_span;
  } else {
    object = j.object_ids[j.phase_ops];
  }
  j.slot(j.next_seq) = {now, object, offset, op_code(j.phase), j.phase};
  if (!transmit(j, j.next_seq, 0)) return false;
  ++j.next_seq;
  ++j.inflight;
  j.next_object = next_object;
  j.phase_ops = phase_ops;
  if (j.phase == Phase::kMeasured) ++j.sent;
  return true;
}

// The slow path of transmit: a whole front for a new object, op, epoch or retry.
void OsdClientDispatcher::encode_front(OsdJob& j, const OsdJob::Slot& s, uint32_t retry) {
  const uint32_t len = static_cast<uint32_t>(w_.payload.size());
  proto::OsdOpRequest op;
  op.object = cached_name(j, s.object);
  op.hash = proto::object_hash_rjenkins(op.object);
  op.pool = w_.pool;
  op.pg_seed = proto::pg_seed_of(op.hash, w_.pg_num);
  op.osdmap_epoch = epoch_;
  op.flags = proto::kOsdFlagOndisk | proto::kOsdFlagKnownRedir |
             (s.code == proto::osd_op::kRead ? proto::kOsdFlagRead : proto::kOsdFlagWrite);
  op.retry_attempt = static_cast<int32_t>(retry);
  op.features = proto::kDefaultFeatures;
  if (s.code == proto::osd_op::kRead)
    op.ops.add(proto::OsdOp::extent(s.code, 0, len, 0));
  else if (s.code == proto::osd_op::kWrite || s.code == proto::osd_op::kWriteFull)
    op.ops.add(proto::OsdOp::extent(s.code, s.offset, len, len));
  else
    op.ops.add(proto::OsdOp::extent(s.code, 0, 0, 0));
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  op.mtime = {static_cast<uint32_t>(now.tv_sec), static_cast<uint32_t>(now.tv_nsec)};
  j.front_len = proto::encode_front(j.front, op);
  j.front_offset_at = proto::osd_op_offset_position(op, 0);
  j.front_object = retry ? UINT64_MAX : s.object;
  j.front_code = s.code;
  j.front_epoch = epoch_;
}

bool OsdClientDispatcher::transmit(OsdJob& j, uint64_t seq, uint32_t retry) {
  OsdJob::Slot& s = j.slot(seq);
  s.epoch = epoch_;
  const bool writes = s.code == proto::osd_op::kWrite || s.code == proto::osd_op::kWriteFull;
  if (retry == 0 && j.front_object == s.object && j.front_code == s.code && j.front_epoch == epoch_)
    proto::store_le<uint64_t>(j.front.data() + j.front_offset_at, s.offset);  // only the offset moves
  else
    encode_front(j, s, retry);
  size_t front_len = j.front_len;
  if (seq == w_.bad_op_at && j.index == 0) {
    // The layout bug of old, on purpose: the object hash after the spg_t left out. (Cutting
    // the tail instead would pass Ceph's first decoding step and crash the OSD in its second.)
    constexpr size_t kHashAt = 24;
    std::memmove(&j.front[kHashAt], &j.front[kHashAt + 4], front_len - kHashAt - 4);
    front_len -= 4;
    j.front_object = UINT64_MAX;
  }
  auto st = j.conn->send({proto::kMsgOsdOp, j.tid_base + seq, {j.front.data(), front_len},
                          writes ? w_.payload : std::span<const uint8_t>{}, proto::kOsdOpPriority,
                          proto::kOsdOpHeadVersion, proto::kOsdOpCompatVersion});
  return st == SendStatus::kSent || st == SendStatus::kQueued;
}

void OsdClientDispatcher::fail(Connection& c, std::string why) {
  ++errors_;
  c.fault(std::move(why));
}

void OsdClientDispatcher::on_message(Connection& c, const proto::MessageView& m) {
  OsdJob& j = *static_cast<OsdJob*>(c.user);
  if (m.header.type == proto::kMsgOsdMap) return follow_map(c, m);
  const uint64_t now = rte_rdtsc();
  const uint64_t tid = m.header.tid;
  if (m.header.type != proto::kMsgOsdOpReply)
    return fail(c, fmt::format("unexpected message type {} (tid {})", m.header.type, tid));
  if (tid < j.tid_base || tid - j.tid_base >= j.next_seq)
    return fail(c, fmt::format("a reply to tid {}, which was never sent", tid));
  const uint64_t seq = tid - j.tid_base;
  OsdJob::Slot& s = j.slot(seq);
  if (seq < j.expected_seq || s.answered) {
    if (seq <= j.resent_upto) {  // the first answer came before we resent it: the OSD dedups
      ++duplicates_;
      return;
    }
    return fail(c, fmt::format("tid {} answered twice", tid));
  }
  for (uint64_t earlier = j.expected_seq; earlier < seq; ++earlier)  // only when out of order
    if (const OsdJob::Slot& e = j.slot(earlier); !e.answered && e.object == s.object)
      return fail(c, fmt::format("reply out of order: tid {} answered before tid {}, an earlier "
                                 "op on the same object {} (an OSD keeps one object's ops in "
                                 "order)", tid, j.tid_base + earlier, cached_name(j, s.object)));
  proto::OsdOpReply* reply = &reply_;
  if (auto e = proto::decode_osd_op_reply(m.front, m.header.version, m.data.size(), reply_);
      e != proto::ProtoError::kOk)
    return fail(c, fmt::format("malformed reply to tid {}: {}", tid, to_string(e)));
  const std::string_view object = cached_name(j, s.object);
  auto op = [&] { return proto::osd_op_name(s.code); };
  if (reply->result != 0)
    return fail(c, fmt::format("{} of {} failed: {} ({})", op(), object,
                               std::strerror(-reply->result), reply->result));
  if (reply->object != object)
    return fail(c, fmt::format("the reply to tid {} names object {}, not {}", tid, reply->object,
                               object));
  if (reply->ops.count != 1 || reply->ops.items[0].code != s.code || reply->ops.items[0].rval != 0)
    return fail(c, fmt::format("the reply to tid {} does not answer its {} op", tid, op()));
  if (s.code != proto::osd_op::kRead && s.code != proto::osd_op::kDelete && reply->user_version == 0)
    return fail(c, fmt::format("{} of {} acknowledged without a version", op(), object));
  if (s.code == proto::osd_op::kRead &&
      (m.data.size() != w_.payload.size() ||
       std::memcmp(m.data.data(), w_.payload.data(), m.data.size()) != 0))
    return fail(c, fmt::format("read of {} returned {} bytes that are not what was written", object,
                               m.data.size()));
  s.answered = true;
  while (j.expected_seq < j.next_seq && j.slot(j.expected_seq).answered) ++j.expected_seq;
  --j.inflight;
  ++j.answered;
  if (s.phase == Phase::kCleanup) ++deleted_;
  if (s.phase != Phase::kMeasured) trips_.count_unmeasured();
  if (s.phase == Phase::kMeasured) {
    trips_.record(s.sent_at, now);
    ++j.completed;
    if (w_.think_cycles) j.next_send = now + w_.think_cycles;
  }
  if (w_.inject_faults && ++replies_ % w_.inject_faults == 0)
    c.transport_fault("transport failure injected (--inject-faults)");
}

void OsdClientDispatcher::follow_map(Connection& c, const proto::MessageView& m) {
  auto e = proto::decode_osd_map(m.front);
  if (!e) return fail(c, "the OSD sent an osdmap that does not decode");
  const uint32_t newest = e->newest_known();
  if (newest > epoch_) {
    epoch_ = newest;
    ++maps_followed_;
  }
  // The OSD drops ops sent with an epoch older than its PG's last interval change and sends
  // its map instead: send what went with an older epoch again. An op it did not drop is
  // answered twice (the second from its dedup log), which on_message expects.
  OsdJob& j = *static_cast<OsdJob*>(c.user);
  for (uint64_t seq = j.expected_seq; seq < j.next_seq; ++seq) {
    if (j.slot(seq).answered || j.slot(seq).epoch >= newest) continue;
    if (!transmit(j, seq, 1)) return fail(c, "no room to resend after an osdmap update");
    ++ops_resent_;
    j.resent_upto = seq;
  }
}

void OsdClientDispatcher::on_transport_fault(Connection& c, std::string_view why) {
  if (!w_.quiet)
    fmt::print(stderr, "perf_msgr_client: connection {}: transport failed ({}); the session "
               "waits for a new one\n", c.id(), why);
}

void OsdClientDispatcher::on_fault(Connection& c, std::string_view why) {
  OsdJob& j = *static_cast<OsdJob*>(c.user);
  j.conn = nullptr;  // it is about to go
  if (j.phase != Phase::kDone) {
    ++errors_;
    // A daemon that cannot decode a message closes the connection without a word.
    const bool closed_on_ops = j.inflight > 0 && why.starts_with("peer closed") && j.osd >= 0;
    fmt::print(stderr, "perf_msgr_client: connection {} lost: {}{}\n", c.id(), why,
               closed_on_ops ? fmt::format(" (with {} ops in flight: a Ceph daemon closes the "
                                           "connection on a message it cannot decode; its log "
                                           "says which)", j.inflight)
                             : "");
    j.phase = Phase::kDone;
    if (++finished_ == jobs_.size()) reactor_->request_stop();
  }
}

}  // namespace pollmsgr::perf
