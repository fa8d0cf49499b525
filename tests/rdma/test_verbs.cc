// The verbs layer against a real RDMA device (soft-RoCE in tools/rxe-vm): device and GID
// selection, the limits checks, a connected pair of endpoints streaming bytes under tight
// credits, event-mode notification, a peer that goes away, and every buffer and queue pair
// accounted for afterwards; and hostile peers, built by hand on the device, that READ or WRITE
// outside what they were lent or SEND past their credits. run-with-device skips the binary
// where there is no device.
#include <gtest/gtest.h>
#include <poll.h>

#include <future>
#include <thread>

#include "dataplane/runtime/startup_error.h"
#include "tests/hostile/rdma_raw_peer.h"
#include "tests/unit/eal_environment.h"
#include "verbs/lcore_queues.h"
#include "verbs/rdma_endpoint.h"
#include "verbs/rdma_transport.h"

namespace pollmsgr::verbs {
namespace {

RdmaOptions small_options() {
  RdmaOptions o;
  o.chunk_bytes = 1024;
  o.credits = kMinCredits;  // the tightest flow control there is: every byte waits for credits
  o.buffers = 256;
  o.srq_depth = 64;
  o.large_bytes = 64 << 10;
  o.large_buffers = 8;
  return o;
}

std::string startup_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const StartupError& e) {
    return e.what();
  }
  return "";
}

