// Lossless sessions across a transport failure: SESSION_RECONNECT, SESSION_RECONNECT_OK or
// SESSION_RESET, and what each side must send again.
#include <gtest/gtest.h>

#include "proto/session.h"
#include "tests/proto/test_util.h"

namespace pollmsgr::proto {
namespace {

SessionConfig lossless(SessionConfig c, uint64_t cookie) {
  c.lossy = false;
  c.cookie = cookie;
  return c;
}

// Moves bytes between `client` and `server` until both are quiet; the first fault, or kOk.
ProtoError exchange(Session& client, VectorSink& to_server, test::RecordingHandler& ch,
                    Session& server, VectorSink& to_client, test::RecordingHandler& sh) {
  ProtoError first = ProtoError::kOk;
  for (int i = 0; i < 20 && (!to_server.bytes.empty() || !to_client.bytes.empty()); ++i) {
    auto a = std::exchange(to_server.bytes, {});
    if (ProtoError e = server.on_bytes(a, to_client, sh); first == ProtoError::kOk) first = e;
    auto b = std::exchange(to_client.bytes, {});
    if (ProtoError e = client.on_bytes(b, to_server, ch); first == ProtoError::kOk) first = e;
  }
  return first;
}

void send(Session& s, VectorSink& sink, uint64_t tid, uint64_t seq = 0) {
  std::vector<uint8_t> front = {1, 2, 3};
  auto space = sink.reserve(message_head_size(front.size(), 0));
  MsgHeader2 h;
  h.type = 42;
  h.tid = tid;
  h.seq = seq;
  auto head = s.encode_message(space, h, front, {}, {});
  ASSERT_TRUE(head.ok());
  sink.commit(head->head_size);
  sink.bytes.insert(sink.bytes.end(), head->epilogue.begin(),
                    head->epilogue.begin() + head->epilogue_size);
}

struct Resume : ::testing::Test {
  Session client{lossless(test::SessionPair::client_config(), 77)};
  Session server{lossless(test::SessionPair::server_config(), 99)};
  VectorSink to_server, to_client;
  test::RecordingHandler ch, sh;

  // Handshake; the client sends tids 1-2 (delivered), then 3 and the server its reply to 1,
  // which the failing transport loses.
  void SetUp() override {
    client.start(to_server);
    server.start(to_client);
    ASSERT_EQ(exchange(client, to_server, ch, server, to_client, sh), ProtoError::kOk);
    ASSERT_TRUE(client.lossless() && server.lossless());
    send(client, to_server, 1);
    send(client, to_server, 2);
    ASSERT_EQ(exchange(client, to_server, ch, server, to_client, sh), ProtoError::kOk);
    ASSERT_EQ(server.in_seq(), 2u);
    send(client, to_server, 3);
    send(server, to_client, 1);
    to_server.bytes.clear();
    to_client.bytes.clear();
  }

