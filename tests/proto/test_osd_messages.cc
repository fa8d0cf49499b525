// Ceph's OSD and monitor messages, held against independent truth: traffic captured between
// librados and a real ceph-osd 16.2.15, and between Ceph's `ceph` tool and a real ceph-mon
// (tests/data/msgr2-osd, tests/data/msgr2), and the layouts of Ceph's src/messages/MOSDOp.h and
// MOSDOpReply.h. Our encoders must reproduce what librados sent, byte for byte, from the same
// fields; our decoders must read what the OSD sent.
#include <gtest/gtest.h>

#include "proto/mon_messages.h"
#include "proto/object_hash.h"
#include "proto/osd_messages.h"
#include "proto/session.h"
#include "proto/wire.h"
#include "tests/proto/test_util.h"

namespace pollmsgr::proto {
namespace {

using test::RecordingHandler;

// The decoders fill a caller's message (no copies on the data path); tests want values.
Result<OsdOpRequest> op_of(std::span<const uint8_t> front, uint16_t version, size_t data_len) {
  OsdOpRequest op;
  if (auto e = decode_osd_op(front, version, data_len, op); e != ProtoError::kOk) return e;
  return op;
}
Result<OsdOpReply> reply_of(std::span<const uint8_t> front, uint16_t version, size_t data_len) {
  OsdOpReply r;
  if (auto e = decode_osd_op_reply(front, version, data_len, r); e != ProtoError::kOk) return e;
  return r;
}

RecordingHandler osd_stream(const char* name, Role receiver) {
  return test::receive_stream(test::read_file(test::data_dir() / "msgr2-osd" / name), receiver);
}
std::vector<uint8_t> golden_object() {
  return test::read_file(test::data_dir() / "msgr2-osd" / "golden-4k.object");
}
std::string_view as_text(const std::vector<uint8_t>& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// The mtime librados stamped on `rados put` (the only field our encoder cannot know).
Timestamp put_mtime(const RecordingHandler::Msg& m) {
  WireReader r(m.front_bytes);
  r.bytes(24 + 4 + 4 + 4 + 6 + 21 + 24 + 4);
  Timestamp t;
  t.sec = r.u32();
  t.nsec = r.u32();
  return t;
}

TEST(ObjectHash, MatchesWhatCephComputed) {
  // The hashes librados put in its MOSDOps, and one `ceph osd map bench obj1` printed
  // (raw_pgid 1.6cf8deff).
  EXPECT_EQ(object_hash_rjenkins("golden-4k"), 0x655fbadfu);
  EXPECT_EQ(object_hash_rjenkins("benchmark_data_vm_3548_object0"), 0x7a7035adu);
  EXPECT_EQ(object_hash_rjenkins("obj1"), 0x6cf8deffu);
}

TEST(ObjectHash, StableModFoldsOntoThePgs) {
  EXPECT_EQ(pg_seed_of(0x6cf8deff, 1), 0u);
  EXPECT_EQ(pg_seed_of(0x6cf8deff, 8), 0x7u);   // a power of two: the low bits
  EXPECT_EQ(pg_seed_of(13, 12), 5u);            // 13 & 15 is past 12: fold with mask 7
  EXPECT_EQ(pg_seed_of(11, 12), 11u);
  for (uint32_t h = 0; h < 1000; ++h) EXPECT_LT(pg_seed_of(h * 2654435761u, 12), 12u);
}

TEST(OsdOpGolden, LibradosWritefullDecodesFieldForField) {
  auto h = osd_stream("put-c2s.bin", Role::kServer);
  ASSERT_EQ(h.messages.size(), 1u);
  const auto& m = h.messages[0];
  ASSERT_EQ(m.type, kMsgOsdOp);
  auto op = op_of(m.front_bytes, m.version, m.data);
  ASSERT_TRUE(op.ok()) << to_string(op.error());
  EXPECT_EQ(op->object, "golden-4k");
  EXPECT_EQ(op->pool, 1);
  EXPECT_EQ(op->pg_seed, 0u);
  EXPECT_EQ(op->hash, object_hash_rjenkins("golden-4k"));
  EXPECT_EQ(op->osdmap_epoch, 8u);
  EXPECT_EQ(op->flags, kOsdFlagOndisk | kOsdFlagWrite | kOsdFlagKnownRedir);
  EXPECT_EQ(op->reqid.name_type, 0);  // empty: the OSD takes client.<gid> and the header tid
  EXPECT_EQ(op->reqid.tid, 0u);
  ASSERT_EQ(op->ops.count, 1);
  EXPECT_EQ(op->ops.items[0].code, osd_op::kWriteFull);
  EXPECT_EQ(osd_op_name(op->ops.items[0].code), "writefull");
  EXPECT_EQ(op->ops.items[0].length, 4096u);
  EXPECT_EQ(op->ops.items[0].payload_len, 4096u);
  EXPECT_EQ(op->snapid, kNoSnap);
  EXPECT_EQ(op->features, kDefaultFeatures);
  EXPECT_EQ(m.data_bytes, golden_object());
}

TEST(OsdOpGolden, OurEncoderWritesLibradosBytesForTheSameFields) {
  auto h = osd_stream("put-c2s.bin", Role::kServer);
  const auto& m = h.messages[0];
  OsdOpRequest op;  // built from what librados was asked to do, not from the decoder
  op.object = "golden-4k";
  op.pool = 1;
  op.hash = object_hash_rjenkins(op.object);
  op.pg_seed = pg_seed_of(op.hash, 1);
  op.osdmap_epoch = 8;
  op.flags = kOsdFlagOndisk | kOsdFlagWrite | kOsdFlagKnownRedir;
  op.mtime = put_mtime(m);
  op.features = kDefaultFeatures;
  op.ops.add(OsdOp::extent(osd_op::kWriteFull, 0, 4096, 4096));
  std::vector<uint8_t> front(osd_op_front_size(op));
  ASSERT_EQ(encode_front(front, op), front.size());
  EXPECT_EQ(front, m.front_bytes);
  EXPECT_EQ(m.version, kOsdOpHeadVersion);
}

TEST(OsdOpGolden, ReadAndBenchWritesDecode) {
  auto get = osd_stream("get-c2s.bin", Role::kServer);
  ASSERT_EQ(get.messages.size(), 1u);
  auto read = op_of(get.messages[0].front_bytes, get.messages[0].version, 0);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->ops.items[0].code, osd_op::kRead);
  EXPECT_EQ(read->ops.items[0].length, 4u << 20);  // rados get reads 4 MiB at a time
  EXPECT_EQ(read->flags & kOsdFlagRead, kOsdFlagRead);

  auto bench = osd_stream("bench-c2s.bin", Role::kServer);
  ASSERT_EQ(bench.messages.size(), 16u);
  for (size_t i = 0; i < bench.messages.size(); ++i) {
    const auto& m = bench.messages[i];
    auto op = op_of(m.front_bytes, m.version, m.data);
    ASSERT_TRUE(op.ok()) << i;
    EXPECT_EQ(op->object, "benchmark_data_vm_3548_object" + std::to_string(i));
    EXPECT_EQ(op->hash, object_hash_rjenkins(op->object)) << i;
    EXPECT_EQ(m.tid, i + 1);
    ASSERT_EQ(op->ops.count, 1);  // --no-hints: no set-alloc-hint
    EXPECT_EQ(op->ops.items[0].code, osd_op::kWrite);
    EXPECT_EQ(op->ops.items[0].offset, 0u);
    EXPECT_EQ(op->ops.items[0].payload_len, 4096u);
  }
}

TEST(OsdOpReplyGolden, TheOsdsRepliesDecode) {
  auto put = osd_stream("put-s2c.bin", Role::kClient);
  ASSERT_EQ(put.messages.size(), 1u);
  const auto& m = put.messages[0];
  EXPECT_EQ(m.type, kMsgOsdOpReply);
  auto r = reply_of(m.front_bytes, m.version, m.data);
  ASSERT_TRUE(r.ok()) << to_string(r.error());
  EXPECT_EQ(r->object, "golden-4k");
  EXPECT_EQ(r->pool, 1);
  EXPECT_EQ(r->result, 0);
  EXPECT_EQ(r->osdmap_epoch, 8u);
  EXPECT_EQ(r->flags & kOsdFlagOndisk, kOsdFlagOndisk);
  ASSERT_EQ(r->ops.count, 1);
  EXPECT_EQ(r->ops.items[0].code, osd_op::kWriteFull);
  EXPECT_EQ(r->ops.items[0].rval, 0);
  EXPECT_EQ(r->replay_version, (Eversion{3, 8}));
  EXPECT_EQ(r->user_version, 3u);

  auto get = osd_stream("get-s2c.bin", Role::kClient);
  const auto& g = get.messages[0];
  auto rr = reply_of(g.front_bytes, g.version, g.data);
  ASSERT_TRUE(rr.ok());
  EXPECT_EQ(rr->ops.items[0].code, osd_op::kRead);
  EXPECT_EQ(rr->ops.items[0].payload_len, 4096u);  // the object's bytes follow as data
  EXPECT_EQ(g.data_bytes, golden_object());

  auto bench = osd_stream("bench-s2c.bin", Role::kClient);
  ASSERT_EQ(bench.messages.size(), 16u);
  uint64_t last_version = 0;
  for (const auto& b : bench.messages) {
    auto br = reply_of(b.front_bytes, b.version, b.data);
    ASSERT_TRUE(br.ok());
    EXPECT_EQ(br->result, 0);
    EXPECT_GT(br->user_version, last_version);  // one PG: its log version only grows
    last_version = br->user_version;
  }
}

TEST(OsdOpReplyGolden, OurServersReplyIsTheOsdsLayout) {
  auto req = osd_stream("put-c2s.bin", Role::kServer);
  auto rep = osd_stream("put-s2c.bin", Role::kClient);
  auto op = op_of(req.messages[0].front_bytes, 8, 4096);
  ASSERT_TRUE(op.ok());
  OsdOpReply reply;
  reply_to(*op, 0, 8, reply);
  reply.bad_replay_version = reply.replay_version = {3, 8};
  reply.user_version = 3;
  reply.flags |= 0x1;  // the OSD also set ACK on this reply
  std::vector<uint8_t> front(osd_op_reply_front_size(reply));
  ASSERT_EQ(encode_front(front, reply), front.size());
  EXPECT_EQ(front, rep.messages[0].front_bytes);
}

TEST(OsdMessages, MultiOpRequestsAndRepliesRoundTrip) {
  OsdOpRequest op;  // what librados sends without --no-hints
  op.object = "multi";
  op.pool = 2;
  op.osdmap_epoch = 30;
  OsdOp hint{};
  hint.code = osd_op::kSetAllocHint;
  hint.offset = 4u << 20;  // expected object size
  hint.length = 4096;      // expected write size
  op.ops.add(hint);
  op.ops.add(OsdOp::extent(osd_op::kWrite, 8192, 4096, 4096));
  std::vector<uint8_t> front(osd_op_front_size(op));
  ASSERT_EQ(encode_front(front, op), front.size());
  auto back = op_of(front, 8, 4096);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->ops.count, 2);
  EXPECT_EQ(osd_op_name(back->ops.items[0].code), "set-alloc-hint");
  EXPECT_EQ(back->ops.items[1].offset, 8192u);
  EXPECT_EQ(load_le<uint64_t>(&front[osd_op_offset_position(op, 1)]), 8192u);
  // The data must be exactly the ops' payloads.
  EXPECT_EQ(op_of(front, 8, 4095).error(), ProtoError::kMalformedPayload);
  EXPECT_EQ(op_of(front, 7, 4096).error(), ProtoError::kUnsupportedVersion);

