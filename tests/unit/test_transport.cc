// The transports and the pieces the reactor is made of, in one process.
#include <gtest/gtest.h>
#include <rte_lcore.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "dataplane/reactor/spsc_ring.h"
#include "dataplane/stats/latency_histogram.h"
#include "dataplane/transport/shm_transport.h"
#include "dataplane/transport/peer_memory_guard.h"
#include "dataplane/transport/tcp_transport.h"
#include "tests/unit/eal_environment.h"
#include "tests/unit/shm_pair.h"
#include "tests/unit/wait.h"

namespace pollmsgr {
namespace {

TEST(LatencyHistogram, BucketsTileTheRangeAndPercentilesAreClose) {
  for (size_t b = 0; b < 2000; ++b) {
    ASSERT_EQ(LatencyHistogram::bucket_high(b) + 1, LatencyHistogram::bucket_low(b + 1)) << b;
    ASSERT_EQ(LatencyHistogram::bucket_of(LatencyHistogram::bucket_low(b)), b);
  }
  EXPECT_EQ(LatencyHistogram::bucket_of(UINT64_MAX) + 1, size_t{3776});
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.record(v);
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100000u);
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const double want = p * 1000;
    EXPECT_NEAR(static_cast<double>(h.percentile(p)), want, want * 0.016) << p;
  }
  EXPECT_EQ(h.percentile(100), 100000u);
  LatencyHistogram other;
  other.record(5000000);
  h.merge(other);
  EXPECT_EQ(h.count(), 100001u);
  EXPECT_EQ(h.max(), 5000000u);
}

TEST(SpscRing, CarriesEverythingInOrderBetweenLcores) {
  static SpscRing<uint64_t, 64> ring;
  constexpr uint64_t kCount = 200000;
  auto& rt = test::EalEnvironment::runtime();
  if (rt.lcores().size() < 2) GTEST_SKIP() << "needs two lcores";
  std::atomic<uint64_t> errors{0};
  rt.run_on_all_lcores([&](unsigned lcore) {
    if (lcore != rt.main_lcore()) {
      for (uint64_t i = 1; i <= kCount;)
        if (ring.push(i)) ++i;
    } else {
      for (uint64_t want = 1; want <= kCount;) {
        uint64_t v;
        if (!ring.pop(v)) continue;
        if (v != want) ++errors;
        ++want;
      }
    }
    return 0;
  });
  EXPECT_EQ(errors.load(), 0u);
  uint64_t v;
  EXPECT_FALSE(ring.pop(v));
}

TEST(ShmTransport, CreditsHoldTheSenderBackAndNothingIsOverrun) {
  test::ShmPair pair(17500, 64 * 1024);
  ShmEndpoint& tx = *pair.client;
  ShmEndpoint& rx = *pair.server;
  const size_t ring = 64 * 1024;
  // Fill the ring completely: then there is no window at all.
  size_t written = 0;
  while (true) {
    auto w = tx.tx_window(1);
    if (w.empty()) break;
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<uint8_t>((written + i) % 251);
    tx.tx_commit(w.size());
    written += w.size();
  }
  EXPECT_EQ(written, ring);
  EXPECT_TRUE(rx.rx_window().empty()) << "nothing is visible before the doorbell";
  tx.tx_flush();
  auto got = rx.rx_window();
  ASSERT_EQ(got.size(), ring);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], i % 251) << i;
  // Release half: exactly that much window comes back, and it wraps the ring contiguously.
  rx.rx_release(ring / 2);
  auto w = tx.tx_window(ring / 2);
  ASSERT_EQ(w.size(), ring / 2);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<uint8_t>(i % 13);
  tx.tx_commit(w.size());
  tx.tx_flush();
  got = rx.rx_window();
  ASSERT_EQ(got.size(), ring);  // the unread half, then the new half across the wrap
  for (size_t i = 0; i < ring / 2; ++i) ASSERT_EQ(got[i], (ring / 2 + i) % 251);
  for (size_t i = 0; i < ring / 2; ++i) ASSERT_EQ(got[ring / 2 + i], i % 13) << i;
}

TEST(ShmTransport, ADeadPeerIsNoticed) {
  test::ShmPair pair(17501, 64 * 1024);
  EXPECT_EQ(pair.server->check_peer(), EndpointStatus::kOk);
  pair.client.reset();
  EXPECT_EQ(pair.server->check_peer(), EndpointStatus::kPeerClosed);
}