  // The client starts over on a new transport, to a new server-side session, which learns
  // which session the client wants to resume.
  Session fresh{lossless(test::SessionPair::server_config(), 1000)};
  test::RecordingHandler fh;
  void reconnect_to_fresh() {
    ASSERT_EQ(client.restart(to_server), ProtoError::kOk);
    fresh.start(to_client);
    ASSERT_EQ(exchange(client, to_server, ch, fresh, to_client, fh), ProtoError::kOk);
    ASSERT_EQ(fresh.state(), Session::State::kResumeWait);
  }
};

TEST_F(Resume, TheSessionGoesOnAndOnlyWhatWasLostIsSentAgain) {
  reconnect_to_fresh();
  const ReconnectFrame& r = fresh.resume_request();
  EXPECT_EQ(r.client_cookie, 77u);
  EXPECT_EQ(r.server_cookie, 99u);
  EXPECT_EQ(r.connect_seq, 1u);
  EXPECT_EQ(r.msg_seq, 0u);  // the server's reply never arrived
  EXPECT_EQ(fh.ready, 0);

  // The original session answers on the new transport.
  ASSERT_EQ(server.resume(to_client, r, sh), ProtoError::kOk);
  EXPECT_EQ(sh.resumed, 1);
  ASSERT_EQ(exchange(client, to_server, ch, server, to_client, sh), ProtoError::kOk);
  ASSERT_TRUE(client.ready());
  EXPECT_EQ(ch.resumed, 1);
  EXPECT_EQ(ch.ready, 1);  // not a new session
  EXPECT_EQ(client.resumes(), 1u);
  EXPECT_EQ(server.connect_seq(), 1u);  // a later, older attempt (connect_seq 1) is not taken
  EXPECT_EQ(client.peer_acked_seq(), 2u);  // so seq 3 must go again, 1 and 2 not

  // A resend the server already has is dropped; the lost one is delivered, once.
  send(client, to_server, 2, 2);
  send(client, to_server, 3, 3);
  send(server, to_client, 1, 1);  // the server's lost reply, sent again
  ASSERT_EQ(exchange(client, to_server, ch, server, to_client, sh), ProtoError::kOk);
  ASSERT_EQ(sh.messages.size(), 3u);
  EXPECT_EQ(sh.messages[2].tid, 3u);
  EXPECT_EQ(sh.messages[2].seq, 3u);
  ASSERT_EQ(ch.messages.size(), 1u);
  EXPECT_EQ(ch.messages[0].seq, 1u);

  // New messages carry on from there.
  send(client, to_server, 4);
  ASSERT_EQ(exchange(client, to_server, ch, server, to_client, sh), ProtoError::kOk);
  ASSERT_EQ(sh.messages.size(), 4u);
  EXPECT_EQ(sh.messages[3].seq, 4u);
}

TEST_F(Resume, AServerWithoutTheSessionResetsIt) {
  reconnect_to_fresh();
  ASSERT_EQ(fresh.refuse_resume(to_client), ProtoError::kOk);
  EXPECT_EQ(fresh.state(), Session::State::kClosed);
  EXPECT_EQ(client.on_bytes(to_client.bytes, to_server, ch), ProtoError::kSessionLost);
  EXPECT_EQ(client.fault(), ProtoError::kSessionLost);
}

TEST_F(Resume, ALossyServerRefusesAtOnce) {
  ASSERT_EQ(client.restart(to_server), ProtoError::kOk);
  auto config = test::SessionPair::server_config();
  config.lossy = true;  // keeps no sessions
  Session lossy(config);
  lossy.start(to_client);
  EXPECT_EQ(exchange(client, to_server, ch, lossy, to_client, fh), ProtoError::kSessionLost);
  EXPECT_EQ(lossy.state(), Session::State::kClosed);
}

TEST(ResumeNegotiation, OneLossySideMakesTheSessionLossy) {
  auto lossy_server = test::SessionPair::server_config();
  lossy_server.lossy = true;
  test::SessionPair q(lossless(test::SessionPair::client_config(), 77), lossy_server);
  ASSERT_EQ(q.pump(), ProtoError::kOk);
  EXPECT_FALSE(q.client.lossless());
  EXPECT_FALSE(q.server.lossless());
  VectorSink out;
  EXPECT_EQ(q.client.restart(out), ProtoError::kSessionLost);  // nothing to resume
}

TEST(ResumeNegotiation, OnlyAClientThatWasReadyCanRestart) {
  Session s(lossless(test::SessionPair::client_config(), 77));
  VectorSink out;
  EXPECT_EQ(s.restart(out), ProtoError::kSessionLost);
}

}  // namespace
}  // namespace pollmsgr::proto

namespace pollmsgr::proto {
namespace {

TEST_F(Resume, ALosslessSessionRefusesASequenceGap) {
  // After 1 and 2, the client's next message claims seq 4: one was skipped, so lost. A lossless
  // receiver must fault, never deliver past the hole. (A lossy one takes it: loss is allowed.)
  to_server.bytes.clear();
  send(client, to_server, 4, 4);
  EXPECT_EQ(server.on_bytes(to_server.bytes, to_client, sh), ProtoError::kBadSequence);
  EXPECT_EQ(sh.messages.size(), 2u);
}

}  // namespace
}  // namespace pollmsgr::proto