  OsdOpReply reply;
  reply_to(*back, 0, 31, reply);
  reply.ops.items[0].rval = -95;
  std::vector<uint8_t> rf(osd_op_reply_front_size(reply));
  ASSERT_EQ(encode_front(rf, reply), rf.size());
  auto rb = reply_of(rf, 8, 0);
  ASSERT_TRUE(rb.ok());
  ASSERT_EQ(rb->ops.count, 2);
  EXPECT_EQ(rb->ops.items[0].rval, -95);
  EXPECT_EQ(rb->ops.items[1].rval, 0);
}

TEST(OsdMessages, ARedirectIsRefusedNotMisread) {
  auto rep = osd_stream("put-s2c.bin", Role::kClient);
  auto front = rep.messages[0].front_bytes;
  const size_t redirect_flag = front.size() - 24 - 1;  // before the trace
  ASSERT_EQ(front[redirect_flag], 0);
  front[redirect_flag] = 1;
  EXPECT_EQ(reply_of(front, 8, 0).error(), ProtoError::kOsdRedirect);
}

TEST(OsdMessages, TruncatedAndHostileFrontsAreErrors) {
  auto req = osd_stream("put-c2s.bin", Role::kServer).messages[0].front_bytes;
  auto rep = osd_stream("put-s2c.bin", Role::kClient).messages[0].front_bytes;
  for (size_t n = 0; n < req.size(); ++n)
    EXPECT_FALSE(op_of(std::span(req).first(n), 8, 4096).ok()) << n;
  for (size_t n = 0; n < rep.size(); ++n)
    EXPECT_FALSE(reply_of(std::span(rep).first(n), 8, 0).ok()) << n;
  // An op count past what we decode, a snap count past the bytes there, an oversized name.
  const size_t ops_at = 24 + 4 + 4 + 4 + 6 + 21 + 24 + 4 + 8 + 6 + 28 + 4 + 9;
  auto many = req;
  store_le<uint16_t>(&many[ops_at], kMaxOsdOps + 1);
  EXPECT_EQ(op_of(many, 8, 4096).error(), ProtoError::kMalformedPayload);
  auto snaps = req;
  store_le<uint32_t>(&snaps[ops_at + 2 + 38 + 16], 0x40000000);
  EXPECT_EQ(op_of(snaps, 8, 4096).error(), ProtoError::kMalformedPayload);
  EXPECT_EQ(reply_of(rep, 11, 0).error(), ProtoError::kUnsupportedVersion);
}

TEST(OsdMessages, OsdMapEpochsFromTheMonsMap) {
  // conn1-s2c.bin message 5 is an MOSDMap the mon sent `ceph -s`: one full map, epoch 1.
  auto h = test::receive_stream(test::read_file(test::data_dir() / "msgr2" / "conn1-s2c.bin"),
                                Role::kClient);
  const auto& m = h.messages[4];
  ASSERT_EQ(m.type, kMsgOsdMap);
  auto e = decode_osd_map(m.front_bytes);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->first(), 1u);
  EXPECT_EQ(e->last(), 1u);
  EXPECT_EQ(e->newest_known(), 1u);
  EXPECT_FALSE(decode_osd_map(std::span(m.front_bytes).first(30)).ok());
  auto hostile = m.front_bytes;
  store_le<uint32_t>(&hostile[16], 0xffffffff);  // a map count no front could hold
  EXPECT_FALSE(decode_osd_map(hostile).ok());
}

