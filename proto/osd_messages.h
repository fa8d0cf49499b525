#pragma once
// Ceph's OSD client messages as Pacific encodes them: MOSDOp (type 42, v8), MOSDOpReply (type 43,
// v8 to v10) and the epochs an MOSDMap (type 41) carries. The layouts follow Ceph's
// src/messages/MOSDOp.h and MOSDOpReply.h and are checked field by field against traffic
// captured between librados and a real ceph-osd. Ops' data travels in the message's data
// segment, op after op (each op's payload_len says how much is its): these encoders write only
// the front, and decoders point into the received frame (no copy).
#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "proto/control_frames.h"
#include "proto/errors.h"

namespace pollmsgr::proto {

inline constexpr uint16_t kMsgOsdMap = 41;      // CEPH_MSG_OSD_MAP
inline constexpr uint16_t kMsgOsdOp = 42;       // CEPH_MSG_OSD_OP
inline constexpr uint16_t kMsgOsdOpReply = 43;  // CEPH_MSG_OSD_OPREPLY
inline constexpr uint16_t kOsdOpHeadVersion = 8, kOsdOpCompatVersion = 3;
inline constexpr uint16_t kOsdOpReplyHeadVersion = 8, kOsdOpReplyCompatVersion = 2;
inline constexpr uint16_t kOsdOpPriority = 63;  // what librados sends (CEPH_MSG_PRIO_LOW)

// CEPH_OSD_OP_*: mode (read 0x1000, write 0x2000) | type (data 0x0200) | number.
namespace osd_op {
inline constexpr uint16_t kRead = 0x1201, kStat = 0x1202, kSparseRead = 0x1205;
// WRITE writes at an offset; WRITEFULL replaces the whole object (its offset is ignored).
inline constexpr uint16_t kWrite = 0x2201, kWriteFull = 0x2202, kTruncate = 0x2203,
                          kZero = 0x2204, kDelete = 0x2205, kAppend = 0x2206, kCreate = 0x220d,
                          kSetAllocHint = 0x2223;
}  // namespace osd_op
// "read", "writefull", "set-alloc-hint", ... or "op 0x1234" for one pollmsgr does not name.
std::string osd_op_name(uint16_t code);

// CEPH_OSD_FLAG_*
inline constexpr uint32_t kOsdFlagAck = 0x1, kOsdFlagOndisk = 0x4, kOsdFlagRead = 0x10,
                          kOsdFlagWrite = 0x20, kOsdFlagKnownRedir = 0x400000;
inline constexpr uint64_t kNoSnap = 0xfffffffffffffffeull;  // CEPH_NOSNAP
inline constexpr size_t kMaxObjectName = 4096;
inline constexpr size_t kMaxOsdOps = 16;  // per message; more is refused as malformed

// One op: struct ceph_osd_op (38 bytes, packed). Extent ops (read, write, writefull, zero)
// use offset/length/truncate_size/truncate_seq; set-alloc-hint reads the same 28 bytes as
// expected_object_size (offset), expected_write_size (length), flags (truncate_size's low half).
// Trivial (no initializers) so that a list of them costs nothing until used: write `OsdOp op{}`.
struct OsdOp {
  uint16_t code;
  uint32_t flags;
  uint64_t offset, length, truncate_size;
  uint32_t truncate_seq;
  uint32_t payload_len;  // bytes of this op's data in the data segment
  int32_t rval;          // replies only: the op's own result

