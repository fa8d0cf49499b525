#pragma once
// The perf workload's messages, shaped like Ceph's MOSDOp (type 42, v8 payload) carrying one
// write op, and MOSDOpReply (type 43). The op's payload is the message's data segment: these
// encoders write only the front, and decoding points into the received frame (no copy).
#include <cstdint>
#include <span>
#include <string_view>

#include "proto/errors.h"

namespace pollmsgr::proto {

inline constexpr uint16_t kMsgOsdOp = 42;       // CEPH_MSG_OSD_OP
inline constexpr uint16_t kMsgOsdOpReply = 43;  // CEPH_MSG_OSD_OPREPLY
inline constexpr uint16_t kOsdOpWrite = 0x2202; // CEPH_OSD_OP_WRITE
inline constexpr uint32_t kOsdFlagWrite = 0x20, kOsdFlagOndisk = 0x4;
inline constexpr uint16_t kOsdOpHeadVersion = 8, kOsdOpCompatVersion = 3;
inline constexpr uint16_t kOsdOpReplyHeadVersion = 8, kOsdOpReplyCompatVersion = 2;
inline constexpr size_t kMaxObjectName = 4096;

struct OsdWriteOp {
  int64_t pool = 1;
  uint32_t pg_seed = 0;
  uint32_t osdmap_epoch = 1;
  uint32_t flags = kOsdFlagWrite | kOsdFlagOndisk;
  int64_t client_id = 0;   // reqid: client.<id>
  uint64_t tid = 0;        // reqid tid (also the message header's tid)
  std::string_view object; // object name (points into the frame when decoded)
  uint64_t offset = 0;
  uint64_t length = 0;     // bytes of data; must equal the data segment's length
  uint32_t mtime_sec = 0, mtime_nsec = 0;
};

struct OsdOpReply {
  std::string_view object;
  int64_t pool = 1;
  uint32_t pg_seed = 0;
  uint64_t flags = kOsdFlagOndisk;
  int32_t result = 0;
  uint32_t osdmap_epoch = 1;
  uint64_t version = 0;
};

// Bytes the front needs (so callers can reserve it in a tx buffer first).
size_t osd_write_op_front_size(const OsdWriteOp& op);
size_t osd_op_reply_front_size(const OsdOpReply& reply);
// Write the front into `out`; return its length, or 0 when `out` is too small.
size_t encode_front(std::span<uint8_t> out, const OsdWriteOp& op);
size_t encode_front(std::span<uint8_t> out, const OsdOpReply& reply);
Result<OsdWriteOp> decode_osd_write_op(std::span<const uint8_t> front);
// Rewrites the tid and the write offset of a front encode_front(OsdWriteOp) produced for an op
// with object name length `object_len`: a sender reuses one encoded front for a stream of ops.
void patch_write_op(std::span<uint8_t> front, size_t object_len, uint64_t tid, uint64_t offset);
Result<OsdOpReply> decode_osd_op_reply(std::span<const uint8_t> front);

}  // namespace pollmsgr::proto