TEST(MonMessages, FsidAndCommandsAsCephSentThem) {
  auto s2c = test::receive_stream(test::read_file(test::data_dir() / "msgr2" / "conn1-s2c.bin"),
                                  Role::kClient);
  auto c2s = test::receive_stream(test::read_file(test::data_dir() / "msgr2" / "conn1-c2s.bin"),
                                  Role::kServer);
  ASSERT_EQ(s2c.messages[0].type, kMsgMonMap);
  auto fsid = decode_mon_map_fsid(s2c.messages[0].front_bytes);
  ASSERT_TRUE(fsid.ok());
  // The id `ceph -s` printed in the same capture (the ack's data below).
  EXPECT_EQ(to_string(*fsid), "1b0c6ce0-1c1a-4c2a-9c3e-000000000001");

  const auto& cmd = c2s.messages[5];  // {"prefix": "status"}
  ASSERT_EQ(cmd.type, kMsgMonCommand);
  MonCommand mine{*fsid, R"({"prefix": "status"})"};
  std::vector<uint8_t> front(mon_command_front_size(mine));
  ASSERT_EQ(encode_front(front, mine), front.size());
  EXPECT_EQ(front, cmd.front_bytes);

  const auto& ack = s2c.messages[6];
  ASSERT_EQ(ack.type, kMsgMonCommandAck);
  auto a = decode_mon_command_ack(ack.front_bytes);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->result, 0);
  EXPECT_NE(as_text(ack.data_bytes).find("id:     1b0c6ce0-1c1a-4c2a-9c3e-000000000001"),
            std::string_view::npos);
  for (size_t n = 0; n < ack.front_bytes.size(); ++n)
    EXPECT_FALSE(decode_mon_command_ack(std::span(ack.front_bytes).first(n)).ok()) << n;
}