// The endpoint `server` accepts while `connect` (another thread) sets up its client: both.
template <class Client>
std::pair<std::unique_ptr<Endpoint>, Client> accept_one(RdmaTransport& server,
                                                        std::function<Client()> connect) {
  auto connecting = std::async(std::launch::async, connect);
  std::unique_ptr<Endpoint> ep;
  for (int i = 0; i < 60000 && !ep; ++i) {  // up to a minute: emulation is slow
    ep = server.accept([](uint64_t) { return size_t{0}; }).endpoint;
    if (!ep) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return {std::move(ep), connecting.get()};
}

// A client and a server endpoint on one transport each, connected over 127.0.0.1.
struct Pair {
  RdmaTransport server_transport, client_transport;
  std::unique_ptr<Endpoint> server, client;

  Pair(uint16_t port, const RdmaOptions& o = small_options(), bool event_mode = false)
      : server_transport(o, 1, event_mode), client_transport(o, 1, event_mode) {
    const HostPort address = parse_host_port("127.0.0.1:" + std::to_string(port));
    server_transport.listen(address);
    std::tie(server, client) = accept_one<std::unique_ptr<Endpoint>>(
        server_transport, [&] { return client_transport.connect(address, 0, 0, true); });
  }
};

// Moves `bytes` from one endpoint to the other through the stream interface, checking order.
void stream(Endpoint& from, Endpoint& to, size_t bytes) {
  size_t sent = 0, received = 0;
  for (int spins = 0; received < bytes && spins < 2'000'000; ++spins) {
    auto w = from.tx_window(1);
    const size_t n = std::min(w.size(), bytes - sent);
    for (size_t i = 0; i < n; ++i) w[i] = static_cast<uint8_t>((sent + i) * 31 + 7);
    if (n) from.tx_commit(n);
    sent += n;
    ASSERT_EQ(from.tx_flush(), EndpointStatus::kOk) << from.failure();
    auto r = to.rx_window();
    for (size_t i = 0; i < r.size(); ++i)
      ASSERT_EQ(r[i], static_cast<uint8_t>((received + i) * 31 + 7)) << "at byte " << received + i;
    received += r.size();
    to.rx_release(r.size());
    ASSERT_EQ(to.tx_flush(), EndpointStatus::kOk);  // returns credits
  }
  EXPECT_EQ(received, bytes);
}

// A server transport and its accepted endpoints: honest clients (from a transport of their
// own) and hand-made hostile peers.
struct Server {
  RdmaTransport transport, client_transport;
  HostPort address;
  explicit Server(uint16_t port, const RdmaOptions& server = small_options(),
                  const RdmaOptions& clients = small_options())
      : transport(server, 1, false), client_transport(clients, 1, false),
        address(parse_host_port("127.0.0.1:" + std::to_string(port))) {
    transport.listen(address);
  }
  std::pair<std::unique_ptr<Endpoint>, std::unique_ptr<Endpoint>> accept_client() {
    return accept_one<std::unique_ptr<Endpoint>>(
        transport, [this] { return client_transport.connect(address, 0, 0, true); });
  }
  std::pair<std::unique_ptr<Endpoint>, std::unique_ptr<RawPeer>> accept_raw() {
    return accept_one<std::unique_ptr<RawPeer>>(
        transport, [this] { return std::make_unique<RawPeer>(address.port); });
  }
};

// The server lends `ep`'s peer a frame of `size` bytes (i * 7 + 1 each) through a window.
void lend(Endpoint& ep, size_t size) {
  auto w = ep.tx_window(size);
  ASSERT_GE(w.size(), size);
  for (size_t i = 0; i < size; ++i) w[i] = static_cast<uint8_t>(i * 7 + 1);
  ep.tx_commit(size);
  ASSERT_EQ(ep.tx_flush(), EndpointStatus::kOk) << ep.failure();
}

TEST(Verbs, OpensTheDeviceOnItsIpv4MappedGid) {
  Device d("", 1, -1);
  EXPECT_FALSE(d.name().empty());
  ibv_gid gid{};
  ASSERT_EQ(ibv_query_gid(d.context(), 1, d.gid_index(), &gid), 0);
  EXPECT_EQ(gid.raw[10], 0xff);
  EXPECT_EQ(gid.raw[11], 0xff);
}

TEST(Verbs, BadChoicesAreClearErrors) {
  EXPECT_NE(startup_error_of([] { Device("no_such_dev0", 1, -1); }).find("no such device (there is"),
            std::string::npos);
  EXPECT_NE(startup_error_of([] { Device("", 1, 1000); }).find("--gid-index 1000"),
            std::string::npos);
  RdmaOptions deep = small_options();
  deep.srq_depth = 1u << 30;
  EXPECT_NE(startup_error_of([&] { RdmaTransport t(deep, 1, false); }).find("max_srq_wr"),
            std::string::npos);
  RdmaOptions many = small_options();
  many.credits = 20000;
  EXPECT_NE(startup_error_of([&] { RdmaTransport t(many, 1, false); }).find("at most 16384"),
            std::string::npos);
  RdmaOptions one = small_options();
  one.credits = kMinCredits - 1;
  EXPECT_NE(startup_error_of([&] { RdmaTransport t(one, 1, false); }).find("at least 3"),
            std::string::npos);
  RdmaOptions tiny_cq = small_options();
  tiny_cq.send_cq_entries = LcoreQueues::kSendReserve;
  EXPECT_NE(startup_error_of([&] { RdmaTransport t(tiny_cq, 1, false); })
                .find("holds less than one connection's sends"),
            std::string::npos);
  RdmaOptions huge_cq = small_options();
  huge_cq.send_cq_entries = 1u << 30;
  EXPECT_NE(startup_error_of([&] { RdmaTransport t(huge_cq, 1, false); }).find("max_cqe"),
            std::string::npos);
}

TEST(Verbs, StreamsInOrderBothWaysUnderTheFewestCredits) {
  Pair p(18501);
  ASSERT_TRUE(p.server && p.client);
  stream(*p.client, *p.server, 300000);  // ~300 chunks through 3 credits
  stream(*p.server, *p.client, 100000);
  EXPECT_EQ(p.client->check_peer(), EndpointStatus::kOk);
}

TEST(Verbs, AFrameLargerThanAChunkIsReadWholeInOneRead) {
  Pair p(18505);
  ASSERT_TRUE(p.server && p.client);
  for (int round = 0; round < 20; ++round) {  // more rounds than either side has large buffers
    const size_t size = 20000 + round;
    auto w = p.client->tx_window(size);
    ASSERT_GE(w.size(), size);  // one contiguous window: a large buffer
    for (size_t i = 0; i < size; ++i) w[i] = static_cast<uint8_t>(i * 13 + round);
    p.client->tx_commit(size);
    ASSERT_EQ(p.client->tx_flush(), EndpointStatus::kOk) << p.client->failure();
    std::span<const uint8_t> r;
    for (int spins = 0; r.empty() && spins < 1'000'000; ++spins) {
      r = p.server->rx_window();
      p.server->tx_flush();
      p.client->rx_window();  // takes back its large buffer once the server is done with it
    }
    ASSERT_EQ(r.size(), size) << "round " << round;  // the whole frame, in place
    for (size_t i = 0; i < size; ++i)
      ASSERT_EQ(r[i], static_cast<uint8_t>(i * 13 + round)) << "round " << round << " byte " << i;
    p.server->rx_release(size);
    p.server->tx_flush();
  }
  EXPECT_EQ(static_cast<RdmaEndpoint&>(*p.server).reads_done(), 20u);
}

TEST(Verbs, EveryBufferAndQueuePairComesBack) {
  std::unique_ptr<Pair> p = std::make_unique<Pair>(18502);
  ASSERT_TRUE(p->server && p->client);
  EXPECT_EQ(p->server_transport.census().queue_pairs, 1u);
  // Leave bytes in flight and unread on both sides, then tear down.
  auto w = p->client->tx_window(1);
  p->client->tx_commit(w.size());
  p->client->tx_flush();
  p->client.reset();
  for (int i = 0; i < 60000 && p->server->check_peer() == EndpointStatus::kOk; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(p->server->check_peer(), EndpointStatus::kPeerClosed);  // the side channel closed
  p->server.reset();
  for (RdmaTransport* t : {&p->server_transport, &p->client_transport}) {
    auto c = t->census();
    EXPECT_EQ(c.queue_pairs, 0u);
    EXPECT_EQ(c.held_by_connections, 0u);
    EXPECT_EQ(c.in_pool + c.posted_for_receive, c.total);
  }
}

// Event mode: one completion channel per lcore, armed once before it sleeps (not per queue
// pair); a completion for an idle endpoint makes its fd readable, and the lcore's queues then
// name that endpoint by its ready tag.
TEST(Verbs, EventModeWakesTheIdleEndpointThroughItsLcoresChannel) {
  Pair p(18503, small_options(), true);
  ASSERT_TRUE(p.server && p.client);
  ReadySource* source = p.server->ready_source();
  ASSERT_NE(source, nullptr);
  ASSERT_GE(source->wait_fd(), 0);
  p.server->set_ready_tag(42);
  ASSERT_TRUE(p.server->enter_idle());  // nothing there: may sleep
  ASSERT_TRUE(source->arm());
  pollfd pfd{source->wait_fd(), POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 0), 0);
  auto w = p.client->tx_window(5);
  std::memcpy(w.data(), "hello", 5);
  p.client->tx_commit(5);
  p.client->tx_flush();
  EXPECT_EQ(poll(&pfd, 1, 5000), 1);  // the completion woke it
  source->acknowledge();
  uint64_t tags[4];
  size_t n = 0;
  for (int spins = 0; n == 0 && spins < 1'000'000; ++spins) n = source->take_ready(tags, 4);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(tags[0], 42u);
  p.server->leave_idle();
  auto r = p.server->rx_window();
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(r.data()), 5), "hello");
}