  static OsdOp extent(uint16_t code, uint64_t offset, uint64_t length, uint32_t payload_len);
};

// The PG and the op's place in the cluster's history.
struct Eversion {
  uint64_t version = 0;
  uint32_t epoch = 0;
  bool operator==(const Eversion&) const = default;
};

// Fixed-capacity list of ops, so that decoding allocates nothing (and, on the data path, clears
// nothing: only the first `count` items are set).
struct OsdOpList {
  std::array<OsdOp, kMaxOsdOps> items;
  uint16_t count = 0;
  std::span<const OsdOp> view() const { return {items.data(), count}; }
  bool add(const OsdOp& op);  // false when full
  uint64_t payload_bytes() const;
};

// osd_reqid_t: who asked (entity_name_t) and their tid. librados sends it empty, and the OSD
// then takes client.<gid> from the connection's CLIENT_IDENT and the tid from the message
// header: so a client's gid must be its own (from the mon) and its header tids unique.
struct OsdReqId {
  uint8_t name_type = 0;
  int64_t name_num = 0;
  uint64_t tid = 0;
  int32_t inc = 0;
};

struct OsdOpRequest {
  int64_t pool = 0;
  uint32_t pg_seed = 0;  // the PG: pg_seed_of(hash, pg_num)
  uint32_t hash = 0;     // object_hash_rjenkins(object)
  uint32_t osdmap_epoch = 0;
  uint32_t flags = 0;
  OsdReqId reqid;
  uint32_t client_inc = 0;
  Timestamp mtime;
  std::string_view object;           // the name (decoded: points into the frame)
  std::string_view locator_key, nspace;
  OsdOpList ops;
  uint64_t snapid = kNoSnap, snap_seq = 0;
  uint32_t num_snaps = 0;            // the snap ids themselves are skipped when decoding
  int32_t retry_attempt = 0;
  uint64_t features = 0;
};

// Bytes the front needs (so that a caller can reserve it in a tx buffer first).
size_t osd_op_front_size(const OsdOpRequest& op);
// Writes the front into `out`: its length, or 0 when `out` is too small or there is no op.
size_t encode_front(std::span<uint8_t> out, const OsdOpRequest& op);
// Where in that front op `index`'s extent offset lies: a sender can patch it per op.
size_t osd_op_offset_position(const OsdOpRequest& op, size_t index);
// `data_len`: the message's data segment, which the ops' payloads must add up to.
// `header_version` must be 8 (Pacific and later); older encodings are kUnsupportedVersion.
// Decodes into `out` (the message is large: no copies on the data path); kOk or why not.
ProtoError decode_osd_op(std::span<const uint8_t> front, uint16_t header_version, size_t data_len,
                         OsdOpRequest& out);

struct OsdOpReply {
  std::string_view object;
  int64_t pool = 0;
  uint32_t pg_seed = 0;
  uint64_t flags = kOsdFlagOndisk;
  int32_t result = 0;
  Eversion bad_replay_version;
  uint32_t osdmap_epoch = 0;
  OsdOpList ops;  // with their rvals; payload_len is the op's data in the reply's data segment
  int32_t retry_attempt = 0;
  Eversion replay_version;
  uint64_t user_version = 0;
};

// The reply an OSD gives `request`, into `out`: the same ops (payload_len 0: no data back),
// `result` in each op's rval too. Version fields are zero, for the caller to set.
void reply_to(const OsdOpRequest& request, int32_t result, uint32_t epoch, OsdOpReply& out);
size_t osd_op_reply_front_size(const OsdOpReply& reply);
size_t encode_front(std::span<uint8_t> out, const OsdOpReply& reply);  // v8; 0 when too small
// Versions 8 to 10. A redirect (the OSD asks to resend elsewhere) is kOsdRedirect: pollmsgr
// does not follow redirects, and never mis-reads one.
ProtoError decode_osd_op_reply(std::span<const uint8_t> front, uint16_t header_version,
                               size_t data_len, OsdOpReply& out);

// MOSDMap: incremental and full maps by epoch, in place (spans into the front; rados/ decodes
// them). The mon sends one on subscription; an OSD when a client's epoch is older than the
// PG's, and drops the op: the newest epoch is what a client resends with.
struct OsdMapMessage {
  std::array<uint8_t, 16> fsid{};
  std::map<uint32_t, std::span<const uint8_t>> incrementals, fulls;
  uint32_t oldest = 0, newest = 0;  // the cluster's, as the sender knows them
  uint32_t first() const;  // of the maps it carries (0 when none)
  uint32_t last() const;
  uint32_t newest_known() const { return newest > last() ? newest : last(); }
};
Result<OsdMapMessage> decode_osd_map(std::span<const uint8_t> front);

}  // namespace pollmsgr::proto
