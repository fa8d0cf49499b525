// Connections and reactors over a transport in memory (fake_transport.h): order, backpressure,
// and lossless sessions resuming through transport failures injected at named frames, in
// milliseconds, with no device, socket or peer process.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <fmt/format.h>

#include "dataplane/messenger/messenger.h"
#include "dataplane/reactor/reactor.h"
#include "dataplane/transport/tcp_transport.h"
#include "proto/osd_messages.h"
#include "tests/unit/eal_environment.h"
#include "tests/unit/fake_transport.h"
#include "tests/unit/wait.h"

namespace pollmsgr {
namespace {

using proto::Tag;

// The server echoes each message with a reply of the same tid; both sides record what came.
struct Recorder final : Dispatcher {
  bool server;
  std::vector<uint64_t> tids;
  int resumed = 0;
  explicit Recorder(bool s) : server(s) {}
  void on_message(Connection& c, const proto::MessageView& m) override {
    tids.push_back(m.header.tid);
    if (server) {
      uint8_t front[32] = {};
      EXPECT_NE(c.send({proto::kMsgOsdOpReply, m.header.tid, {front, sizeof(front)}, {}}),
                SendStatus::kBusy);
    }
  }
  void on_resumed(Connection&, uint64_t) override { ++resumed; }
  std::vector<std::string>* faults = nullptr;  // why each connection ended, where the test reads it
  void on_fault(Connection& c, std::string_view why) override {
    if (faults) faults->push_back(fmt::format("{} {}", c.id(), why));
  }
};

struct Pair {
  test::FakeTransport transport;
  Recorder server_d{true}, client_d{false};
  Reactor server{0, server_d}, client{0, client_d};
  std::unique_ptr<Messenger> server_m, client_m;
  Connection* c = nullptr;