TEST(Verbs, PollModeHasNoCompletionChannel) {
  Pair p(18504);
  ASSERT_TRUE(p.server && p.client);
  EXPECT_EQ(p.server->ready_source()->wait_fd(), -1);
  EXPECT_EQ(p.client->ready_source()->wait_fd(), -1);
  EXPECT_GE(p.server->wait_fd(), 0);  // its side channel: how a peer that went is heard
}

// One lcore's queue pairs share its two completion queues (issue 12): interleaved traffic on
// many of them reaches each its own connection, in order, on both sides.
TEST(Verbs, CompletionsOfManyQueuePairsOnOneQueueReachTheirOwn) {
  Server s(18507);
  constexpr size_t kPairs = 16, kBytes = 20000;
  std::vector<std::unique_ptr<Endpoint>> servers, clients;
  for (size_t i = 0; i < kPairs; ++i) {
    auto [server, client] = s.accept_client();
    ASSERT_TRUE(server && client) << "pair " << i;
    servers.push_back(std::move(server));
    clients.push_back(std::move(client));
  }
  auto byte = [](size_t pair, size_t pos) { return static_cast<uint8_t>(pos * 31 + pair * 7 + 1); };
  std::vector<size_t> sent(kPairs), received(kPairs);
  bool done = false;
  for (int spins = 0; !done && spins < 2'000'000; ++spins) {
    done = true;
    for (size_t i = 0; i < kPairs; ++i) {  // a little on each, in turn
      auto w = clients[i]->tx_window(1);
      const size_t n = std::min({w.size(), kBytes - sent[i], size_t{700}});
      for (size_t j = 0; j < n; ++j) w[j] = byte(i, sent[i] + j);
      if (n) clients[i]->tx_commit(n);
      sent[i] += n;
      ASSERT_EQ(clients[i]->tx_flush(), EndpointStatus::kOk) << clients[i]->failure();
      auto r = servers[i]->rx_window();
      for (size_t j = 0; j < r.size(); ++j)
        ASSERT_EQ(r[j], byte(i, received[i] + j)) << "pair " << i << ", byte " << received[i] + j;
      received[i] += r.size();
      servers[i]->rx_release(r.size());
      ASSERT_EQ(servers[i]->tx_flush(), EndpointStatus::kOk) << servers[i]->failure();
      clients[i]->rx_window();  // takes in returned credits
      done = done && received[i] == kBytes;
    }
  }
  for (size_t i = 0; i < kPairs; ++i) EXPECT_EQ(received[i], kBytes) << "pair " << i;
  servers.clear();
  clients.clear();
  EXPECT_EQ(s.transport.census().queue_pairs, 0u);
}

