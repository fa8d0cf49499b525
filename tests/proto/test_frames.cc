// Frame encoding against byte vectors built by hand from the msgr2 specification (and, where the
// capture has the same frame, against what Ceph itself sent), round trips, and splits.
#include <gtest/gtest.h>

#include "proto/control_frames.h"
#include "proto/crc32c.h"
#include "proto/message.h"
#include "tests/proto/test_util.h"

namespace pollmsgr::proto {
namespace {

using test::from_hex;

std::vector<uint8_t> frame_bytes(auto const& f) {
  std::vector<uint8_t> out(1024);
  size_t n = encode_frame(out, f);
  out.resize(n);
  return out;
}

// Decodes exactly one frame from `bytes` (fed whole) and returns its segment 0.
std::vector<uint8_t> only_payload(const std::vector<uint8_t>& bytes, Tag expect) {
  FrameDecoder d;
  Frame f;
  std::span<const uint8_t> in(bytes);
  auto step = d.next(in, f);
  EXPECT_TRUE(step.ok()) << to_string(step.error());
  EXPECT_EQ(*step, FrameDecoder::Step::kFrame);
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(f.tag(), expect);
  EXPECT_TRUE(f.in_place);
  return {f.segments[0].begin(), f.segments[0].end()};
}

// The preamble by hand: tag, count, 4 x (le32 len, le16 align), flags, reserved, crc32c (seed 0).
std::vector<uint8_t> hand_preamble(uint8_t tag, uint32_t len0) {
  std::vector<uint8_t> p = {tag, 1};
  for (int i = 0; i < 4; ++i) p.insert(p.end(), 6, 0);
  std::memcpy(p.data() + 2, &len0, 4);
  p[6] = 8;  // alignment 8
  p.insert(p.end(), {0, 0});
  uint32_t crc = crc32c_bytewise(0, p);
  p.insert(p.end(), reinterpret_cast<uint8_t*>(&crc), reinterpret_cast<uint8_t*>(&crc) + 4);
  return p;
}

template <class F>
void expect_control_frame(const F& frame, const char* payload_hex) {
  SCOPED_TRACE(to_string(F::kTag));
  auto payload = from_hex(payload_hex);
  auto expected = hand_preamble(static_cast<uint8_t>(F::kTag), static_cast<uint32_t>(payload.size()));
  expected.insert(expected.end(), payload.begin(), payload.end());
  if (!payload.empty()) {
    uint32_t crc = crc32c_bytewise(0xFFFFFFFF, payload);
    expected.insert(expected.end(), reinterpret_cast<uint8_t*>(&crc),
                    reinterpret_cast<uint8_t*>(&crc) + 4);
  }
  auto bytes = frame_bytes(frame);
  EXPECT_EQ(bytes, expected);
  F back;
  auto decoded_payload = only_payload(bytes, F::kTag);  // back's spans point into it
  ASSERT_TRUE(decode(decoded_payload, back));
  EXPECT_EQ(frame_bytes(back), bytes);  // decode(encode(x)) encodes the same
}

const EntityAddr kMon = EntityAddr::ipv4(EntityAddr::kMsgr2, "127.0.0.1", 13300);
constexpr const char* kMonHex = "01 01 01 1c000000 02000000 00000000 10000000 0200 33f4 7f000001 0000000000000000";

TEST(ControlFrames, MatchHandBuiltVectors) {
  expect_control_frame(HelloFrame{EntityType::kClient, kMon}, (std::string("08") + kMonHex).c_str());
  std::vector<uint8_t> abc = {'a', 'b', 'c'};
  expect_control_frame(AuthRequestFrame{1, {1}, abc}, "01000000 01000000 01000000 03000000 616263");
  expect_control_frame(AuthBadMethodFrame{2, -95, {1}, {1}},
                       "02000000 a1ffffff 01000000 01000000 01000000 01000000");
  expect_control_frame(AuthDoneFrame{0x3715, 1, {}}, "1537000000000000 01000000 00000000");
  expect_control_frame(AuthReplyMoreFrame{abc}, "03000000 616263");
  expect_control_frame(AuthRequestMoreFrame{abc}, "03000000 616263");
  expect_control_frame(CompressionRequestFrame{true, {1, 2}}, "01 02000000 01000000 02000000");
  expect_control_frame(CompressionDoneFrame{false, 0}, "00 00000000");
  expect_control_frame(AuthSignatureFrame{}, "0000000000000000000000000000000000000000000000000000000000000000");
  expect_control_frame(IdentMissingFeaturesFrame{0x10}, "1000000000000000");
  expect_control_frame(Keepalive2Frame{{1, 2}}, "01000000 02000000");
  expect_control_frame(Keepalive2AckFrame{{3, 4}}, "03000000 04000000");
  expect_control_frame(AckFrame{7}, "0700000000000000");
  expect_control_frame(SessionResetFrame{true}, "01");
  expect_control_frame(RetryFrame{5}, "0500000000000000");
  expect_control_frame(RetryGlobalFrame{6}, "0600000000000000");
  expect_control_frame(ReconnectOkFrame{9}, "0900000000000000");
  expect_control_frame(WaitFrame{}, "");
  expect_control_frame(
      ReconnectFrame{{kMon}, 1, 2, 3, 4, 5},
      (std::string("02 01000000") + kMonHex +
       "0100000000000000 0200000000000000 0300000000000000 0400000000000000 0500000000000000")
          .c_str());
  expect_control_frame(
      ClientIdentFrame{{kMon}, kMon, -1, 1, 0x3f, 0x8, 1, 0xabc},
      (std::string("02 01000000") + kMonHex + kMonHex +
       "ffffffffffffffff 0100000000000000 3f00000000000000 0800000000000000 0100000000000000 bc0a000000000000")
          .c_str());
  expect_control_frame(
      ServerIdentFrame{{kMon}, 5, 6, 0x3f, 0x8, 1, 0},
      (std::string("02 01000000") + kMonHex +
       "0500000000000000 0600000000000000 3f00000000000000 0800000000000000 0100000000000000 0000000000000000")
          .c_str());
}

TEST(ControlFrames, ReencodeTheRealClientsFramesByteForByte) {
  // HELLO and CLIENT_IDENT from the capture: decode, encode again, compare with what Ceph sent.
  auto stream = test::read_file(test::data_dir() / "msgr2" / "conn0-c2s.bin");
  std::vector<uint8_t> hello_wire(stream.begin() + 26, stream.begin() + 26 + 72);
  HelloFrame hello;
  ASSERT_TRUE(decode(only_payload(hello_wire, Tag::kHello), hello));
  EXPECT_EQ(hello.entity_type, EntityType::kClient);
  EXPECT_EQ(hello.peer_addr, kMon);
  EXPECT_EQ(frame_bytes(hello), hello_wire);
  std::vector<uint8_t> ident_wire(stream.begin() + 0xf0, stream.begin() + 0xf0 + 32 + 123 + 4);
  ClientIdentFrame ident;
  ASSERT_TRUE(decode(only_payload(ident_wire, Tag::kClientIdent), ident));
  EXPECT_EQ(ident.gid, -1);
  EXPECT_EQ(ident.supported_features, 0x3f01cfbdfffdffffull);
  EXPECT_EQ(ident.required_features, kFeatureMsgAddr2);
  EXPECT_EQ(ident.target_addr, kMon);
  EXPECT_EQ(frame_bytes(ident), ident_wire);
}

TEST(MessageFrames, ReencodeTheRealMonsMessagesByteForByte) {
  // A two-segment message and the four-segment one (empty middle, 72 KiB data, page alignment).
  auto stream = test::read_file(test::data_dir() / "msgr2" / "conn1-s2c.bin");
  for (auto [offset, size] : {std::pair<size_t, size_t>{0x156, 0x25a - 0x156},
                              std::pair<size_t, size_t>{0x911, 0x127ea - 0x911}}) {
    std::vector<uint8_t> wire(stream.begin() + offset, stream.begin() + offset + size);
    FrameDecoder d;
    Frame f;
    std::span<const uint8_t> in(wire);
    ASSERT_TRUE(d.next(in, f).ok());
    auto m = decode_message(f);
    ASSERT_TRUE(m.ok());
    std::vector<uint8_t> out(message_head_size(m->front.size(), m->middle.size()));
    auto head = encode_message_head(out, m->header, m->front, m->middle, m->data);
    ASSERT_TRUE(head.ok());
    out.resize(head->head_size);
    out.insert(out.end(), m->data.begin(), m->data.end());
    out.insert(out.end(), head->epilogue.begin(), head->epilogue.begin() + head->epilogue_size);
    EXPECT_EQ(out, wire) << "message at " << offset;
  }
}

TEST(MessageFrames, TrailingEmptySegmentsAreLeftOut) {
  std::vector<uint8_t> front = {1, 2, 3}, data = {9};
  std::vector<uint8_t> out(256);
  MsgHeader2 h;
  h.type = 42;
  auto only_header = encode_message_head(out, h, {}, {}, {});
  ASSERT_TRUE(only_header.ok());
  EXPECT_EQ(out[1], 1);  // one segment, no epilogue
  EXPECT_EQ(only_header->epilogue_size, 0u);
  EXPECT_EQ(only_header->head_size, kPreambleSize + kMsgHeader2Size + kCrcSize);
  auto with_front = encode_message_head(out, h, front, {}, {});
  EXPECT_EQ(out[1], 2);
  EXPECT_EQ(with_front->epilogue_size, kEpilogueSize);
  auto with_data = encode_message_head(out, h, front, {}, data);
  EXPECT_EQ(out[1], 4);
  // Middle is empty but inside the count: its crc is crc32c(-1, nothing) = 0xFFFFFFFF.
  EXPECT_EQ(load_le<uint32_t>(with_data->epilogue.data() + 5), 0xFFFFFFFFu);
  EXPECT_EQ(load_le<uint16_t>(out.data() + 6 + 18), kPageAlignment);
}

TEST(MessageFrames, TooSmallABufferIsAnErrorNotAnOverrun) {
  std::vector<uint8_t> front(100);
  std::vector<uint8_t> out(message_head_size(100, 0) - 1);
  auto r = encode_message_head(out, MsgHeader2{}, front, {}, {});
  EXPECT_EQ(r.error(), ProtoError::kTxOverflow);
  std::vector<uint8_t> tiny(10);
  EXPECT_EQ(encode_frame(tiny, AckFrame{1}), 0u);
}

// A message frame with every segment, encoded into one buffer.
std::vector<uint8_t> sample_message(size_t data_len) {
  std::vector<uint8_t> front(77), middle(5), data(data_len);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31);
  for (size_t i = 0; i < front.size(); ++i) front[i] = static_cast<uint8_t>(i);
  MsgHeader2 h;
  h.seq = 1;
  h.tid = 99;
  h.type = 42;
  std::vector<uint8_t> out(message_head_size(front.size(), middle.size()));
  auto head = encode_message_head(out, h, front, middle, data);
  out.resize(head->head_size);
  out.insert(out.end(), data.begin(), data.end());
  out.insert(out.end(), head->epilogue.begin(), head->epilogue.end());
  return out;
}

void expect_sample(const Frame& f, size_t data_len) {
  auto m = decode_message(f);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->header.tid, 99u);
  EXPECT_EQ(m->front.size(), 77u);
  EXPECT_EQ(m->front[76], 76);
  EXPECT_EQ(m->middle.size(), 5u);
  ASSERT_EQ(m->data.size(), data_len);
  for (size_t i = 0; i < data_len; ++i)
    ASSERT_EQ(m->data[i], static_cast<uint8_t>(i * 31)) << i;
}

