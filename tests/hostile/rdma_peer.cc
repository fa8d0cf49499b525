// rdma_peer PORT MODE: a hostile peer of perf_msgr_server --transport rdma, on pollmsgr's rdma
// wire (tests/hostile/rdma_raw_peer.h). Exit 0 when the server withstood the attack as it should,
// 1 (saying why) when not, 2 on bad usage.
//   flood       empty SENDs (no stream bytes, so only the credit check can object) far past the
//               credits it was granted: the server must close the connection (its side channel)
//               within a minute.
//   stray-read  an RDMA READ of an address and key it was never lent: the device must refuse it
//               (a protection error on our own queue pair).
#include <poll.h>

#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>

#include "tests/hostile/rdma_raw_peer.h"

using pollmsgr::verbs::RawPeer;

namespace {

// Whether the server closed the side channel within `ms`.
bool server_closed(int side, int ms) {
  pollfd p{side, POLLIN, 0};
  char c;
  return poll(&p, 1, ms) == 1 && recv(side, &c, 1, MSG_DONTWAIT) <= 0;
}

int flood(RawPeer& peer) {
  // All at once, as fast as the device takes them: more than our send queue holds is not needed.
  const uint32_t sends = std::min(16 * peer.server.credits + 256, 1000u);
  const unsigned posted = peer.send(0, 0, sends) ? sends : 0;
  if (server_closed(peer.side, 60'000)) {
    std::printf("rdma_peer: the server closed the connection that sent %u SENDs on %u credits\n",
                posted, peer.server.credits);
    return 0;
  }
  std::printf("rdma_peer: %u SENDs on %u credits, and the server kept the connection\n", posted,
              peer.server.credits);
  return 1;
}

int stray_read(RawPeer& peer) {
  std::mt19937_64 rng(std::random_device{}());
  const uint64_t addr = rng() & 0x7ffffffff000ull;
  const auto rkey = static_cast<uint32_t>(rng());
  const ibv_wc_status s = peer.access(IBV_WR_RDMA_READ, addr, rkey, 64);
  if (s == IBV_WC_SUCCESS) {
    std::printf("rdma_peer: a READ of %#lx with key %#x succeeded\n", addr, rkey);
    return 1;
  }
  std::printf("rdma_peer: the stray READ was refused (%s)\n", ibv_wc_status_str(s));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: rdma_peer PORT flood|stray-read\n");
    return 2;
  }
  const std::string mode = argv[2];
  if (mode != "flood" && mode != "stray-read") {
    std::fprintf(stderr, "rdma_peer: unknown mode %s\n", mode.c_str());
    return 2;
  }
  try {
    RawPeer peer(static_cast<uint16_t>(std::atoi(argv[1])));
    return mode == "flood" ? flood(peer) : stray_read(peer);
  } catch (const std::exception& e) {
    std::printf("rdma_peer: %s\n", e.what());
    return 1;
  }
}