// The lcore's queue pairs share its send completion queue: a connection past what it holds is
// refused with a clear error, the others carry on, and the room a closed one held comes back.
TEST(Verbs, PastTheSendCompletionQueueAConnectionIsRefusedAndTheOthersCarryOn) {
  RdmaOptions server = small_options();
  server.send_cq_entries = LcoreQueues::kSendReserve + RdmaEndpoint::send_queue_depth(server.credits) + 1;
  server.srq_depth = 1024;  // receive buffers are not what runs out first
  server.buffers = 2048;
  RdmaOptions clients = server;
  clients.send_cq_entries = 0;  // the device's largest: the clients' lcore never fills
  Server s(18508, server, clients);
  std::vector<std::pair<std::unique_ptr<Endpoint>, std::unique_ptr<Endpoint>>> live;
  std::unique_ptr<Endpoint> refused;
  // A few hundred at most: the device may round the queue up (soft-RoCE: to 2^n - 1 entries).
  for (int i = 0; i < 600 && !refused; ++i) {
    auto [server_ep, client_ep] = s.accept_client();
    ASSERT_TRUE(server_ep && client_ep) << "connection " << i;
    if (server_ep->tx_flush() == EndpointStatus::kOk)  // its first run on the lcore
      live.emplace_back(std::move(server_ep), std::move(client_ep));
    else
      refused = std::move(server_ep);
  }
  ASSERT_TRUE(refused) << live.size() << " connections and none refused";
  EXPECT_NE(std::string(refused->failure()).find("send completion queue is full"), std::string::npos)
      << refused->failure();
  ASSERT_GE(live.size(), 1u);
  refused.reset();
  stream(*live.front().second, *live.front().first, 20000);  // the first and the last carry on
  stream(*live.back().first, *live.back().second, 20000);
  // One closes; once its queue pair's flush has come back (the lcore polls as it serves the
  // others), a new connection fits.
  live.pop_back();
  bool fits = false;
  for (int attempt = 0; attempt < 200 && !fits; ++attempt) {
    stream(*live.front().second, *live.front().first, 1000);
    auto [server_ep, client_ep] = s.accept_client();
    ASSERT_TRUE(server_ep && client_ep);
    fits = server_ep->tx_flush() == EndpointStatus::kOk;
    if (fits) stream(*client_ep, *server_ep, 20000);
  }
  EXPECT_TRUE(fits) << "no room came back after a connection closed";
}

