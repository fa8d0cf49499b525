#pragma once
#include <memory>
#include <string>
#include <thread>

#include "dataplane/transport/shm_transport.h"
#include "tests/unit/wait.h"

namespace pollmsgr::test {

// A connected shm client/server endpoint pair inside one process (connect waits for the
// server's accept, so it runs on a helper thread).
struct ShmPair {
  std::unique_ptr<ShmEndpoint> client, server;
  ShmPair(int port, uint32_t ring_bytes) {
    HostPort addr = parse_host_port("127.0.0.1:" + std::to_string(port));
    ShmListener listener(addr);
    std::thread t([&] { client = ShmEndpoint::connect(addr, {ring_bytes, false}); });
    eventually([&] { return bool(server = listener.accept()); }, "the shm server to accept");
    t.join();
  }
};

}  // namespace pollmsgr::test
