// Every malformed, truncated, oversized or out-of-state input gets a typed error and faults only
// that session; nothing reads past a buffer (ASan watches) and nothing is sized from the wire.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cerrno>

#include "proto/control_frames.h"
#include "proto/crc32c.h"
#include "proto/session.h"
#include "tests/proto/test_util.h"

namespace pollmsgr::proto {
namespace {

std::vector<uint8_t> frame_of(auto const& f) {
  std::vector<uint8_t> out(1024);
  out.resize(encode_frame(out, f));
  return out;
}

// A whole message frame carrying `data` (encoded by `session` when given: its seq and ack).
std::vector<uint8_t> message_frame(const std::vector<uint8_t>& data, Session* session = nullptr) {
  std::vector<uint8_t> frame(message_head_size(0, 0));
  auto head = session ? session->encode_message(frame, MsgHeader2{}, {}, {}, data)
                      : encode_message_head(frame, MsgHeader2{}, {}, {}, data);
  EXPECT_TRUE(head);
  frame.resize(head->head_size);
  frame.insert(frame.end(), data.begin(), data.end());
  frame.insert(frame.end(), head->epilogue.begin(), head->epilogue.begin() + head->epilogue_size);
  return frame;
}

// Rewrites the preamble's crc after a deliberate edit, so only the edit is wrong.
void fix_preamble_crc(std::vector<uint8_t>& frame) {
  store_le<uint32_t>(frame.data() + 28, crc32c(0, {frame.data(), 28}));
}

ProtoError decode_error(const std::vector<uint8_t>& bytes, FrameLimits limits = {}) {
  FrameDecoder d(limits);
  Frame f;
  std::span<const uint8_t> in(bytes);
  while (!in.empty()) {
    auto step = d.next(in, f);
    if (!step) {
      EXPECT_EQ(d.next(in, f).error(), step.error()) << "a fault must be sticky";
      return step.error();
    }
  }
  return ProtoError::kOk;
}

TEST(BadFrames, PreambleCrc) {
  auto f = frame_of(AckFrame{1});
  f[28] ^= 1;
  EXPECT_EQ(decode_error(f), ProtoError::kBadPreambleCrc);
}

TEST(BadFrames, UnknownTags) {
  for (uint8_t tag : {0, 23, 200}) {
    auto f = frame_of(AckFrame{1});
    f[0] = tag;
    fix_preamble_crc(f);
    EXPECT_EQ(decode_error(f), ProtoError::kBadTag) << int(tag);
  }
}

TEST(BadFrames, SegmentCounts) {
  for (uint8_t count : {0, 5, 255}) {
    auto f = frame_of(AckFrame{1});
    f[1] = count;
    fix_preamble_crc(f);
    EXPECT_EQ(decode_error(f), ProtoError::kBadSegmentCount) << int(count);
  }
  auto f = frame_of(AckFrame{1});
  store_le<uint32_t>(f.data() + 2 + 6 * 2, 4);  // a length for segment 2 of a 1-segment frame
  fix_preamble_crc(f);
  EXPECT_EQ(decode_error(f), ProtoError::kBadSegmentCount);
}

TEST(BadFrames, OversizedSegmentsAndFramesNeverAllocate) {
  auto f = frame_of(AckFrame{1});
  store_le<uint32_t>(f.data() + 2, 0xFFFFFFF0u);  // segment 0 claims ~4 GiB
  fix_preamble_crc(f);
  EXPECT_EQ(decode_error(f), ProtoError::kSegmentTooLarge);
  f = frame_of(AckFrame{1});
  f[1] = 4;
  for (int i = 1; i < 4; ++i) store_le<uint32_t>(f.data() + 2 + 6 * i, 30u << 20);
  fix_preamble_crc(f);
  EXPECT_EQ(decode_error(f, {64u << 20, 80u << 20}), ProtoError::kFrameTooLarge);
  EXPECT_EQ(decode_error(frame_of(AckFrame{1}), {4, 100}), ProtoError::kSegmentTooLarge);
}

// A peer that announces a huge frame and sends it a byte at a time makes us hold what it has
// sent, not what it announced; and the buffer of a large frame does not outlive it.
TEST(BadFrames, ReassemblyFollowsTheBytesThatArrive) {
  FrameDecoder d({64u << 20, 80u << 20});
  auto f = frame_of(AckFrame{1});
  store_le<uint32_t>(f.data() + 2, 60u << 20);  // segment 0 claims 60 MiB
  fix_preamble_crc(f);
  std::vector<uint8_t> stream(f.begin(), f.begin() + kPreambleSize);
  stream.resize(kPreambleSize + 1000, 0x11);
  Frame frame;
  for (size_t at = 0; at < stream.size(); at += 10) {  // in dribbles
    std::span<const uint8_t> in(stream.data() + at, std::min<size_t>(10, stream.size() - at));
    ASSERT_EQ(d.next(in, frame).value(), FrameDecoder::Step::kNeedMore);
  }
  EXPECT_LT(d.reassembly_capacity(), 64u << 10) << "sized from the preamble, not from the bytes";

  FrameDecoder big;  // an honest 6 MiB frame, split: its buffer goes once the next call comes
  std::vector<uint8_t> data(6u << 20, 0x22);
  const auto whole = message_frame(data);
  std::span<const uint8_t> first(whole.data(), 1000), rest(whole.data() + 1000, whole.size() - 1000);
  ASSERT_EQ(big.next(first, frame).value(), FrameDecoder::Step::kNeedMore);
  ASSERT_EQ(big.next(rest, frame).value(), FrameDecoder::Step::kFrame);
  EXPECT_GE(big.reassembly_capacity(), data.size());
  std::span<const uint8_t> nothing;
  EXPECT_EQ(big.next(nothing, frame).value(), FrameDecoder::Step::kNeedMore);
  EXPECT_EQ(big.reassembly_capacity(), 0u);
}

// A large frame's buffer goes back to the kernel with it. Twice, the second frame smaller: the C
// library's malloc, having freed the first one's mapping, would take the second from its heap and
// keep it there after the free (a hostile peer's frames would stay resident).
TEST(BadFrames, ALargeFramesBufferGoesBackToTheKernel) {
  for (const size_t size : {size_t{7} << 20, size_t{5} << 20}) {
    FrameDecoder d;
    const auto whole = message_frame(std::vector<uint8_t>(size, 0x22));
    Frame frame;
    std::span<const uint8_t> first(whole.data(), 1000), rest(whole.data() + 1000, whole.size() - 1000);
    ASSERT_EQ(d.next(first, frame).value(), FrameDecoder::Step::kNeedMore);
    ASSERT_EQ(d.next(rest, frame).value(), FrameDecoder::Step::kFrame);
    ASSERT_FALSE(frame.in_place);
    void* page = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(frame.segments[3].data()) &
                                         ~uintptr_t{4095});
    unsigned char resident = 0;
    ASSERT_EQ(mincore(page, 4096, &resident), 0) << "mapped while the frame is held";
    std::span<const uint8_t> nothing;
    ASSERT_EQ(d.next(nothing, frame).value(), FrameDecoder::Step::kNeedMore);  // frees it
    errno = 0;
    EXPECT_EQ(mincore(page, 4096, &resident), -1) << size << " B: still mapped after its frame";
    EXPECT_EQ(errno, ENOMEM);
  }
}

TEST(BadFrames, SegmentCrc) {
  auto f = frame_of(AckFrame{1});
  f[32] ^= 0x80;  // payload
  EXPECT_EQ(decode_error(f), ProtoError::kBadSegmentCrc);
  f = frame_of(AckFrame{1});
  f.back() ^= 1;  // the crc itself
  EXPECT_EQ(decode_error(f), ProtoError::kBadSegmentCrc);
}

std::vector<uint8_t> two_segment_message() {
  std::vector<uint8_t> front = {1, 2, 3, 4};
  std::vector<uint8_t> out(message_head_size(4, 0));
  auto head = encode_message_head(out, MsgHeader2{}, front, {}, {});
  out.insert(out.end(), head->epilogue.begin(), head->epilogue.end());
  return out;
}

TEST(BadFrames, EpilogueCrcAndLateStatus) {
  auto m = two_segment_message();
  m[m.size() - 12] ^= 1;  // crc of segment 1
  EXPECT_EQ(decode_error(m), ProtoError::kBadSegmentCrc);
  m = two_segment_message();
  m[m.size() - 13] = 0x05;  // neither complete nor aborted
  EXPECT_EQ(decode_error(m), ProtoError::kBadLateStatus);
}

TEST(BadFrames, AnAbortedFrameIsSkippedNotDelivered) {
  auto m = two_segment_message();
  m[m.size() - 13] = kLateStatusAborted;
  FrameDecoder d;
  Frame f;
  std::span<const uint8_t> in(m);
  ASSERT_TRUE(d.next(in, f).ok());
  EXPECT_TRUE(f.aborted);
}

TEST(BadFrames, TruncatedInputWaitsAndNeverReadsPast) {
  auto m = two_segment_message();
  for (size_t n = 0; n < m.size(); ++n) {
    std::vector<uint8_t> cut(m.begin(), m.begin() + n);  // exact-size heap copy: ASan guards
    FrameDecoder d;
    Frame f;
    std::span<const uint8_t> in(cut);
    auto step = d.next(in, f);
    ASSERT_TRUE(step.ok());
    EXPECT_EQ(*step, FrameDecoder::Step::kNeedMore) << n;
  }
}

TEST(BadPayloads, TruncatedControlPayloadsFailToDecode) {
  auto full = frame_of(ClientIdentFrame{{EntityAddr::ipv4(3, "127.0.0.1", 0)},
                                        EntityAddr::ipv4(2, "127.0.0.1", 1), -1, 1, 2, 3, 4, 5});
  std::span<const uint8_t> payload(full.data() + 32, full.size() - 36);
  for (size_t n = 0; n < payload.size(); ++n) {
    std::vector<uint8_t> cut(payload.begin(), payload.begin() + n);
    ClientIdentFrame f;
    EXPECT_FALSE(decode(cut, f)) << n;
  }
  std::vector<uint8_t> many = {2, 0xff, 0xff, 0xff, 0x7f};  // addrvec of 2^31 entries
  ServerIdentFrame s;
  EXPECT_FALSE(decode(many, s));
  std::vector<uint8_t> blob = {1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
  AuthDoneFrame done;  // payload length past the segment
  EXPECT_FALSE(decode(blob, done));
}

// --- the session ---

using Pair = test::SessionPair;

ProtoError feed(Session& s, const std::vector<uint8_t>& bytes) {
  VectorSink out;
  test::RecordingHandler h;
  return s.on_bytes(bytes, out, h);
}

std::vector<uint8_t> banner() {
  std::vector<uint8_t> b(kBannerSize);
  encode_banner(std::span<uint8_t, kBannerSize>(b.data(), kBannerSize));
  return b;
}

TEST(BadSession, Banners) {
  auto bad_prefix = banner();
  bad_prefix[5] = '1';  // "ceph v1"
  auto short_len = banner();
  short_len[8] = 3;
  auto long_len = banner();
  store_le<uint16_t>(long_len.data() + 8, 60000);
  auto requires_more = banner();
  requires_more[18 + 1] = 0x10;  // a required protocol feature we do not know
  auto no_rev1 = banner();
  no_rev1[10] = 0;
  for (auto& [bytes, err] : std::vector<std::pair<std::vector<uint8_t>, ProtoError>>{
           {bad_prefix, ProtoError::kBadBanner},
           {short_len, ProtoError::kBadBanner},
           {long_len, ProtoError::kBadBanner},
           {requires_more, ProtoError::kMissingFeatures},
           {no_rev1, ProtoError::kMissingFeatures}}) {
    Session s(Pair::client_config());
    EXPECT_EQ(feed(s, bytes), err);
    EXPECT_EQ(s.state(), Session::State::kFault);
    EXPECT_EQ(feed(s, banner()), err) << "the fault is sticky";
  }
}

TEST(BadSession, UnexpectedTagsInEachHandshakeState) {
  // A MESSAGE (or an ACK) before the session is ready is out of state, for both roles.
  for (Role role : {Role::kClient, Role::kServer}) {
    SessionConfig c = role == Role::kClient ? Pair::client_config() : Pair::server_config();
    Session s(c);
    auto bytes = banner();
    auto ack = frame_of(AckFrame{1});
    bytes.insert(bytes.end(), ack.begin(), ack.end());
    EXPECT_EQ(feed(s, bytes), ProtoError::kUnexpectedTag);
  }
  // A server that receives SERVER_IDENT where it expects AUTH_REQUEST.
  Session server(Pair::server_config());
  auto bytes = banner();
  for (auto f : {frame_of(HelloFrame{EntityType::kClient, {}}), frame_of(ServerIdentFrame{})})
    bytes.insert(bytes.end(), f.begin(), f.end());
  EXPECT_EQ(feed(server, bytes), ProtoError::kUnexpectedTag);
}

// Before the handshake is done no frame may be larger than kHandshakeLimits; after it, the
// session's own limits apply.
TEST(BadSession, AHandshakeFrameHasASmallLimit) {
  Session server(Pair::server_config());
  auto bytes = banner();
  auto hello = frame_of(HelloFrame{EntityType::kClient, {}});
  store_le<uint32_t>(hello.data() + 2, kHandshakeLimits.max_segment + 1);
  fix_preamble_crc(hello);
  bytes.insert(bytes.end(), hello.begin(), hello.end());
  EXPECT_EQ(feed(server, bytes), ProtoError::kSegmentTooLarge);

  Pair p;  // a ready pair takes a message far larger than that
  ASSERT_EQ(p.pump(), ProtoError::kOk);
  ASSERT_TRUE(p.server.ready());
  std::vector<uint8_t> data(4 * kHandshakeLimits.max_frame, 0x33);
  EXPECT_EQ(p.server.on_bytes(message_frame(data, &p.client), p.to_client, p.sh), ProtoError::kOk);
  ASSERT_EQ(p.sh.messages.size(), 1u);
}

TEST(BadSession, MalformedHelloWithAValidCrc) {
  Session s(Pair::client_config());
  auto bytes = banner();
  std::vector<uint8_t> out(64);
  size_t n = encode_control_frame(out, Tag::kHello, [](WireWriter& w) { w.u8(8); w.u8(9); });
  bytes.insert(bytes.end(), out.begin(), out.begin() + n);
  EXPECT_EQ(feed(s, bytes), ProtoError::kMalformedPayload);
}

TEST(BadSession, AuthBadMethodFromTheServerRejectsTheClient) {
  Session s(Pair::client_config());
  auto bytes = banner();
  for (auto f : {frame_of(HelloFrame{EntityType::kOsd, {}}),
                 frame_of(AuthBadMethodFrame{1, -95, {2}, {1}})})
    bytes.insert(bytes.end(), f.begin(), f.end());
  EXPECT_EQ(feed(s, bytes), ProtoError::kAuthRejected);
}

TEST(BadSession, ServerAnswersAnUnknownAuthMethodWithBadMethodAndWaits) {
  Session s(Pair::server_config());
  auto bytes = banner();
  for (auto f : {frame_of(HelloFrame{EntityType::kClient, {}}),
                 frame_of(AuthRequestFrame{2 /* cephx */, {1}, {}})})
    bytes.insert(bytes.end(), f.begin(), f.end());
  VectorSink out;
  test::RecordingHandler h;
  s.start(out);
  EXPECT_EQ(s.on_bytes(bytes, out, h), ProtoError::kOk);
  EXPECT_EQ(s.state(), Session::State::kAuth);
  Session reader(Pair::client_config());  // read what the server sent: banner, HELLO, BAD_METHOD
  VectorSink ignored;
  test::RecordingHandler rh;
  EXPECT_EQ(reader.on_bytes(out.bytes, ignored, rh), ProtoError::kAuthRejected);
  ASSERT_FALSE(rh.tags.empty());
  EXPECT_EQ(rh.tags.back(), Tag::kAuthBadMethod);
}

TEST(BadSession, NonZeroSignatureWithAuthNone) {
  Pair p;
  AuthSignatureFrame bad;
  bad.sha256[3] = 1;
  // Run the client up to where it waits for the server's signature, then forge it.
  auto b = banner();
  std::vector<uint8_t> bytes = b;
  for (auto f : {frame_of(HelloFrame{EntityType::kOsd, {}}), frame_of(AuthDoneFrame{1, 1, {}}),
                 frame_of(bad)})
    bytes.insert(bytes.end(), f.begin(), f.end());
  EXPECT_EQ(feed(p.client, bytes), ProtoError::kBadAuthSignature);
}

TEST(BadSession, MissingFeaturesEitherWay) {
  SessionConfig s = Pair::server_config();
  s.required_features = kFeatureMsgAddr2 | (1ull << 62);
  SessionConfig c = Pair::client_config();
  c.supported_features = kDefaultFeatures & ~(1ull << 62);
  Pair p(c, s);
  p.pump();
  EXPECT_EQ(p.server.fault(), ProtoError::kMissingFeatures);
  EXPECT_EQ(p.client.fault(), ProtoError::kMissingFeatures);  // told by IDENT_MISSING_FEATURES
  EXPECT_EQ(p.ch.tags.back(), Tag::kIdentMissingFeatures);
}

TEST(BadSession, MessageSequenceGapsFaultALosslessSession) {
  Pair p;
  p.pump();
  ASSERT_TRUE(p.client.ready());
  ASSERT_TRUE(p.server.ready());
  std::vector<uint8_t> out(256);
  MsgHeader2 h;
  h.seq = 5;  // expected 1
  auto head = encode_message_head(out, h, {}, {}, {});
  out.resize(head->head_size);
  EXPECT_EQ(feed(p.server, out), ProtoError::kBadSequence);
}

TEST(BadSession, PeerResetAndLocalClose) {
  Pair p;
  p.pump();
  EXPECT_EQ(feed(p.client, frame_of(SessionResetFrame{true})), ProtoError::kPeerReset);
  p.server.close();
  EXPECT_EQ(feed(p.server, frame_of(AckFrame{0})), ProtoError::kClosed);
  std::vector<uint8_t> out(256);
  EXPECT_EQ(p.server.encode_message(out, {}, {}, {}, {}).error(),
            ProtoError::kClosed);
}

struct FullSink final : FrameSink {
  std::span<uint8_t> reserve(size_t) override { return {}; }
  void commit(size_t) override {}
};

TEST(BadSession, NoRoomToSendIsATypedFault) {
  Session s(Pair::client_config());
  FullSink full;
  EXPECT_EQ(s.start(full), ProtoError::kTxOverflow);
  EXPECT_EQ(s.state(), Session::State::kFault);
}

}  // namespace
}  // namespace pollmsgr::proto