  explicit Pair(size_t capacity, bool lossless = false, std::vector<test::FakeTransport::BreakRule> rules = {})
      : transport(capacity) {
    transport.rules = std::move(rules);
    MessengerOptions o;
    o.transport = &transport;
    o.lossy = !lossless;
    o.reconnect_window_ms = 10000;
    o.peer_timeout_ms = 0;
    server_m = std::make_unique<Messenger>(o, std::vector<Reactor*>{&server});
    client_m = std::make_unique<Messenger>(o, std::vector<Reactor*>{&client});
    const HostPort addr = parse_host_port("127.0.0.1:1");
    server_m->bind(addr);
    c = client_m->connect_to(addr, client);
    EXPECT_TRUE(drive([&] { return c->ready(); }, "the handshake"));
  }
  template <class Done>
  bool drive(Done done, const char* what) {
    return test::eventually([&] {
      client.poll_once();
      server.poll_once();
      return done();
    }, what, 30);
  }
};

std::vector<uint8_t> kData(1024, 0x42);
uint8_t kFront[64] = {};

SendStatus send(Pair& p, uint64_t tid) {
  return p.c->send({proto::kMsgOsdOp, tid, {kFront, sizeof(kFront)}, kData});
}

std::vector<uint64_t> one_to(uint64_t n) {
  std::vector<uint64_t> v(n);
  for (uint64_t i = 0; i < n; ++i) v[i] = i + 1;
  return v;
}

TEST(Connection, ControlFramesKeepTheirPlaceBehindQueuedMessages) {
  Pair p(2048);  // a narrow window: most of the burst has to queue
  for (uint64_t tid = 1; tid <= 8; ++tid) ASSERT_NE(send(p, tid), SendStatus::kBusy);
  ASSERT_GT(p.c->tx_queued(), 0u);
  p.server.poll_once();  // the server reads: the window has room again, but messages still wait
  ASSERT_GT(p.c->tx_queued(), 0u);
  ASSERT_TRUE(p.c->send_keepalive({7, 7}));
  ASSERT_TRUE(p.drive([&] { return p.client_d.tids.size() == 8; }, "8 replies"));
  const auto& tags = p.transport.c2s(0).tags;
  const std::vector<Tag> after_handshake(tags.begin() + 4, tags.end());
  std::vector<Tag> want(8, Tag::kMessage);
  want.push_back(Tag::kKeepalive2);
  EXPECT_EQ(after_handshake, want) << "a frame jumped the queue";
  EXPECT_EQ(p.server_d.tids, one_to(8));
}

TEST(Connection, AFullWindowIsBusyNotLoss) {
  Pair p(1024);
  uint64_t accepted = 0;
  SendStatus s = SendStatus::kSent;
  while ((s = send(p, accepted + 1)) != SendStatus::kBusy) ++accepted;
  EXPECT_EQ(accepted, Connection::kQueueDepth);  // the queue holds what the window could not
  ASSERT_TRUE(p.drive([&] { return p.client_d.tids.size() == accepted; }, "every reply"));
  EXPECT_EQ(p.server_d.tids, one_to(accepted));
  EXPECT_EQ(p.client_d.tids, one_to(accepted));
  EXPECT_EQ(p.c->tx_queued(), 0u);
}

// A frame split across reads is held, and counted against the lcore's budget, until its
// connection goes: then the lcore is back to nothing held.
TEST(Connection, PartialFramesCountForTheLcoreUntilTheConnectionGoes) {
  Pair p(2048);  // the frame arrives in pieces
  const std::vector<uint8_t> big(256u << 10, 0x42);
  ASSERT_NE(p.c->send({proto::kMsgOsdOp, 1, {kFront, sizeof(kFront)}, big}), SendStatus::kBusy);
  size_t most = 0;
  ASSERT_TRUE(p.drive([&] {
    most = std::max(most, p.server.reassembly_bytes());
    return p.server_d.tids.size() == 1;
  }, "the large message"));
  EXPECT_GE(most, big.size());
  p.c->close();
  ASSERT_TRUE(p.drive([&] { return p.server.connection_count() == 0; }, "the server to drop it"));
  EXPECT_EQ(p.server.reassembly_bytes(), 0u);
}

// A lossless session is resumed by whoever names its cookie: one cookie must say nothing about
// the next (64 random bits: two sharing their upper half is a 1 in 2^32 chance).
// A reactor destroyed while it holds connections (one with sends queued for a peer that does
// not read, one mid-handshake) tells the dispatcher of each, then frees them before its own
// spare queues go (ASan: no use after free).
TEST(Connection, AReactorDestroyedWithConnectionsTellsEachAndFreesThemFirst) {
  std::vector<std::string> client_faults, server_faults;
  auto p = std::make_unique<Pair>(1024);
  p->client_d.faults = &client_faults;
  p->server_d.faults = &server_faults;
  uint64_t tid = 1;
  while (send(*p, tid) != SendStatus::kBusy) ++tid;  // the server does not read: sends queue
  ASSERT_GT(p->c->tx_queued(), 0u);
  const uint64_t queued_id = p->c->id();
  Connection* fresh = p->client_m->connect_to(parse_host_port("127.0.0.1:1"), p->client);
  ASSERT_FALSE(fresh->ready());  // never driven: mid-handshake
  const uint64_t fresh_id = fresh->id();
  p.reset();
  const std::string why(kShutdownReason);
  EXPECT_EQ(client_faults, (std::vector<std::string>{fmt::format("{} {}", fresh_id, why),
                                                     fmt::format("{} {}", queued_id, why)}))
      << "every client connection hears of the shutdown, once";
  EXPECT_EQ(server_faults.size(), 1u) << "the server's accepted connection too";
}

TEST(Connection, CookiesSayNothingAboutOneAnother) {
  Pair p(1 << 16);
  Connection* second = p.client_m->connect_to(parse_host_port("127.0.0.1:1"), p.client);
  ASSERT_TRUE(p.drive([&] { return second->ready(); }, "the second handshake"));
  const uint64_t a = p.c->session().cookie(), b = second->session().cookie();
  EXPECT_NE(a >> 32, b >> 32) << std::hex << a << " then " << b;
  EXPECT_NE(b, a + 1);
}

struct FaultCase {
  const char* name;
  std::vector<test::FakeTransport::BreakRule> rules;
};

class LosslessThroughFaults : public testing::TestWithParam<FaultCase> {};

TEST_P(LosslessThroughFaults, NothingLostNothingTwice) {
  Pair p(64 * 1024, true, GetParam().rules);
  constexpr uint64_t kOps = 60;
  uint64_t sent = 0;
  ASSERT_TRUE(p.drive([&] {
    while (sent < kOps && sent < p.client_d.tids.size() + 8) {  // 8 in flight
      if (send(p, sent + 1) == SendStatus::kBusy) break;
      ++sent;
    }
    return p.client_d.tids.size() == kOps && p.c->unacked() == 0;
  }, "every op answered")) << "resumed " << p.client_d.resumed << " times over "
                           << p.transport.connections() << " connections";
  EXPECT_EQ(p.server_d.tids, one_to(kOps)) << "the server lost or repeated one";
  EXPECT_EQ(p.client_d.tids, one_to(kOps)) << "the client lost or repeated a reply";
  EXPECT_GE(p.client_d.resumed, 1);
  EXPECT_GE(p.transport.connections(), 2u);
}

// Mid-stream on the first transport, then (on the second) at each frame of the reconnect.
std::vector<FaultCase> fault_cases() {
  using R = test::FakeTransport::BreakRule;
  const R mid_c2s{0, true, Tag::kMessage, 20}, mid_s2c{0, false, Tag::kMessage, 20};
  return {
      {"message_to_server", {mid_c2s}},
      {"message_to_client", {mid_s2c}},
      {"then_hello", {mid_c2s, {1, true, Tag::kHello}}},
      {"then_auth_request", {mid_c2s, {1, true, Tag::kAuthRequest}}},
      {"then_auth_done", {mid_c2s, {1, false, Tag::kAuthDone}}},
      {"then_auth_signature", {mid_c2s, {1, true, Tag::kAuthSignature}}},
      {"then_session_reconnect", {mid_c2s, {1, true, Tag::kSessionReconnect}}},
      {"then_reconnect_ok", {mid_s2c, {1, false, Tag::kSessionReconnectOk}}},
      {"then_the_first_message_again", {mid_c2s, {1, true, Tag::kMessage}}},
      {"three_times", {mid_c2s, {1, false, Tag::kMessage, 3}, {2, true, Tag::kMessage, 3}}},
  };
}
INSTANTIATE_TEST_SUITE_P(Fake, LosslessThroughFaults, testing::ValuesIn(fault_cases()),
                         [](const auto& param) { return std::string(param.param.name); });

}  // namespace
}  // namespace pollmsgr