TEST(FrameDecoder, AFrameSplitAtEveryByteBoundary) {
  const auto one = sample_message(300);
  auto wire = one;
  wire.insert(wire.end(), one.begin(), one.end());  // two frames back to back
  for (size_t split = 0; split <= wire.size(); ++split) {
    FrameDecoder d;
    Frame f;
    int frames = 0;
    for (auto chunk : {std::span<const uint8_t>(wire).first(split),
                       std::span<const uint8_t>(wire).subspan(split)}) {
      while (!chunk.empty()) {
        auto step = d.next(chunk, f);
        ASSERT_TRUE(step.ok()) << "split " << split << ": " << to_string(step.error());
        if (*step == FrameDecoder::Step::kNeedMore) break;
        expect_sample(f, 300);
        ++frames;
      }
    }
    EXPECT_EQ(frames, 2) << "split " << split;
    EXPECT_FALSE(d.mid_frame());
  }
}

TEST(FrameDecoder, WholeFramesAreParsedInPlaceSplitOnesReassembled) {
  auto wire = sample_message(64);
  FrameDecoder d;
  Frame f;
  std::span<const uint8_t> whole(wire);
  ASSERT_EQ(*d.next(whole, f), FrameDecoder::Step::kFrame);
  EXPECT_TRUE(f.in_place);
  EXPECT_EQ(f.segments[1].data(), wire.data() + kMessageFrontOffset);  // no copy
  std::span<const uint8_t> first = std::span<const uint8_t>(wire).first(10);
  std::span<const uint8_t> rest = std::span<const uint8_t>(wire).subspan(10);
  EXPECT_EQ(*d.next(first, f), FrameDecoder::Step::kNeedMore);
  EXPECT_TRUE(d.mid_frame());
  ASSERT_EQ(*d.next(rest, f), FrameDecoder::Step::kFrame);
  EXPECT_FALSE(f.in_place);
  expect_sample(f, 64);
  EXPECT_EQ(d.stream_offset(), 2 * wire.size());
}

