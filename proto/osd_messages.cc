#include "proto/osd_messages.h"

#include "proto/wire.h"

namespace pollmsgr::proto {
namespace {

constexpr size_t kCephOsdOpSize = 38;  // struct ceph_osd_op, packed
constexpr size_t kStructHeader = 6;    // u8 version, u8 compat, le32 length
constexpr size_t kPgSize = 17;         // pg_t: version, pool, seed, preferred
constexpr size_t kSpgSize = kStructHeader + kPgSize + 1;
constexpr size_t kReqidSize = kStructHeader + 9 + 8 + 4;  // entity_name_t, tid, inc
constexpr size_t kTraceSize = 24;
constexpr size_t kLocatorBody = 8 + 4 + 4 + 4 + 8;  // pool, preferred, key, nspace, hash
constexpr size_t kEversionSize = 12;

void encode_pg(WireWriter& w, int64_t pool, uint32_t seed) {  // pg_t
  w.u8(1);
  w.s64(pool);
  w.u32(seed);
  w.s32(-1);  // preferred (unused)
}
void decode_pg(WireReader& r, int64_t& pool, uint32_t& seed) {
  if (r.u8() != 1) r.fail();
  pool = r.s64();
  seed = r.u32();
  r.s32();
}

// ceph_osd_op for an extent op: op, flags, {offset, length, truncate_size, truncate_seq},
// payload_len.
void encode_extent_op(WireWriter& w, uint64_t offset, uint64_t length, uint32_t payload_len) {
  w.u16(kOsdOpWrite);
  w.u32(0);
  w.u64(offset);
  w.u64(length);
  w.u64(0);
  w.u32(0);
  w.u32(payload_len);
}

size_t string_size(std::string_view s) { return 4 + s.size(); }

}  // namespace

// Where patch_write_op's fields sit: after spg_t, epoch, flags and the reqid's header and name;
// and inside the op, after the object name and the op count.
constexpr size_t kReqidTidOffset = kSpgSize + 4 + 4 + kStructHeader + 9;
constexpr size_t kObjectOffset = kSpgSize + 4 + 4 + kReqidSize + kTraceSize + 4 + 8 +
                                 kStructHeader + kLocatorBody;
constexpr size_t kExtentOffsetInOp = 2 + 4;  // after the op code and flags

void patch_write_op(std::span<uint8_t> front, size_t object_len, uint64_t tid, uint64_t offset) {
  store_le<uint64_t>(front.data() + kReqidTidOffset, tid);
  store_le<uint64_t>(front.data() + kObjectOffset + 4 + object_len + 2 + kExtentOffsetInOp, offset);
}

size_t osd_write_op_front_size(const OsdWriteOp& op) {
  return kSpgSize + 4 /* epoch */ + 4 /* flags */ + kReqidSize + kTraceSize +
         4 /* client_inc */ + 8 /* mtime */ + kStructHeader + kLocatorBody +
         string_size(op.object) + 2 /* op count */ + kCephOsdOpSize + 8 /* snapid */ +
         8 /* snap_seq */ + 4 /* snaps */ + 4 /* retry */ + 8 /* features */;
}

size_t encode_front(std::span<uint8_t> out, const OsdWriteOp& op) {
  WireWriter w(out);
  // spg_t: struct header, pg_t, shard
  w.u8(1);
  w.u8(1);
  w.u32(kPgSize + 1);
  encode_pg(w, op.pool, op.pg_seed);
  w.u8(0xff);  // shard: none
  w.u32(op.osdmap_epoch);
  w.u32(op.flags);
  // osd_reqid_t: struct header, entity_name_t (type, num), tid, inc
  w.u8(2);
  w.u8(2);
  w.u32(kReqidSize - kStructHeader);
  w.u8(8);  // CEPH_ENTITY_TYPE_CLIENT
  w.s64(op.client_id);
  w.u64(op.tid);
  w.s32(0);
  for (int i = 0; i < 3; ++i) w.u64(0);  // blkin trace: none
  w.s32(0);                              // client_inc
  w.u32(op.mtime_sec);
  w.u32(op.mtime_nsec);
  // object_locator_t: struct header, pool, preferred, key, namespace, hash
  w.u8(6);
  w.u8(3);
  w.u32(kLocatorBody);
  w.s64(op.pool);
  w.s32(-1);
  w.string("");
  w.string("");
  w.s64(-1);
  w.string(op.object);  // object_t
  w.u16(1);             // one op
  encode_extent_op(w, op.offset, op.length, static_cast<uint32_t>(op.length));
  w.u64(0xfffffffffffffffeull);  // snapid: CEPH_NOSNAP
  w.u64(0);                      // snap_seq
  w.u32(0);                      // snaps: none
  w.s32(0);                      // retry_attempt
  w.u64(0);                      // features
  return w.ok() ? w.size() : 0;
}

Result<OsdWriteOp> decode_osd_write_op(std::span<const uint8_t> front) {
  WireReader r(front);
  OsdWriteOp op;
  r.u8();
  r.u8();
  r.u32();
  decode_pg(r, op.pool, op.pg_seed);
  r.u8();
  op.osdmap_epoch = r.u32();
  op.flags = r.u32();
  r.u8();
  r.u8();
  r.u32();
  r.u8();
  op.client_id = r.s64();
  op.tid = r.u64();
  r.s32();
  r.bytes(kTraceSize);
  r.s32();
  op.mtime_sec = r.u32();
  op.mtime_nsec = r.u32();
  r.bytes(kStructHeader);  // locator header
  r.s64();
  r.s32();
  r.string();
  r.string();
  r.s64();
  op.object = r.string();
  if (r.u16() != 1 || r.u16() != kOsdOpWrite || op.object.size() > kMaxObjectName)
    return ProtoError::kMalformedPayload;
  r.u32();
  op.offset = r.u64();
  op.length = r.u64();
  r.u64();
  r.u32();
  if (r.u32() != op.length) return ProtoError::kMalformedPayload;
  r.u64();
  r.u64();
  if (r.u32() != 0) return ProtoError::kMalformedPayload;  // no snaps in our writes
  r.s32();
  r.u64();
  if (!r.ok()) return ProtoError::kMalformedPayload;
  return op;
}

size_t osd_op_reply_front_size(const OsdOpReply& reply) {
  return string_size(reply.object) + kPgSize + 8 /* flags */ + 4 /* result */ + kEversionSize +
         4 /* epoch */ + 4 /* op count */ + kCephOsdOpSize + 4 /* retry */ + 4 /* rval */ +
         kEversionSize + 8 /* user version */ + 1 /* redirect */ + kTraceSize;
}

size_t encode_front(std::span<uint8_t> out, const OsdOpReply& reply) {
  WireWriter w(out);
  w.string(reply.object);
  encode_pg(w, reply.pool, reply.pg_seed);
  w.u64(reply.flags);
  w.s32(reply.result);
  w.u64(0);  // bad_replay_version: eversion_t
  w.u32(0);
  w.u32(reply.osdmap_epoch);
  w.u32(1);  // one op
  encode_extent_op(w, 0, 0, 0);
  w.s32(0);             // retry_attempt
  w.s32(reply.result);  // the op's rval
  w.u64(reply.version);  // replay_version
  w.u32(reply.osdmap_epoch);
  w.u64(reply.version);  // user_version
  w.u8(0);               // no redirect
  for (int i = 0; i < 3; ++i) w.u64(0);  // trace
  return w.ok() ? w.size() : 0;
}

Result<OsdOpReply> decode_osd_op_reply(std::span<const uint8_t> front) {
  WireReader r(front);
  OsdOpReply reply;
  reply.object = r.string();
  decode_pg(r, reply.pool, reply.pg_seed);
  reply.flags = r.u64();
  reply.result = r.s32();
  r.u64();
  r.u32();
  reply.osdmap_epoch = r.u32();
  if (r.u32() != 1) return ProtoError::kMalformedPayload;
  r.bytes(kCephOsdOpSize);
  r.s32();
  r.s32();
  reply.version = r.u64();
  r.u32();
  r.u64();
  r.u8();
  r.bytes(kTraceSize);
  if (!r.ok() || reply.object.size() > kMaxObjectName) return ProtoError::kMalformedPayload;
  return reply;
}

}  // namespace pollmsgr::proto
