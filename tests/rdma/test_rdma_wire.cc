// The immediate-data layout of pollmsgr's rdma SENDs and the wr_id tags, without a device.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace pollmsgr::verbs
