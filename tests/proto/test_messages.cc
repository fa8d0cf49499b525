// The perf workload's messages (Ceph-shaped MOSDOp / MOSDOpReply) and the mon version query.
#include <gtest/gtest.h>

#include "proto/mon_messages.h"
#include "proto/osd_messages.h"
#include "proto/wire.h"

namespace pollmsgr::proto {
namespace {

OsdWriteOp sample_op() {
  OsdWriteOp op;
  op.pool = 3;
  op.pg_seed = 0x1f;
  op.osdmap_epoch = 12;
  op.client_id = 4100;
  op.tid = 777;
  op.object = "rbd_data.10ab.0000000000000002";
  op.offset = 8192;
  op.length = 4096;
  op.mtime_sec = 1700000000;
  return op;
}

TEST(OsdMessages, WriteOpRoundTripsAndMatchesItsSize) {
  OsdWriteOp op = sample_op();
  std::vector<uint8_t> front(osd_write_op_front_size(op));
  ASSERT_EQ(encode_front(front, op), front.size());
  auto back = decode_osd_write_op(front);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->pool, 3);
  EXPECT_EQ(back->pg_seed, 0x1fu);
  EXPECT_EQ(back->osdmap_epoch, 12u);
  EXPECT_EQ(back->client_id, 4100);
  EXPECT_EQ(back->tid, 777u);
  EXPECT_EQ(back->object, op.object);
  EXPECT_EQ(back->object.data(), reinterpret_cast<const char*>(front.data()) + 133);  // in place
  EXPECT_EQ(back->offset, 8192u);
  EXPECT_EQ(back->length, 4096u);
  EXPECT_EQ(back->mtime_sec, 1700000000u);
}

TEST(OsdMessages, WriteOpLayoutFollowsCeph) {
  OsdWriteOp op = sample_op();
  std::vector<uint8_t> front(osd_write_op_front_size(op));
  encode_front(front, op);
  // spg_t: v1 compat1 len 18, pg_t{v1, pool 3, seed 0x1f, preferred -1}, shard -1
  EXPECT_EQ(front[0], 1);
  EXPECT_EQ(load_le<uint32_t>(&front[2]), 18u);
  EXPECT_EQ(load_le<int64_t>(&front[7]), 3);
  EXPECT_EQ(load_le<uint32_t>(&front[15]), 0x1fu);
  EXPECT_EQ(front[23], 0xff);
  EXPECT_EQ(load_le<uint32_t>(&front[24]), 12u);  // osdmap epoch
  // reqid: v2 compat2 len 21, client.4100, tid 777
  EXPECT_EQ(front[38], 8);
  EXPECT_EQ(load_le<int64_t>(&front[39]), 4100);
  EXPECT_EQ(load_le<uint64_t>(&front[47]), 777u);
  // the op: CEPH_OSD_OP_WRITE with offset and length, right after the object name and count
  const size_t ops = 133 + op.object.size() + 2;
  EXPECT_EQ(load_le<uint16_t>(&front[ops - 2]), 1u);
  EXPECT_EQ(load_le<uint16_t>(&front[ops]), kOsdOpWrite);
  EXPECT_EQ(load_le<uint64_t>(&front[ops + 6]), 8192u);
  EXPECT_EQ(load_le<uint64_t>(&front[ops + 14]), 4096u);
}

TEST(OsdMessages, PatchingTidAndOffsetEqualsEncodingAfresh) {
  OsdWriteOp op = sample_op();
  std::vector<uint8_t> front(osd_write_op_front_size(op));
  encode_front(front, op);
  patch_write_op(front, op.object.size(), 9001, 1234567);
  op.tid = 9001;
  op.offset = 1234567;
  std::vector<uint8_t> fresh(front.size());
  encode_front(fresh, op);
  EXPECT_EQ(front, fresh);
}

TEST(OsdMessages, ReplyRoundTrips) {
  OsdOpReply r;
  r.object = "obj";
  r.result = -28;
  r.version = 55;
  std::vector<uint8_t> front(osd_op_reply_front_size(r));
  ASSERT_EQ(encode_front(front, r), front.size());
  auto back = decode_osd_op_reply(front);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->object, "obj");
  EXPECT_EQ(back->result, -28);
  EXPECT_EQ(back->version, 55u);
}

TEST(OsdMessages, TruncatedOrWrongFrontsAreMalformed) {
  OsdWriteOp op = sample_op();
  std::vector<uint8_t> front(osd_write_op_front_size(op));
  encode_front(front, op);
  for (size_t n = 0; n < front.size(); ++n) {
    std::vector<uint8_t> cut(front.begin(), front.begin() + n);
    EXPECT_EQ(decode_osd_write_op(cut).error(), ProtoError::kMalformedPayload) << n;
  }
  auto not_write = front;
  store_le<uint16_t>(&not_write[133 + op.object.size() + 2], 0x1201);  // a read
  EXPECT_FALSE(decode_osd_write_op(not_write).ok());
  OsdOpReply r;
  std::vector<uint8_t> reply(osd_op_reply_front_size(r));
  encode_front(reply, r);
  for (size_t n = 0; n < reply.size(); ++n)
    EXPECT_FALSE(decode_osd_op_reply(std::span(reply).first(n)).ok()) << n;
  std::vector<uint8_t> small(10);
  EXPECT_EQ(encode_front(small, op), 0u);
}

TEST(MonMessages, GetVersionLayoutAndReply) {
  std::vector<uint8_t> front(32);
  ASSERT_EQ(encode_front(front, MonGetVersion{7, "osdmap"}), 18u);
  EXPECT_EQ(load_le<uint64_t>(front.data()), 7u);
  EXPECT_EQ(load_le<uint32_t>(front.data() + 8), 6u);
  EXPECT_EQ(std::string(front.begin() + 12, front.begin() + 18), "osdmap");
  std::vector<uint8_t> reply(24);
  store_le<uint64_t>(reply.data(), 7);
  store_le<uint64_t>(reply.data() + 8, 40);
  store_le<uint64_t>(reply.data() + 16, 1);
  auto r = decode_mon_get_version_reply(reply);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->version, 40u);
  EXPECT_FALSE(decode_mon_get_version_reply(std::span(reply).first(23)).ok());
}

}  // namespace
}  // namespace pollmsgr::proto
