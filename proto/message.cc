#include "proto/message.h"

#include <cstring>

#include "proto/crc32c.h"
#include "proto/wire.h"

namespace pollmsgr::proto {
namespace {
constexpr uint32_t kSegmentCrcSeed = 0xFFFFFFFFu;
}

void encode(uint8_t* out, const MsgHeader2& h) {
  WireWriter w({out, kMsgHeader2Size});
  w.u64(h.seq);
  w.u64(h.tid);
  w.u16(h.type);
  w.u16(h.priority);
  w.u16(h.version);
  w.u32(h.data_pre_padding_len);
  w.u16(h.data_off);
  w.u64(h.ack_seq);
  w.u8(h.flags);
  w.u16(h.compat_version);
  w.u16(h.reserved);
}

MsgHeader2 decode_msg_header2(const uint8_t* in) {
  WireReader r({in, kMsgHeader2Size});
  MsgHeader2 h;
  h.seq = r.u64();
  h.tid = r.u64();
  h.type = r.u16();
  h.priority = r.u16();
  h.version = r.u16();
  h.data_pre_padding_len = r.u32();
  h.data_off = r.u16();
  h.ack_seq = r.u64();
  h.flags = r.u8();
  h.compat_version = r.u16();
  h.reserved = r.u16();
  return h;
}

Result<MessageView> decode_message(const Frame& frame) {
  if (frame.tag() != Tag::kMessage || frame.segments[0].size() != kMsgHeader2Size)
    return ProtoError::kMalformedPayload;
  MessageView m;
  m.header = decode_msg_header2(frame.segments[0].data());
  m.front = frame.segments[1];
  m.middle = frame.segments[2];
  m.data = frame.segments[3];
  return m;
}

size_t message_head_size(size_t front_len, size_t middle_len) {
  return kMessageFrontOffset + front_len + middle_len;
}

Result<MessageFrameHead> encode_message_head(std::span<uint8_t> out, const MsgHeader2& header,
                                             std::span<const uint8_t> front,
                                             std::span<const uint8_t> middle,
                                             std::span<const uint8_t> data, bool data_crc) {
  const size_t head_size = message_head_size(front.size(), middle.size());
  if (out.size() < head_size) return ProtoError::kTxOverflow;

  Preamble p;
  p.tag = Tag::kMessage;
  const size_t lengths[] = {kMsgHeader2Size, front.size(), middle.size(), data.size()};
  p.num_segments = 1;
  for (size_t i = 0; i < kMaxSegments; ++i)
    if (lengths[i]) p.num_segments = static_cast<uint8_t>(i + 1);
  for (size_t i = 0; i < p.num_segments; ++i) {
    p.lengths[i] = static_cast<uint32_t>(lengths[i]);
    p.alignments[i] = i == 3 ? kPageAlignment : kDefaultAlignment;
  }
  write_preamble(out.data(), p);

  uint8_t* hdr = out.data() + kPreambleSize;
  encode(hdr, header);
  store_le<uint32_t>(hdr + kMsgHeader2Size, crc32c(kSegmentCrcSeed, {hdr, kMsgHeader2Size}));
  uint8_t* pos = out.data() + kMessageFrontOffset;
  if (!front.empty() && front.data() != pos) std::memmove(pos, front.data(), front.size());
  pos += front.size();
  if (!middle.empty()) std::memmove(pos, middle.data(), middle.size());

  MessageFrameHead head;
  head.head_size = head_size;
  if (p.num_segments > 1) {
    std::array<uint32_t, 3> crcs{};  // segments past the count are sent as 0
    const std::span<const uint8_t> segs[] = {{out.data() + kMessageFrontOffset, front.size()},
                                             middle, data};
    for (size_t i = 1; i < p.num_segments; ++i)
      crcs[i - 1] = (i == 3 && !data_crc) ? 0 : crc32c(kSegmentCrcSeed, segs[i - 1]);
    write_epilogue(head.epilogue.data(), kLateStatusComplete, crcs);
    head.epilogue_size = kEpilogueSize;
  }
  return head;
}

}  // namespace pollmsgr::proto