TEST(FrameDecoder, LargeMessagesUpTo16MiB) {
  auto wire = sample_message(16u << 20);
  FrameDecoder d;
  Frame f;
  std::span<const uint8_t> in(wire);
  ASSERT_EQ(*d.next(in, f), FrameDecoder::Step::kFrame);
  expect_sample(f, 16u << 20);
}

TEST(FrameDecoder, DataCrcCanBeSwitchedOff) {
  std::vector<uint8_t> front = {1}, data(1000, 7);
  std::vector<uint8_t> out(message_head_size(1, 0));
  auto head = encode_message_head(out, MsgHeader2{}, front, {}, data, /*data_crc=*/false);
  EXPECT_EQ(load_le<uint32_t>(head->epilogue.data() + 9), 0u);
  out.resize(head->head_size);
  out.insert(out.end(), data.begin(), data.end());
  out.insert(out.end(), head->epilogue.begin(), head->epilogue.end());
  FrameDecoder checking, trusting({}, /*check_data_crc=*/false);
  Frame f;
  std::span<const uint8_t> a(out), b(out);
  EXPECT_EQ(checking.next(a, f).error(), ProtoError::kBadSegmentCrc);
  EXPECT_TRUE(trusting.next(b, f).ok());
}

}  // namespace
}  // namespace pollmsgr::proto