namespace pollmsgr {
namespace {

TEST(OwnerCheck, ACallFromAnotherThreadIsCaught) {
#ifdef NDEBUG
  GTEST_SKIP() << "asserts are compiled out of release builds; the debug build runs this";
#else
  Pair p(64 * 1024);  // this thread has driven both reactors: they, and their connections, are its
  EXPECT_DEATH({
    std::thread other([&] { send(p, 1); });
    other.join();
  }, "called from a thread other than the lcore that owns");
  EXPECT_DEATH({
    std::thread other([&] { p.client.poll_once(); });
    other.join();
  }, "called from a thread other than the lcore that owns");
#endif
}

}  // namespace
}  // namespace pollmsgr

namespace pollmsgr {
namespace {

// A port on 127.0.0.1 that nobody listens on (now).
uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), len), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

// A client that learns of a server while its loop runs (a new OSD in a map) connects from its
// own lcore, inside the loop: the loop never waits, the handshake completes in it, and messages
// go both ways. A server nobody listens on costs that connection alone, with the reason.
TEST(Connection, OpenedFromARunningLoopOverTcp) {
  test::EalEnvironment::runtime();  // the transport's pool lives in the EAL's memory
  TcpTransport transport({4096, 64});
  Recorder server_d{true}, client_d{false};
  std::vector<std::string> faults;
  client_d.faults = &faults;
  Reactor server{0, server_d}, client{0, client_d};
  MessengerOptions o;
  o.transport = &transport;
  o.peer_timeout_ms = 0;
  Messenger server_m(o, {&server}), client_m(o, {&client});
  const HostPort addr = parse_host_port("127.0.0.1:" + std::to_string(free_port()));
  const HostPort nobody = parse_host_port("127.0.0.1:" + std::to_string(free_port()));
  server_m.bind(addr);

  Connection* c = nullptr;
  Connection* lost = nullptr;
  std::string error;
  bool lost_at_once = false;
  client.add_timer(1, [&](uint64_t) {  // in the loop, on its lcore
    if (c) return;
    c = client_m.connect_from_lcore(addr, client);
    lost = client_m.connect_from_lcore(nobody, client, &error);
    lost_at_once = lost == nullptr;
  });
  auto drive = [&](auto done, const char* what) {
    return test::eventually([&] {
      client.poll_once();
      server.poll_once();
      return done();
    }, what, 30);
  };
  ASSERT_TRUE(drive([&] { return c && c->ready(); }, "the handshake of a connection made in the loop"));
  uint8_t front[16] = {};
  ASSERT_NE(c->send({proto::kMsgOsdOp, 7, {front, sizeof front}, kData}), SendStatus::kBusy);
  ASSERT_TRUE(drive([&] { return !client_d.tids.empty(); }, "the echo"));
  EXPECT_EQ(client_d.tids, std::vector<uint64_t>{7});
  if (lost_at_once) {
    EXPECT_NE(error.find("refused"), std::string::npos) << error;
  } else {
    ASSERT_TRUE(drive([&] { return !faults.empty(); }, "the fault of the connection to nobody"));
    EXPECT_NE(faults[0].find("refused"), std::string::npos) << faults[0];
  }
  EXPECT_TRUE(c->ready()) << "the other connection is untouched";
}

}  // namespace
}  // namespace pollmsgr