TEST(MonMessages, GetVersionRoundTrips) {
  std::vector<uint8_t> front(64);
  front.resize(encode_front(front, MonGetVersion{7, "osdmap"}));
  WireReader r(front);
  EXPECT_EQ(r.u64(), 7u);
  EXPECT_EQ(r.string(), "osdmap");
  std::vector<uint8_t> reply(24);
  WireWriter w(reply);
  w.u64(7);
  w.u64(12);
  w.u64(1);
  auto d = decode_mon_get_version_reply(reply);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->version, 12u);
  EXPECT_FALSE(decode_mon_get_version_reply(std::span(reply).first(23)).ok());
}

TEST(AuthNone, PayloadsAreWhatCephClientsSend) {
  // librados to an OSD: the authorizer form with the global_id the mon gave (4120).
  auto put = test::read_file(test::data_dir() / "msgr2-osd" / "put-c2s.bin");
  auto mon = test::read_file(test::data_dir() / "msgr2" / "conn0-c2s.bin");
  auto auth_request = [](const std::vector<uint8_t>& stream) {
    FrameDecoder d;
    d.skip_offset(kBannerSize);
    std::span<const uint8_t> in = std::span(stream).subspan(kBannerSize);
    Frame f;
    while (d.next(in, f).ok() && f.tag() != Tag::kAuthRequest) {
    }
    AuthRequestFrame a;
    EXPECT_TRUE(decode(f.segments[0], a));
    return std::vector<uint8_t>(a.auth_payload.begin(), a.auth_payload.end());
  };
  EXPECT_EQ(auth_request(put), encode_auth_none_payload({EntityType::kClient, "admin", 4120, false}));
  // `ceph` to a monitor: the mon form, no global_id yet.
  EXPECT_EQ(auth_request(mon), encode_auth_none_payload({EntityType::kClient, "admin", 0, true}));
  const auto put_payload = auth_request(put);
  auto id = decode_auth_none_payload(put_payload);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->name, "admin");
  EXPECT_EQ(id->global_id, 4120u);
  EXPECT_FALSE(id->mon_form);
  auto bad = auth_request(put);
  bad[0] = 7;
  EXPECT_FALSE(decode_auth_none_payload(bad).ok());
}

TEST(AuthNone, OurClientSpeaksToEachDaemonInItsForm) {
  // The server's HELLO says what it is; our client picks the payload form from it, and gives
  // the AUTH_DONE global_id as its gid in CLIENT_IDENT (client.<gid> at the OSD).
  for (EntityType server_type : {EntityType::kMon, EntityType::kOsd}) {
    SessionConfig c = test::SessionPair::client_config();
    c.global_id = server_type == EntityType::kMon ? 0 : 4120;
    SessionConfig s = test::SessionPair::server_config();
    s.my_type = server_type;
    s.global_id = 555;
    test::SessionPair p(c, s);
    ASSERT_EQ(p.pump(), ProtoError::kOk);
    ASSERT_TRUE(p.client.ready());
    const uint64_t expected = server_type == EntityType::kMon ? 555 : 4120;
    EXPECT_EQ(p.client.global_id(), expected);
    EXPECT_EQ(p.server.peer_global_id(), expected);
    EXPECT_EQ(p.server.peer_auth_name(), "admin");
  }
}

}  // namespace
}  // namespace pollmsgr::proto
