// Two pollmsgr sessions talking to each other in memory: handshake, messages both ways,
// sequence numbers and acks, keepalives.
#include <gtest/gtest.h>

#include "proto/session.h"
#include "tests/proto/test_util.h"

namespace pollmsgr::proto {
namespace {

struct Link : test::SessionPair {
  void pump() { ASSERT_EQ(SessionPair::pump(), ProtoError::kOk); }
  // Appends a whole message frame (head, data, epilogue) to `sink`.
  static void send(Session& s, VectorSink& sink, uint16_t type, uint64_t tid,
                   std::vector<uint8_t> front, std::vector<uint8_t> data) {
    auto space = sink.reserve(message_head_size(front.size(), 0));
    MsgHeader2 h;
    h.type = type;
    h.tid = tid;
    auto head = s.encode_message(space, h, front, {}, data);
    ASSERT_TRUE(head.ok());
    sink.commit(head->head_size);
    sink.bytes.insert(sink.bytes.end(), data.begin(), data.end());
    sink.bytes.insert(sink.bytes.end(), head->epilogue.begin(),
                      head->epilogue.begin() + head->epilogue_size);
  }
};

TEST(Session, HandshakeBothRoles) {
  Link l;
  l.pump();
  ASSERT_TRUE(l.client.ready());
  ASSERT_TRUE(l.server.ready());
  EXPECT_EQ(l.ch.ready, 1);
  EXPECT_EQ(l.sh.ready, 1);
  EXPECT_EQ(l.client.global_id(), 4242u);
  EXPECT_EQ(l.client.peer_type(), EntityType::kOsd);
  EXPECT_EQ(l.server.peer_type(), EntityType::kClient);
  EXPECT_EQ(l.client.my_addr_as_seen().port(), 40000);
  ASSERT_EQ(l.server.peer_addrs().size(), 1u);
  EXPECT_EQ(l.server.peer_addrs()[0].nonce, 1234u);
  EXPECT_EQ(l.client.peer_features(), kDefaultFeatures);
  std::vector<Tag> client_saw = {Tag::kHello, Tag::kAuthDone, Tag::kAuthSignature,
                                 Tag::kServerIdent};
  std::vector<Tag> server_saw = {Tag::kHello, Tag::kAuthRequest, Tag::kAuthSignature,
                                 Tag::kClientIdent};
  EXPECT_EQ(l.ch.tags, client_saw);
  EXPECT_EQ(l.sh.tags, server_saw);
}

TEST(Session, MessagesBothWaysWithSequenceAndAcks) {
  Link l;
  l.pump();
  for (uint64_t tid = 1; tid <= 3; ++tid)
    Link::send(l.client, l.to_server, 42, tid, {1, 2, 3}, std::vector<uint8_t>(4096, uint8_t(tid)));
  l.pump();
  ASSERT_EQ(l.sh.messages.size(), 3u);
  for (uint64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(l.sh.messages[i].seq, i + 1);
    EXPECT_EQ(l.sh.messages[i].tid, i + 1);
    EXPECT_EQ(l.sh.messages[i].data, 4096u);
    EXPECT_EQ(l.sh.messages[i].data_bytes[4095], uint8_t(i + 1));
  }
  EXPECT_EQ(l.server.in_seq(), 3u);
  EXPECT_TRUE(l.server.ack_pending());
  Link::send(l.server, l.to_client, 43, 3, {0}, {});  // the reply piggybacks ack_seq = 3
  EXPECT_FALSE(l.server.ack_pending());
  l.pump();
  EXPECT_EQ(l.client.peer_acked_seq(), 3u);
  ASSERT_EQ(l.ch.messages.size(), 1u);
  EXPECT_EQ(l.ch.messages[0].type, 43);

  ASSERT_EQ(l.client.send_ack(l.to_server), ProtoError::kOk);  // explicit ACK frame
  l.pump();
  EXPECT_EQ(l.server.peer_acked_seq(), 1u);
}

TEST(Session, KeepaliveIsAnsweredWithTheSameStamp) {
  Link l;
  l.pump();
  ASSERT_EQ(l.client.send_keepalive(l.to_server, {100, 200}), ProtoError::kOk);
  l.pump();
  ASSERT_EQ(l.ch.keepalive_acks.size(), 1u);
  EXPECT_EQ(l.ch.keepalive_acks[0], (Timestamp{100, 200}));
}

TEST(Session, ResetClosesTheSenderAndFaultsThePeer) {
  Link l;
  l.pump();
  ASSERT_EQ(l.client.send_reset(l.to_server, true), ProtoError::kOk);
  EXPECT_EQ(l.client.state(), Session::State::kClosed);
  auto bytes = std::move(l.to_server.bytes);
  EXPECT_EQ(l.server.on_bytes(bytes, l.to_client, l.sh), ProtoError::kPeerReset);
}

TEST(Session, NothingBeforeReady) {
  Link l;
  std::vector<uint8_t> out(256);
  EXPECT_FALSE(l.client.encode_message(out, {}, {}, {}, {}).ok());
  EXPECT_EQ(l.client.send_keepalive(l.to_server, {}), ProtoError::kClosed);
}

}  // namespace
}  // namespace pollmsgr::proto
