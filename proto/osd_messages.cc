#include "proto/osd_messages.h"

#include <algorithm>

#include <cstdio>

#include "proto/wire.h"

namespace pollmsgr::proto {
namespace {

constexpr size_t kCephOsdOpSize = 38;  // struct ceph_osd_op, packed
constexpr size_t kStructHeader = 6;    // ENCODE_START: u8 version, u8 compat, le32 length
constexpr size_t kPgSize = 17;         // pg_t: u8 version, s64 pool, u32 seed, s32 preferred
constexpr size_t kSpgSize = kStructHeader + kPgSize + 1;  // + shard
constexpr size_t kReqidBody = 9 + 8 + 4;  // entity_name_t, tid, inc
constexpr size_t kTraceSize = 24;         // blkin trace ids: none
constexpr size_t kEversionSize = 12;
constexpr uint8_t kNoShard = 0xff;

size_t string_size(std::string_view s) { return 4 + s.size(); }

void encode_pg(WireWriter& w, int64_t pool, uint32_t seed) {
  w.u8(1);
  w.s64(pool);
  w.u32(seed);
  w.s32(-1);  // preferred: unused since Luminous
}
void decode_pg(WireReader& r, int64_t& pool, uint32_t& seed) {
  if (r.u8() != 1) r.fail();
  pool = r.s64();
  seed = r.u32();
  r.s32();
}

void encode_op(WireWriter& w, const OsdOp& op) {
  w.u16(op.code);
  w.u32(op.flags);
  w.u64(op.offset);
  w.u64(op.length);
  w.u64(op.truncate_size);
  w.u32(op.truncate_seq);
  w.u32(op.payload_len);
}
OsdOp decode_op(WireReader& r) {
  OsdOp op{};
  op.code = r.u16();
  op.flags = r.u32();
  op.offset = r.u64();
  op.length = r.u64();
  op.truncate_size = r.u64();
  op.truncate_seq = r.u32();
  op.payload_len = r.u32();
  return op;
}

void encode_eversion(WireWriter& w, const Eversion& v) {
  w.u64(v.version);
  w.u32(v.epoch);
}
Eversion decode_eversion(WireReader& r) {
  Eversion v;
  v.version = r.u64();
  v.epoch = r.u32();
  return v;
}

// A struct header (ENCODE_START) whose compat version we can read and whose length fits.
bool struct_header(WireReader& r, uint8_t max_compat, uint32_t* length = nullptr) {
  r.u8();
  const uint8_t compat = r.u8();
  const uint32_t len = r.u32();
  if (!r.ok() || compat > max_compat || len > r.remaining()) {
    r.fail();
    return false;
  }
  if (length) *length = len;
  return true;
}

// The ops' payloads must account for the data segment exactly, as Ceph splits it.
bool payloads_match(const OsdOpList& ops, size_t data_len) {
  return ops.payload_bytes() == data_len;
}

}  // namespace

std::string osd_op_name(uint16_t code) {
  switch (code) {
    case osd_op::kRead: return "read";
    case osd_op::kStat: return "stat";
    case osd_op::kSparseRead: return "sparse-read";
    case osd_op::kWrite: return "write";
    case osd_op::kWriteFull: return "writefull";
    case osd_op::kTruncate: return "truncate";
    case osd_op::kZero: return "zero";
    case osd_op::kDelete: return "delete";
    case osd_op::kAppend: return "append";
    case osd_op::kCreate: return "create";
    case osd_op::kSetAllocHint: return "set-alloc-hint";
  }
  char name[16];
  std::snprintf(name, sizeof(name), "op %#06x", code);
  return name;
}

OsdOp OsdOp::extent(uint16_t code, uint64_t offset, uint64_t length, uint32_t payload_len) {
  OsdOp op{};
  op.code = code;
  op.offset = offset;
  op.length = length;
  op.payload_len = payload_len;
  return op;
}

bool OsdOpList::add(const OsdOp& op) {
  if (count == items.size()) return false;
  items[count++] = op;
  return true;
}

uint64_t OsdOpList::payload_bytes() const {
  uint64_t n = 0;
  for (const OsdOp& op : view()) n += op.payload_len;
  return n;
}

// --- MOSDOp v8 ---
//   spg_t | u32 hash | u32 epoch | u32 flags | osd_reqid_t | trace | u32 client_inc |
//   utime mtime | object_locator_t | object_t | u16 n, ceph_osd_op[n] | u64 snapid |
//   u64 snap_seq | u32 n, u64 snaps[n] | s32 retry_attempt | u64 features

namespace {
constexpr size_t kLocatorFixed = 8 + 4 + 8;  // pool, preferred, hash (+ key, nspace strings)
size_t locator_size(const OsdOpRequest& op) {
  return kStructHeader + kLocatorFixed + string_size(op.locator_key) + string_size(op.nspace);
}
// Bytes before the ops' array: everything up to and including the op count.
size_t ops_position(const OsdOpRequest& op) {
  return kSpgSize + 4 + 4 + 4 + kStructHeader + kReqidBody + kTraceSize + 4 + 8 +
         locator_size(op) + string_size(op.object) + 2;
}
}  // namespace

size_t osd_op_front_size(const OsdOpRequest& op) {
  return ops_position(op) + op.ops.count * kCephOsdOpSize + 8 + 8 + 4 + 8 * size_t{op.num_snaps} +
         4 + 8;
}

size_t osd_op_offset_position(const OsdOpRequest& op, size_t index) {
  return ops_position(op) + index * kCephOsdOpSize + 2 + 4;  // after the op's code and flags
}

size_t encode_front(std::span<uint8_t> out, const OsdOpRequest& op) {
  if (op.ops.count == 0 || op.num_snaps != 0) return 0;  // we send no snap contexts
  WireWriter w(out);
  w.u8(1);  // spg_t
  w.u8(1);
  w.u32(kPgSize + 1);
  encode_pg(w, op.pool, op.pg_seed);
  w.u8(kNoShard);
  w.u32(op.hash);
  w.u32(op.osdmap_epoch);
  w.u32(op.flags);
  w.u8(2);  // osd_reqid_t
  w.u8(2);
  w.u32(kReqidBody);
  w.u8(op.reqid.name_type);
  w.s64(op.reqid.name_num);
  w.u64(op.reqid.tid);
  w.s32(op.reqid.inc);
  for (int i = 0; i < 3; ++i) w.u64(0);  // trace
  w.u32(op.client_inc);
  w.u32(op.mtime.sec);
  w.u32(op.mtime.nsec);
  w.u8(6);  // object_locator_t
  w.u8(3);
  w.u32(static_cast<uint32_t>(locator_size(op) - kStructHeader));
  w.s64(op.pool);
  w.s32(-1);  // preferred
  w.string(op.locator_key);
  w.string(op.nspace);
  w.s64(-1);  // hash: from the name
  w.string(op.object);
  w.u16(op.ops.count);
  for (const OsdOp& o : op.ops.view()) encode_op(w, o);
  w.u64(op.snapid);
  w.u64(op.snap_seq);
  w.u32(0);  // snaps
  w.s32(op.retry_attempt);
  w.u64(op.features);
  return w.ok() ? w.size() : 0;
}

ProtoError decode_osd_op(std::span<const uint8_t> front, uint16_t header_version, size_t data_len,
                         OsdOpRequest& op) {
  if (header_version != kOsdOpHeadVersion) return ProtoError::kUnsupportedVersion;
  WireReader r(front);
  op.ops.count = 0;
  struct_header(r, 1);
  decode_pg(r, op.pool, op.pg_seed);
  r.u8();  // shard
  op.hash = r.u32();
  op.osdmap_epoch = r.u32();
  op.flags = r.u32();
  uint32_t reqid_len = 0;
  if (struct_header(r, 2, &reqid_len) && reqid_len != kReqidBody) r.fail();
  op.reqid.name_type = r.u8();
  op.reqid.name_num = r.s64();
  op.reqid.tid = r.u64();
  op.reqid.inc = r.s32();
  r.bytes(kTraceSize);
  op.client_inc = r.u32();
  op.mtime.sec = r.u32();
  op.mtime.nsec = r.u32();
  uint32_t locator_len = 0;
  if (struct_header(r, 6, &locator_len)) {
    const size_t end = r.position() + locator_len;
    r.s64();  // pool: the spg_t's is the one that counts
    r.s32();
    op.locator_key = r.string();
    op.nspace = r.string();
    if (r.position() < end) r.s64();  // hash (v5+)
    if (r.ok() && r.position() <= end) r.bytes(end - r.position());  // newer fields
    else r.fail();
  }
  op.object = r.string();
  const uint16_t n = r.u16();
  if (n == 0 || n > kMaxOsdOps) return ProtoError::kMalformedPayload;
  for (uint16_t i = 0; i < n; ++i) op.ops.add(decode_op(r));
  op.snapid = r.u64();
  op.snap_seq = r.u64();
  op.num_snaps = r.u32();
  if (op.num_snaps > r.remaining() / 8) return ProtoError::kMalformedPayload;
  r.bytes(8 * size_t{op.num_snaps});
  op.retry_attempt = r.s32();
  op.features = r.u64();
  if (!r.ok() || op.object.size() > kMaxObjectName || !payloads_match(op.ops, data_len))
    return ProtoError::kMalformedPayload;
  return ProtoError::kOk;
}

// --- MOSDOpReply v8 (v9 adds a qos phase byte, v10 a temperature) ---
//   object_t | pg_t | u64 flags | s32 result | eversion bad_replay_version | u32 epoch |
//   u32 n, ceph_osd_op[n] | s32 retry_attempt | s32 rval[n] | eversion replay_version |
//   u64 user_version | u8 do_redirect [request_redirect_t] | trace

void reply_to(const OsdOpRequest& request, int32_t result, uint32_t epoch, OsdOpReply& reply) {
  reply.object = request.object;
  reply.pool = request.pool;
  reply.pg_seed = request.pg_seed;
  reply.flags = (request.flags & ~(kOsdFlagOndisk | kOsdFlagAck)) | kOsdFlagOndisk;
  reply.result = result;
  reply.bad_replay_version = reply.replay_version = {};
  reply.user_version = 0;
  reply.osdmap_epoch = epoch;
  reply.retry_attempt = request.retry_attempt;
  reply.ops.count = 0;
  for (OsdOp op : request.ops.view()) {
    op.payload_len = 0;
    op.rval = result;
    reply.ops.add(op);
  }
}

size_t osd_op_reply_front_size(const OsdOpReply& reply) {
  return string_size(reply.object) + kPgSize + 8 + 4 + kEversionSize + 4 + 4 +
         reply.ops.count * (kCephOsdOpSize + 4) + 4 + kEversionSize + 8 + 1 + kTraceSize;
}

size_t encode_front(std::span<uint8_t> out, const OsdOpReply& reply) {
  WireWriter w(out);
  w.string(reply.object);
  encode_pg(w, reply.pool, reply.pg_seed);
  w.u64(reply.flags);
  w.s32(reply.result);
  encode_eversion(w, reply.bad_replay_version);
  w.u32(reply.osdmap_epoch);
  w.u32(reply.ops.count);
  for (const OsdOp& op : reply.ops.view()) encode_op(w, op);
  w.s32(reply.retry_attempt);
  for (const OsdOp& op : reply.ops.view()) w.s32(op.rval);
  encode_eversion(w, reply.replay_version);
  w.u64(reply.user_version);
  w.u8(0);  // no redirect
  for (int i = 0; i < 3; ++i) w.u64(0);  // trace
  return w.ok() ? w.size() : 0;
}

ProtoError decode_osd_op_reply(std::span<const uint8_t> front, uint16_t header_version,
                               size_t data_len, OsdOpReply& reply) {
  if (header_version < 8 || header_version > 10) return ProtoError::kUnsupportedVersion;
  WireReader r(front);
  reply.ops.count = 0;
  reply.object = r.string();
  decode_pg(r, reply.pool, reply.pg_seed);
  reply.flags = r.u64();
  reply.result = r.s32();
  reply.bad_replay_version = decode_eversion(r);
  reply.osdmap_epoch = r.u32();
  const uint32_t n = r.u32();
  if (n > kMaxOsdOps) return ProtoError::kMalformedPayload;
  for (uint32_t i = 0; i < n; ++i) reply.ops.add(decode_op(r));
  reply.retry_attempt = r.s32();
  for (uint32_t i = 0; i < n; ++i) reply.ops.items[i].rval = r.s32();
  reply.replay_version = decode_eversion(r);
  reply.user_version = r.u64();
  const uint8_t redirect = r.u8();
  if (!r.ok()) return ProtoError::kMalformedPayload;
  if (redirect) return ProtoError::kOsdRedirect;
  if (header_version >= 9) r.u8();  // qos phase
  r.bytes(kTraceSize);
  if (header_version >= 10) r.u32();  // temperature
  if (!r.ok() || reply.object.size() > kMaxObjectName || !payloads_match(reply.ops, data_len))
    return ProtoError::kMalformedPayload;
  return ProtoError::kOk;
}

// --- MOSDMap: fsid | map<epoch, bufferlist> incremental | map<epoch, bufferlist> full |
//     u32 oldest | u32 newest (v2+) | ...

uint32_t OsdMapMessage::first() const {
  const uint32_t a = incrementals.empty() ? 0 : incrementals.begin()->first;
  const uint32_t b = fulls.empty() ? 0 : fulls.begin()->first;
  return a && b ? std::min(a, b) : a | b;
}

uint32_t OsdMapMessage::last() const {
  return std::max(incrementals.empty() ? 0 : incrementals.rbegin()->first,
                  fulls.empty() ? 0 : fulls.rbegin()->first);
}

Result<OsdMapMessage> decode_osd_map(std::span<const uint8_t> front) {
  WireReader r(front);
  OsdMapMessage m;
  auto fsid = r.bytes(16);
  if (r.ok()) std::copy(fsid.begin(), fsid.end(), m.fsid.begin());
  for (auto* maps : {&m.incrementals, &m.fulls}) {  // incrementals come first
    for (uint32_t i = 0, n = r.count(8); i < n && r.ok(); ++i) {
      const uint32_t epoch = r.u32();
      (*maps)[epoch] = r.blob();
    }
  }
  if (r.remaining() >= 8) {  // v2 on
    m.oldest = r.u32();
    m.newest = r.u32();
  }
  if (!r.ok()) return ProtoError::kMalformedPayload;
  return m;
}

}  // namespace pollmsgr::proto
