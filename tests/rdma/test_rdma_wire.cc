// The immediate-data layout of pollmsgr's rdma SENDs and the wr_id tags, and the records of
// Ceph's rdma side channel, without a device.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "verbs/ceph_wire.h"
#include "verbs/rdma_wire.h"

namespace pollmsgr::verbs {
namespace {

TEST(RdmaWire, ImmediateDataPutsEachFieldInItsBits) {
  EXPECT_EQ(encode_imm({5, 3, true}), 0x80030005u);  // credits 0-15, released 16-30, flag 31
  EXPECT_EQ(encode_imm({0xffff, 0, false}), 0x0000ffffu);
  EXPECT_EQ(encode_imm({0, 0x7fff, false}), 0x7fff0000u);
  EXPECT_EQ(encode_imm({0, 0, false}), 0u);  // a SEND without immediate data means nothing
}

TEST(RdmaWire, ImmediateDataDecodesWhatWasEncoded) {
  for (const Imm in : {Imm{0, 0, false}, Imm{1, 0, true}, Imm{16384, 16, false},
                       Imm{0xffff, 0x7fff, true}}) {
    const Imm out = decode_imm(encode_imm(in));
    EXPECT_EQ(out.credits, in.credits);
    EXPECT_EQ(out.released, in.released);
    EXPECT_EQ(out.descriptor, in.descriptor);
  }
  const Imm flag_only = decode_imm(0x80000000u);
  EXPECT_EQ(flag_only.credits, 0u);
  EXPECT_EQ(flag_only.released, 0u);  // the flag bit is not part of the release count
  EXPECT_TRUE(flag_only.descriptor);
}

TEST(RdmaWire, WorkRequestTagsAreTellableApart) {
  alignas(64) static char buffer[64];  // a receive's wr_id is a pointer
  EXPECT_EQ(work_kind(reinterpret_cast<uint64_t>(buffer)), WorkKind::kReceive);
  EXPECT_EQ(work_kind(kSendTag | 12345), WorkKind::kSend);
  EXPECT_EQ(work_kind(kReadTag | 17), WorkKind::kRead);
  EXPECT_EQ(work_kind(kBeaconWrId), WorkKind::kBeacon);
  EXPECT_EQ(sizeof(ReadDescriptor), 16u);  // fits the inline data of every device we set up
}

std::vector<uint8_t> descriptor_bytes(uint32_t length) {
  const ReadDescriptor d{0x1000, 77, length};
  std::vector<uint8_t> b(sizeof(d));
  std::memcpy(b.data(), &d, sizeof(d));
  return b;
}

TEST(RdmaWire, AReceivedSendIsClassifiedAsTheSenderMayMeanIt) {
  const std::vector<uint8_t> data(100, 1), none;
  const Imm stream{3, 0, false}, described{0, 0, true};
  EXPECT_EQ(classify_receive(stream, data, false, 1 << 20).kind, Received::kStream);
  EXPECT_EQ(classify_receive(stream, none, false, 1 << 20).kind, Received::kCreditsOnly);
  EXPECT_EQ(classify_receive(stream, none, true, 1 << 20).kind, Received::kCreditsOnly);
  const Received read = classify_receive(described, descriptor_bytes(4096), false, 1 << 20);
  ASSERT_EQ(read.kind, Received::kRead);
  EXPECT_EQ(read.read.length, 4096u);
  EXPECT_EQ(read.read.rkey, 77u);
}

TEST(RdmaWire, WhatNoHonestSenderSendsIsAFault) {
  const std::vector<uint8_t> data(100, 1);
  const Imm stream{0, 0, false}, described{0, 0, true};
  EXPECT_EQ(classify_receive(stream, data, true, 1 << 20).kind, Received::kFault);  // past credits
  EXPECT_EQ(classify_receive(described, descriptor_bytes(4096), true, 1 << 20).kind, Received::kFault);
  EXPECT_EQ(classify_receive(described, descriptor_bytes(0), false, 1 << 20).kind, Received::kFault);
  EXPECT_EQ(classify_receive(described, descriptor_bytes((1 << 20) + 1), false, 1 << 20).kind,
            Received::kFault);  // larger than any buffer we would READ into
  EXPECT_EQ(classify_receive(described, descriptor_bytes(4096), false, 0).kind,
            Received::kFault);  // we offered no READs
  EXPECT_EQ(classify_receive(described, data, false, 1 << 20).kind, Received::kFault);
}

// A record as Ceph's async+rdma formats it ("%04x:%08x:%08x:%08x:%s" and the NUL): lid 0,
// qpn 0x11, psn 0xa1b2c3, peer qpn 0x12, GID ::ffff:127.0.0.1 as its 16 bytes in order.
const char kCephRecord[] = "0000:00000011:00a1b2c3:00000012:00000000000000000000ffff7f000001";
static_assert(sizeof(kCephRecord) == kCephRecordSize);

std::vector<uint8_t> record_bytes(const char* text = kCephRecord) {
  return {text, text + kCephRecordSize};
}

TEST(CephRecord, ReadsEachFieldOfARecordAsCephWritesIt) {
  const auto r = parse_ceph_record(record_bytes());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lid, 0);
  EXPECT_EQ(r->qpn, 0x11u);
  EXPECT_EQ(r->psn, 0xa1b2c3u);
  EXPECT_EQ(r->peer_qpn, 0x12u);
  const uint8_t gid[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  EXPECT_EQ(std::memcmp(r->gid.raw, gid, 16), 0);
}

TEST(CephRecord, WritesWhatCephWrites) {
  CephRecord r{0, 0x11, 0xa1b2c3, 0x12, {}};
  const uint8_t gid[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  std::memcpy(r.gid.raw, gid, 16);
  const auto text = format_ceph_record(r);
  EXPECT_EQ(std::memcmp(text.data(), kCephRecord, kCephRecordSize), 0)
      << std::string(text.data(), kCephRecordSize - 1);
}

TEST(CephRecord, AnythingButTheExactLayoutIsRefused) {
  auto bad = [](size_t at, char c) {
    auto b = record_bytes();
    b[at] = static_cast<uint8_t>(c);
    return parse_ceph_record(b).has_value();
  };
  EXPECT_FALSE(bad(64, 'x'));  // no NUL at the end
  EXPECT_FALSE(bad(4, '-'));   // a separator missing
  EXPECT_FALSE(bad(31, '0'));
  EXPECT_FALSE(bad(6, 'g'));   // not a hex digit
  EXPECT_FALSE(bad(63, ' '));
  EXPECT_FALSE(bad(5, '1'));   // a qpn past 24 bits
  auto shorter = record_bytes();
  shorter.pop_back();
  EXPECT_FALSE(parse_ceph_record(shorter));
}

TEST(CephRecord, ToldFromPollmsgrsHelloByItsFirstBytes) {
  EXPECT_TRUE(looks_like_ceph_record(record_bytes()));
  const uint64_t magic = 0x706f6c6c72646d31ull;  // pollmsgr's hello begins with it
  uint8_t hello[8];
  std::memcpy(hello, &magic, sizeof(hello));
  EXPECT_FALSE(looks_like_ceph_record({hello, 5}));
}

}  // namespace
}  // namespace pollmsgr::verbs
