// Real msgr2 traffic: Ceph's `ceph` tool and a real ceph-mon (tests/data/msgr2/README.md), and
// librados and a real ceph-osd (tests/data/msgr2-osd/README.md), consumed by pollmsgr's own session
// state machine in the receiving role: every byte, every crc.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "proto/session.h"
#include "tests/proto/test_util.h"

namespace pollmsgr::proto {
namespace {

using test::RecordingHandler;

struct Expected {
  const char* file;  // under tests/data/
  Role receiver;
  std::vector<int> tags;
  // seq, type, front, middle, data lengths; listed from the capture by an independent parser
  std::vector<std::array<size_t, 5>> messages;
};

const std::vector<Expected>& golden() {
  static const std::vector<Expected> kGolden = {
      {"msgr2/conn0-c2s.bin", Role::kServer, {1, 2, 7, 8, 17, 17}, {{1, 5, 0, 0, 0}, {2, 15, 48, 0, 0}}},
      {"msgr2/conn0-s2c.bin", Role::kClient, {1, 6, 7, 9, 17, 17, 17},
       {{1, 4, 170, 0, 0}, {2, 62, 4, 0, 0}, {3, 4, 170, 0, 0}}},
      {"msgr2/conn1-c2s.bin", Role::kServer, {1, 2, 7, 8, 17, 17, 17, 17, 17, 17},
       {{1, 5, 0, 0, 0}, {2, 15, 48, 0, 0}, {3, 15, 29, 0, 0}, {4, 15, 29, 0, 0},
        {5, 50, 80, 0, 0}, {6, 50, 62, 0, 0}}},
      {"msgr2/conn1-s2c.bin", Role::kClient, {1, 6, 7, 9, 17, 17, 17, 17, 17, 17, 17},
       {{1, 4, 170, 0, 0}, {2, 62, 4, 0, 0}, {3, 4, 170, 0, 0}, {4, 1796, 495, 0, 0},
        {5, 41, 690, 0, 0}, {6, 51, 72, 0, 73271}, {7, 51, 54, 0, 368}}},
      {"msgr2-osd/put-c2s.bin", Role::kServer, {1, 2, 7, 8, 17}, {{1, 42, 218, 0, 4096}}},
      {"msgr2-osd/put-s2c.bin", Role::kClient, {1, 6, 7, 9, 17}, {{1, 43, 153, 0, 0}}},
      {"msgr2-osd/get-c2s.bin", Role::kServer, {1, 2, 7, 8, 17}, {{1, 42, 218, 0, 0}}},
      {"msgr2-osd/get-s2c.bin", Role::kClient, {1, 6, 7, 9, 17}, {{1, 43, 153, 0, 4096}}},
      {"msgr2-osd/bench-c2s.bin", Role::kServer,
       {1, 2, 7, 8, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17},
       {{1, 42, 239, 0, 4096}, {2, 42, 239, 0, 4096}, {3, 42, 239, 0, 4096}, {4, 42, 239, 0, 4096},
        {5, 42, 239, 0, 4096}, {6, 42, 239, 0, 4096}, {7, 42, 239, 0, 4096}, {8, 42, 239, 0, 4096},
        {9, 42, 239, 0, 4096}, {10, 42, 239, 0, 4096}, {11, 42, 240, 0, 4096},
        {12, 42, 240, 0, 4096}, {13, 42, 240, 0, 4096}, {14, 42, 240, 0, 4096},
        {15, 42, 240, 0, 4096}, {16, 42, 240, 0, 4096}}},
      {"msgr2-osd/bench-s2c.bin", Role::kClient,
       {1, 6, 7, 9, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17},
       {{1, 43, 174, 0, 0}, {2, 43, 174, 0, 0}, {3, 43, 174, 0, 0}, {4, 43, 174, 0, 0},
        {5, 43, 174, 0, 0}, {6, 43, 174, 0, 0}, {7, 43, 174, 0, 0}, {8, 43, 174, 0, 0},
        {9, 43, 174, 0, 0}, {10, 43, 174, 0, 0}, {11, 43, 175, 0, 0}, {12, 43, 175, 0, 0},
        {13, 43, 175, 0, 0}, {14, 43, 175, 0, 0}, {15, 43, 175, 0, 0}, {16, 43, 175, 0, 0}}},
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
    auto bytes = test::read_file(test::data_dir() / e.file);
    run_stream(e, bytes, [&] { return bytes.size(); });
  }
}

TEST(GoldenStreams, EachParsesInSmallRandomChunks) {
  for (const auto& e : golden()) {
    auto bytes = test::read_file(test::data_dir() / e.file);
    for (unsigned seed : {1u, 2u, 3u, 42u}) {
      std::mt19937 rng(seed);
      std::uniform_int_distribution<size_t> size(1, 97);
      run_stream(e, bytes, [&] { return size(rng); });
    }
  }
}

TEST(GoldenStreams, EachParsesOneByteAtATime) {
  for (const auto& e : golden()) {
    auto bytes = test::read_file(test::data_dir() / e.file);
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

// Where to flip bits: every byte of a stream up to 8 KiB; in larger ones, every byte of the
// first and last KiB and every 61st byte between (the data segments of conn1-s2c and bench-c2s
// are tens of KiB, and each flip re-parses the whole stream).
std::vector<size_t> positions_to_corrupt(size_t size) {
  std::vector<size_t> at;
  for (size_t pos = kBannerSize; pos < size; ++pos)
    if (size <= 8192 || pos < 1024 || pos + 1024 >= size || pos % 61 == 0) at.push_back(pos);
  return at;
}

TEST(GoldenStreams, ACorruptedByteAnywhereIsCaught) {
  // Flip the low bit of protected bytes (the late status's low nibble must say complete): the
  // session must fault, never accept it. The streams with data segments (an OSD's reads and
  // writes) check that the data crc is checked too.
  for (const auto& e : golden()) {
    auto clean = test::read_file(test::data_dir() / e.file);
    const auto unused = unused_crc_slots(clean);
    size_t flips = 0;
    for (size_t pos : positions_to_corrupt(clean.size())) {
      if (unused.contains(pos)) continue;
      auto bytes = clean;
      bytes[pos] ^= 0x01;
      Session session(config_for(e.receiver));
      VectorSink out;
      RecordingHandler h;
      session.start(out);
      ProtoError err = session.on_bytes(bytes, out, h);
      EXPECT_NE(err, ProtoError::kOk) << e.file << ": corruption at " << pos << " went unnoticed";
      ++flips;
    }
    EXPECT_GT(flips, 100u) << e.file;
  }
}

TEST(GoldenStreams, ACorruptedDataSegmentIsABadSegmentCrc) {
  // The 4 KiB librados wrote: a bit flipped in the middle of the data segment.
  auto bytes = test::read_file(test::data_dir() / "msgr2-osd/put-c2s.bin");
  bytes[bytes.size() - 13 - 2048] ^= 0x10;
  Session session(config_for(Role::kServer));
  VectorSink out;
  RecordingHandler h;
  session.start(out);
  EXPECT_EQ(session.on_bytes(bytes, out, h), ProtoError::kBadSegmentCrc);
  EXPECT_TRUE(h.messages.empty());
}

// The frames of a stream after its banner, in order.
std::vector<std::pair<Tag, std::vector<uint8_t>>> control_frames(const std::vector<uint8_t>& stream) {
  std::vector<std::pair<Tag, std::vector<uint8_t>>> frames;
  FrameDecoder d;
  d.skip_offset(kBannerSize);
  std::span<const uint8_t> in = std::span<const uint8_t>(stream).subspan(kBannerSize);
  Frame f;
  while (!in.empty() && d.next(in, f).ok() && f.tag() != Tag::kMessage)
    frames.push_back({f.tag(), {f.segments[0].begin(), f.segments[0].end()}});
  return frames;
}

TEST(GoldenStreams, ServerRoleRepliesAsCephDid) {
  // Our server, fed the real `ceph` client's bytes, answers what the real mon answered, field by
  // field (what may differ: the ids it hands out, and the addresses it sees and binds).
  auto bytes = test::read_file(test::data_dir() / "msgr2/conn0-c2s.bin");
  SessionConfig c = config_for(Role::kServer);
  c.lossy = true;  // a monitor's policy for clients
  c.global_id = 14101;
  c.global_seq = 5;
  c.cookie = 0x1234;  // must not be sent: a lossy session has no server cookie
  c.my_addr = EntityAddr::ipv4(EntityAddr::kMsgr2, "127.0.0.1", 13300);
  Session session(c);
  VectorSink out;
  RecordingHandler h;
  session.start(out);
  ASSERT_EQ(session.on_bytes(bytes, out, h), ProtoError::kOk);
  const auto ours = control_frames(out.bytes);
  const auto ceph = control_frames(test::read_file(test::data_dir() / "msgr2/conn0-s2c.bin"));
  ASSERT_EQ(ours.size(), 4u);
  ASSERT_EQ(ceph.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(ours[i].first, ceph[i].first) << i;

  HelloFrame oh, ch;
  ASSERT_TRUE(decode(ours[0].second, oh) && decode(ceph[0].second, ch));
  EXPECT_EQ(oh.entity_type, ch.entity_type);
  AuthDoneFrame od, cd;
  ASSERT_TRUE(decode(ours[1].second, od) && decode(ceph[1].second, cd));
  EXPECT_EQ(od.global_id, cd.global_id);
  EXPECT_EQ(od.con_mode, cd.con_mode);
  EXPECT_EQ(ours[1].second, ceph[1].second);  // so the auth payload too: none
  EXPECT_EQ(ours[2].second, ceph[2].second);  // AUTH_SIGNATURE with an empty session key
  ServerIdentFrame os, cs;
  ASSERT_TRUE(decode(ours[3].second, os) && decode(ceph[3].second, cs));
  EXPECT_EQ(os.addrs, cs.addrs);
  EXPECT_EQ(os.gid, cs.gid);
  EXPECT_EQ(os.global_seq, cs.global_seq);
  EXPECT_EQ(os.supported_features, cs.supported_features);
  EXPECT_EQ(os.flags, cs.flags);
  EXPECT_EQ(os.cookie, cs.cookie);
  // A Pacific mon requires more of its clients than we do: what we require, it requires too.
  EXPECT_EQ(os.required_features & cs.required_features, os.required_features);
}

}  // namespace
}  // namespace pollmsgr::proto