TEST(ShmTransport, HostileClientsAreDroppedAndGoodOnesStillServed) {
  HostPort addr = parse_host_port("127.0.0.1:17502");
  ShmTransport transport(test::ShmPair::options(64 * 1024));
  transport.listen(addr);
  auto none = [](uint64_t) { return size_t{0}; };
  // A client that says nothing, one that sends garbage, one that sends a hello without its fd.
  std::vector<UniqueFd> bad;
  const std::string path = shm_socket_path(transport.options(), addr);
  for (int kind = 0; kind < 3; ++kind) {
    UniqueFd s(socket(AF_UNIX, SOCK_SEQPACKET, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.data(), path.size());
    ASSERT_EQ(connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    if (kind == 1) {
      ASSERT_GT(send(s.get(), "garbage!garbage!", 16, 0), 0);
    }
    if (kind == 2) {
      uint64_t fake[2] = {ShmControl::kMagic, 65536};
      ASSERT_GT(send(s.get(), fake, sizeof(fake), 0), 0);
    }
    bad.push_back(std::move(s));
  }
  for (int i = 0; i < 20; ++i) EXPECT_EQ(transport.accept(none).endpoint, nullptr);
  auto good = transport.connect(addr, 0, 0, false);
  std::unique_ptr<Endpoint> served;
  test::eventually([&] { return bool(served = transport.accept(none).endpoint); },
                   "the good client's set-up");
  test::eventually([&] { return good->check_peer(), static_cast<ShmEndpoint&>(*good).connected(); },
                   "the good client to see the server's half", 10);
  EXPECT_EQ(good->check_peer(), EndpointStatus::kOk);
  EXPECT_EQ(served->check_peer(), EndpointStatus::kOk);
}

// A peer cuts the file we map from it (as a punched hugetlb hole with no hugepage left does):
// the read that would be a SIGBUS completes (zeros), and only that mapping is marked faulted.
TEST(PeerMemoryGuard, ACutFileFaultsItsMappingNotTheProcess) {
  constexpr size_t kLen = 16 * 4096;
  const int fd = memfd_create("guard-test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, kLen), 0);
  auto* bystander = static_cast<uint8_t*>(mmap(nullptr, kLen, PROT_READ, MAP_SHARED, fd, 0));
  auto* peer = static_cast<const volatile uint8_t*>(mmap(nullptr, kLen, PROT_READ, MAP_SHARED, fd, 0));
  ASSERT_NE(peer, MAP_FAILED);
  const int mine = PeerMemoryGuard::add(const_cast<uint8_t*>(peer), kLen);
  const int other = PeerMemoryGuard::add(bystander, kLen);
  ASSERT_GE(mine, 0);
  ASSERT_FALSE(PeerMemoryGuard::faulted(mine));
  ASSERT_EQ(ftruncate(fd, 4096), 0);  // the "peer" cuts its file
  EXPECT_EQ(peer[8 * 4096], 0);       // past the end: SIGBUS, caught
  EXPECT_TRUE(PeerMemoryGuard::faulted(mine));
  EXPECT_FALSE(PeerMemoryGuard::faulted(other));
  PeerMemoryGuard::remove(mine);
  PeerMemoryGuard::remove(other);
  munmap(const_cast<uint8_t*>(peer), kLen);
  munmap(bystander, kLen);
  close(fd);
}

TEST(TcpTransport, BytesBothWaysAndAClosedPeer) {
  TcpListener listener(parse_host_port("127.0.0.1:0"));
  HostPort addr = parse_host_port("127.0.0.1:" + std::to_string(listener.port()));
  TcpTransport transport({4096, 8});
  auto client = transport.connect(addr, 0, 0, true);
  BufferPool buffers("t_tcp_server", 4096, 8);
  std::unique_ptr<TcpEndpoint> server;
  ASSERT_TRUE(test::eventually([&] {
    if (UniqueFd fd = listener.accept_socket()) server = std::make_unique<TcpEndpoint>(std::move(fd), buffers);
    return bool(server);
  }, "the accept"));
  auto w = client->tx_window(5);
  std::memcpy(w.data(), "hello", 5);
  client->tx_commit(5);
  EXPECT_EQ(client->tx_flush(), EndpointStatus::kOk);
  EXPECT_TRUE(client->tx_idle());
  std::string got;
  test::eventually([&] {
    auto r = server->rx_window();
    got.append(reinterpret_cast<const char*>(r.data()), r.size());
    server->rx_release(r.size());
    return got.size() >= 5;
  }, "5 bytes");
  EXPECT_EQ(got, "hello");
  client.reset();
  for (int i = 0; i < 1000 && server->check_peer() == EndpointStatus::kOk; ++i) server->rx_window();
  EXPECT_EQ(server->check_peer(), EndpointStatus::kPeerClosed);
  server.reset();
  EXPECT_EQ(buffers.available(), 8u) << "an endpoint kept a buffer";
}

TEST(TcpTransport, AnIdleEndpointHoldsNoBuffer) {
  // Buffers come from the transport's pool for as long as they hold bytes: 10 connections
  // that have each sent and received their message hold none.
  TcpTransport transport({4096, 4});
  TcpListener listener(parse_host_port("127.0.0.1:0"));
  HostPort addr = parse_host_port("127.0.0.1:" + std::to_string(listener.port()));
  BufferPool buffers("t_tcp_idle", 4096, 4);
  for (int i = 0; i < 10; ++i) {
    auto client = transport.connect(addr, 0, 0, true);
    std::unique_ptr<TcpEndpoint> server;
    ASSERT_TRUE(test::eventually([&] {
      if (UniqueFd fd = listener.accept_socket()) server = std::make_unique<TcpEndpoint>(std::move(fd), buffers);
      return bool(server);
    }, "the accept"));
    auto w = client->tx_window(100);
    ASSERT_GE(w.size(), 100u);
    client->tx_commit(100);
    ASSERT_EQ(client->tx_flush(), EndpointStatus::kOk);
    size_t got = 0;
    ASSERT_TRUE(test::eventually([&] {
      auto r = server->rx_window();
      server->rx_release(r.size());
      return (got += r.size()) == 100;
    }, "100 bytes"));
    server->rx_window();  // EAGAIN now: idle
    EXPECT_TRUE(server->enter_idle());
    EXPECT_EQ(buffers.available(), 4u);
    EXPECT_TRUE(client->tx_idle());
  }
}

}  // namespace
}  // namespace pollmsgr
