#pragma once
// MESSAGE frames: segment 0 is ceph_msg_header2 (41 bytes, packed); then front, middle and data.
// Empty trailing segments are left out of the frame, as Ceph does.
#include <array>
#include <cstdint>
#include <span>

#include "proto/errors.h"
#include "proto/frame.h"

namespace pollmsgr::proto {

struct MsgHeader2 {
  uint64_t seq = 0;
  uint64_t tid = 0;
  uint16_t type = 0;
  uint16_t priority = 127;  // CEPH_MSG_PRIO_DEFAULT
  uint16_t version = 1;
  uint32_t data_pre_padding_len = 0;
  uint16_t data_off = 0;
  uint64_t ack_seq = 0;
  uint8_t flags = 3;  // footer flags as Ceph sends them: complete | no crc (msgr2 has frame crcs)
  uint16_t compat_version = 1;
  uint16_t reserved = 0;
};
inline constexpr size_t kMsgHeader2Size = 41;

void encode(uint8_t* out, const MsgHeader2& h);  // exactly kMsgHeader2Size bytes
MsgHeader2 decode_msg_header2(const uint8_t* in);

// A received message: spans into the frame (valid while the frame is).
struct MessageView {
  MsgHeader2 header;
  std::span<const uint8_t> front, middle, data;
};
Result<MessageView> decode_message(const Frame& frame);

// Where an outgoing message frame's pieces go. The data segment is never copied by this layer:
// encode_message_head writes everything before it into `out` and computes its crc by reading it;
// the caller sends head, then data, then the epilogue.
struct MessageFrameHead {
  size_t head_size = 0;                      // bytes written to out
  std::array<uint8_t, kEpilogueSize> epilogue{};
  size_t epilogue_size = 0;                  // 0 or kEpilogueSize
  size_t frame_size(size_t data_len) const { return head_size + data_len + epilogue_size; }
};

// Offset in `out` where the front goes: a caller may build the front there first (no copy).
inline constexpr size_t kMessageFrontOffset = kPreambleSize + kMsgHeader2Size + kCrcSize;
size_t message_head_size(size_t front_len, size_t middle_len);

// Encodes into out (which must hold message_head_size bytes; else kTxOverflow).
// With data_crc false the data segment's crc is sent as 0 (for peers that skip it, like Ceph
// with ms_crc_data off); the receiver must be configured the same.
Result<MessageFrameHead> encode_message_head(std::span<uint8_t> out, const MsgHeader2& header,
                                             std::span<const uint8_t> front,
                                             std::span<const uint8_t> middle,
                                             std::span<const uint8_t> data, bool data_crc = true);

}  // namespace pollmsgr::proto
