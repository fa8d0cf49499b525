#pragma once
#include <memory>
#include <string>

#include "dataplane/transport/shm_transport.h"
#include "tests/unit/wait.h"

namespace pollmsgr::test {

// A connected shm client/server endpoint pair inside one process: the client's set-up never
// waits, so one thread plays both sides.
struct ShmPair {
  ShmTransport transport;
  std::unique_ptr<ShmEndpoint> client, server;
  ShmPair(int port, uint32_t ring_bytes) : transport(options(ring_bytes)) {
    HostPort addr = parse_host_port("127.0.0.1:" + std::to_string(port));
    transport.listen(addr);
    client.reset(static_cast<ShmEndpoint*>(transport.connect(addr, 0, 0, false).release()));
    eventually([&] {
      auto a = transport.accept([](uint64_t) { return size_t{0}; });
      server.reset(static_cast<ShmEndpoint*>(a.endpoint.release()));
      return bool(server);
    }, "the shm server to accept");
    eventually([&] { return client->check_peer() != EndpointStatus::kOk || client->connected(); },
               "the client's set-up to finish");
  }
  static ShmOptions options(uint32_t ring_bytes) {
    ShmOptions o;
    o.ring_bytes = ring_bytes;
    o.hugetlb = false;
    return o;
  }
};

}  // namespace pollmsgr::test
