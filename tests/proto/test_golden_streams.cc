// Real msgr2 traffic between Ceph's `ceph` tool and a real ceph-mon (tests/data/msgr2/README.md),
// consumed by pollmsgr's own session state machine in the receiving role: every byte, every crc.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "proto/session.h"
#include "tests/proto/test_util.h"

namespace pollmsgr::proto {
namespace {

using test::RecordingHandler;

struct Expected {
  const char* file;
  Role receiver;
  std::vector<int> tags;
  // seq, type, front, middle, data lengths; listed from the capture by an independent parser
  std::vector<std::array<size_t, 5>> messages;
};

const std::vector<Expected>& golden() {
  static const std::vector<Expected> kGolden = {
      {"conn0-c2s.bin", Role::kServer, {1, 2, 7, 8, 17, 17}, {{1, 5, 0, 0, 0}, {2, 15, 48, 0, 0}}},
      {"conn0-s2c.bin", Role::kClient, {1, 6, 7, 9, 17, 17, 17},
       {{1, 4, 170, 0, 0}, {2, 62, 4, 0, 0}, {3, 4, 170, 0, 0}}},
      {"conn1-c2s.bin", Role::kServer, {1, 2, 7, 8, 17, 17, 17, 17, 17, 17},
       {{1, 5, 0, 0, 0}, {2, 15, 48, 0, 0}, {3, 15, 29, 0, 0}, {4, 15, 29, 0, 0},
        {5, 50, 80, 0, 0}, {6, 50, 62, 0, 0}}},
      {"conn1-s2c.bin", Role::kClient, {1, 6, 7, 9, 17, 17, 17, 17, 17, 17, 17},
       {{1, 4, 170, 0, 0}, {2, 62, 4, 0, 0}, {3, 4, 170, 0, 0}, {4, 1796, 495, 0, 0},
        {5, 41, 690, 0, 0}, {6, 51, 72, 0, 73271}, {7, 51, 54, 0, 368}}},
  };
  return kGolden;
}

SessionConfig config_for(Role role) {
  SessionConfig c;
  c.role = role;
  c.my_type = role == Role::kClient ? EntityType::kClient : EntityType::kMon;
  return c;
}

// Feeds `bytes` in chunks whose sizes `next_chunk` picks; returns the session for inspection.
template <class NextChunk>
void run_stream(const Expected& e, const std::vector<uint8_t>& bytes, NextChunk next_chunk) {
  SCOPED_TRACE(e.file);
  Session session(config_for(e.receiver));
  VectorSink out;
  RecordingHandler h;
  ASSERT_EQ(session.start(out), ProtoError::kOk);
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t n = std::min(next_chunk(), bytes.size() - pos);
    ASSERT_EQ(session.on_bytes({bytes.data() + pos, n}, out, h), ProtoError::kOk)
        << "at offset " << pos << ": " << to_string(session.fault());
    pos += n;
  }
  EXPECT_TRUE(session.ready());
  EXPECT_EQ(h.ready, 1);
  EXPECT_EQ(session.bytes_received(), bytes.size()) << "bytes left in a partial frame";
  std::vector<int> tags;
  for (Tag t : h.tags) tags.push_back(static_cast<int>(t));
  EXPECT_EQ(tags, e.tags);
  ASSERT_EQ(h.messages.size(), e.messages.size());
  for (size_t i = 0; i < e.messages.size(); ++i) {
    const auto& m = h.messages[i];
    EXPECT_EQ((std::array<size_t, 5>{m.seq, m.type, m.front, m.middle, m.data}), e.messages[i])
        << "message " << i;
  }
  EXPECT_EQ(session.in_seq(), e.messages.size());
}

TEST(GoldenStreams, EachParsesWholeInTheReceivingRole) {
  for (const auto& e : golden()) {
    auto bytes = test::read_file(test::data_dir() / "msgr2" / e.file);
    run_stream(e, bytes, [&] { return bytes.size(); });
  }
}

TEST(GoldenStreams, EachParsesInSmallRandomChunks) {
  for (const auto& e : golden()) {
    auto bytes = test::read_file(test::data_dir() / "msgr2" / e.file);
    for (unsigned seed : {1u, 2u, 3u, 42u}) {
      std::mt19937 rng(seed);
      std::uniform_int_distribution<size_t> size(1, 97);
      run_stream(e, bytes, [&] { return size(rng); });
    }
  }
}

TEST(GoldenStreams, EachParsesOneByteAtATime) {
  for (const auto& e : golden()) {
    auto bytes = test::read_file(test::data_dir() / "msgr2" / e.file);
    run_stream(e, bytes, [] { return size_t{1}; });
  }
}

// Stream offsets of the epilogue crc slots for segments past a frame's count: unused, and not
// checked (Ceph ignores them too). Every other byte after the banner is protected.
std::set<size_t> unused_crc_slots(const std::vector<uint8_t>& stream) {
  std::set<size_t> unused;
  FrameDecoder d;
  d.skip_offset(kBannerSize);
  Frame f;
  std::span<const uint8_t> in = std::span<const uint8_t>(stream).subspan(kBannerSize);
  while (!in.empty() && d.next(in, f).ok()) {
    const size_t n = f.preamble.num_segments;
    if (n < 2) continue;
    const size_t epilogue = f.stream_offset + f.preamble.frame_size() - kEpilogueSize;
    for (size_t pos = epilogue + 1 + 4 * (n - 1); pos < epilogue + kEpilogueSize; ++pos)
      unused.insert(pos);
  }
  return unused;
}

TEST(GoldenStreams, ACorruptedByteAnywhereIsCaught) {
  // Flip the low bit of every protected byte (the late status's low nibble must say complete):
  // the session must fault, never accept it.
  for (const auto& e : golden()) {
    if (e.tags.size() > 8) continue;  // the two short streams cover every frame type here
    auto clean = test::read_file(test::data_dir() / "msgr2" / e.file);
    const auto unused = unused_crc_slots(clean);
    EXPECT_FALSE(unused.empty() && e.receiver == Role::kClient);
    for (size_t pos = kBannerSize; pos < clean.size(); ++pos) {
      if (unused.contains(pos)) continue;
      auto bytes = clean;
      bytes[pos] ^= 0x01;
      Session session(config_for(e.receiver));
      VectorSink out;
      RecordingHandler h;
      session.start(out);
      ProtoError err = session.on_bytes(bytes, out, h);
      EXPECT_NE(err, ProtoError::kOk) << e.file << ": corruption at " << pos << " went unnoticed";
    }
  }
}

TEST(GoldenStreams, ServerRoleRepliesAsCephDid) {
  // Our server, fed the real client's bytes, answers with the frames the real mon sent first.
  auto bytes = test::read_file(test::data_dir() / "msgr2" / "conn0-c2s.bin");
  Session session(config_for(Role::kServer));
  VectorSink out;
  RecordingHandler h;
  session.start(out);
  ASSERT_EQ(session.on_bytes(bytes, out, h), ProtoError::kOk);
  Session reader(config_for(Role::kClient));  // our replies parse as a server's stream
  VectorSink ignored;
  RecordingHandler rh;
  reader.start(ignored);
  ASSERT_EQ(reader.on_bytes(out.bytes, ignored, rh), ProtoError::kOk);
  EXPECT_TRUE(reader.ready());
  std::vector<Tag> expected = {Tag::kHello, Tag::kAuthDone, Tag::kAuthSignature, Tag::kServerIdent};
  EXPECT_EQ(rh.tags, expected);
}

}  // namespace
}  // namespace pollmsgr::proto