// Point 12 of the hostile-peer issue: a lent frame is readable by its own peer, exactly and only
// while lent; nothing is writable. Each violation costs the violator its queue pair (a protection
// error) while a bystander's connection to the same server carries on.
TEST(Verbs, ALentFrameIsReadableExactlyAndOnlyByItsPeerWhileLent) {
  Server s(18506);
  auto [bystander_server, bystander] = s.accept_client();
  ASSERT_TRUE(bystander_server && bystander);
  auto bystander_works = [&, &bs = bystander_server, &bc = bystander] {
    stream(*bc, *bs, 5000);
    stream(*bs, *bc, 5000);
  };
  constexpr size_t kFrame = 20000;

  // Its own frame, exactly: readable. A byte before it, or just past its buffer (where the
  // pool's next buffer is): a protection error. (Within the buffer, past the frame, the window's
  // own bounds apply: soft-RoCE checks only the registration's, so that case is not asserted.)
  auto [a_server, a] = s.accept_raw();
  ASSERT_TRUE(a_server && a);
  lend(*a_server, kFrame);
  const ReadDescriptor da = a->lent();
  ASSERT_EQ(da.length, kFrame);
  ASSERT_EQ(a->access(IBV_WR_RDMA_READ, da.addr, da.rkey, kFrame), IBV_WC_SUCCESS);
  for (size_t i = 0; i < kFrame; ++i) ASSERT_EQ(a->read_back()[i], static_cast<uint8_t>(i * 7 + 1));
  EXPECT_EQ(a->access(IBV_WR_RDMA_READ, da.addr + small_options().large_bytes, da.rkey, 1),
            IBV_WC_REM_ACCESS_ERR);
  bystander_works();

  auto [a2_server, a2] = s.accept_raw();
  ASSERT_TRUE(a2);
  lend(*a2_server, kFrame);
  const ReadDescriptor da2 = a2->lent();
  EXPECT_EQ(a2->access(IBV_WR_RDMA_READ, da2.addr - 1, da2.rkey, 1), IBV_WC_REM_ACCESS_ERR);
  bystander_works();

  // Another peer's frame, with that peer's key: a window answers only its own queue pair.
  auto [b_server, b] = s.accept_raw();
  auto [c_server, c] = s.accept_raw();
  ASSERT_TRUE(b && c);
  lend(*b_server, kFrame);
  lend(*c_server, kFrame);
  const ReadDescriptor db = b->lent(), dc = c->lent();
  ASSERT_EQ(dc.length, kFrame);
  EXPECT_EQ(c->access(IBV_WR_RDMA_READ, db.addr, db.rkey, 64), IBV_WC_REM_ACCESS_ERR);
  EXPECT_EQ(b->access(IBV_WR_RDMA_READ, db.addr, db.rkey, 64), IBV_WC_SUCCESS);
  // Its own frame, written: the queue pair takes no remote writes at all.
  EXPECT_NE(b->access(IBV_WR_RDMA_WRITE, db.addr, db.rkey, 64), IBV_WC_SUCCESS);
  bystander_works();

  // Released (the SEND that says so), then read again: the window is closed.
  auto [d_server, d] = s.accept_raw();
  ASSERT_TRUE(d);
  lend(*d_server, kFrame);
  const ReadDescriptor dd = d->lent();
  ASSERT_EQ(d->access(IBV_WR_RDMA_READ, dd.addr, dd.rkey, 64), IBV_WC_SUCCESS);
  const unsigned free_before = s.transport.census().in_pool;
  ASSERT_TRUE(d->send(encode_imm({0, 1, false}), 0, 1));
  ASSERT_EQ(d->completion_of(RawPeer::kSendTag).status, IBV_WC_SUCCESS);
  for (int spins = 0; spins < 5'000'000 && s.transport.census().in_pool == free_before; ++spins) {
    d_server->rx_window();  // takes in the release
    d_server->tx_flush();   // posts the invalidation; its completion frees the buffer
  }
  ASSERT_GT(s.transport.census().in_pool, free_before) << "the released buffer never came back";
  EXPECT_EQ(d->access(IBV_WR_RDMA_READ, dd.addr, dd.rkey, 64), IBV_WC_REM_ACCESS_ERR);
  bystander_works();

  // Everything the hostile peers held comes back once their connections go.
  a_server.reset();
  a2_server.reset();
  b_server.reset();
  c_server.reset();
  d_server.reset();
  bystander_works();
  bystander.reset();
  for (int i = 0; i < 60000 && bystander_server->check_peer() == EndpointStatus::kOk; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  bystander_server.reset();
  const auto census = s.transport.census();
  EXPECT_EQ(census.queue_pairs, 0u);
  EXPECT_EQ(census.held_by_connections, 0u);
}

// Point 13: a peer that SENDs far past its credits drains the lcore's shared receive queue. It
// is faulted at arrival, and the bystander, whose SENDs met the empty queue meanwhile, waits
// (RNR) instead of failing, and carries on once the offender's buffers are back.
TEST(Verbs, APeerPastItsCreditsIsFaultedAndTheOthersCarryOn) {
  Server s(18507);
  auto [bystander_server, bystander] = s.accept_client();
  auto [h_server, h] = s.accept_raw();
  ASSERT_TRUE(bystander_server && bystander && h_server && h);
  ASSERT_EQ(h->server.credits, small_options().credits);
  ASSERT_TRUE(h->send(0, 64, 200));  // 200 SENDs on 3 credits
  // The bystander sends while the flood has the queue.
  auto w = bystander->tx_window(100);
  ASSERT_GE(w.size(), 100u);
  std::memset(w.data(), 0, 100);
  bystander->tx_commit(100);
  ASSERT_EQ(bystander->tx_flush(), EndpointStatus::kOk);
  for (int spins = 0; spins < 5'000'000 && h_server->status() == EndpointStatus::kOk; ++spins)
    h_server->rx_window();
  ASSERT_EQ(h_server->status(), EndpointStatus::kError);
  EXPECT_NE(std::string(h_server->failure()).find("past its credits"), std::string::npos)
      << h_server->failure();
  h_server.reset();  // its queue pair to the error state, its buffers back to the queue
  std::span<const uint8_t> r;
  for (int spins = 0; spins < 5'000'000 && r.empty(); ++spins) {
    ASSERT_EQ(bystander->tx_flush(), EndpointStatus::kOk);
    bystander_server->tx_flush();  // reposts the offender's buffers
    r = bystander_server->rx_window();
  }
  ASSERT_EQ(r.size(), 100u);
  bystander_server->rx_release(r.size());
  stream(*bystander, *bystander_server, 100000);
  stream(*bystander_server, *bystander, 100000);
  const auto census = s.transport.census();
  EXPECT_EQ(census.queue_pairs, 1u);
}

}  // namespace
}  // namespace pollmsgr::verbs