namespace pollmsgr::proto {
namespace {

TEST(FrameDecoder, APreambleOnlyFrameSplitAcrossChunksIsTakenOnce) {
  // One empty segment: the frame is its 32-byte preamble alone. Split, it once sent the
  // reassembly into an endless loop (found by the crc-fixing fuzzer): a hung lcore.
  std::vector<uint8_t> stream(kPreambleSize);
  Preamble p;
  p.tag = Tag::kWait;
  p.num_segments = 1;
  write_preamble(stream.data(), p);
  std::vector<uint8_t> second(64);
  second.resize(encode_frame(second, AckFrame{7}));
  stream.insert(stream.end(), second.begin(), second.end());
  FrameDecoder d;
  Frame f;
  std::span<const uint8_t> first_half = std::span<const uint8_t>(stream).first(16);
  ASSERT_EQ(*d.next(first_half, f), FrameDecoder::Step::kNeedMore);
  std::span<const uint8_t> rest = std::span<const uint8_t>(stream).subspan(16);
  auto step = d.next(rest, f);
  ASSERT_TRUE(step.ok());
  ASSERT_EQ(*step, FrameDecoder::Step::kFrame);
  EXPECT_EQ(f.tag(), Tag::kWait);
  EXPECT_TRUE(f.segments[0].empty());
  step = d.next(rest, f);
  ASSERT_TRUE(step.ok());
  ASSERT_EQ(*step, FrameDecoder::Step::kFrame);
  EXPECT_EQ(f.tag(), Tag::kAck);
  EXPECT_TRUE(rest.empty());
}

}  // namespace
}  // namespace pollmsgr::proto
