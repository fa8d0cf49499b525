#pragma once
// Addresses as users write them (IPv4:PORT, or Ceph's v2:IPv4:PORT/NONCE): values and pure
// functions, any thread.
#include <netinet/in.h>

#include <string>
#include <string_view>

#include "proto/entity_addr.h"

namespace pollmsgr {

// "127.0.0.1:6800" (IPv4 only, like Ceph's perf apps), or Ceph's form "v2:127.0.0.1:6800/NONCE":
// a Ceph daemon's nonce (its pid, in `ceph osd dump`) is part of its address, and a client must
// name it. Throws StartupError on bad input.
struct HostPort {
  std::string host;
  uint16_t port = 0;
  uint32_t nonce = 0;
  sockaddr_in sockaddr() const;
  std::string to_string() const { return host + ":" + std::to_string(port); }
  proto::EntityAddr entity_addr(uint32_t type) const;
  static HostPort from_entity_addr(const proto::EntityAddr& a);  // as an OSDMap names a daemon
  // The shm transport's rendezvous: an abstract Unix socket named after the address, so nothing
  // is left on disk after a crash.
  std::string shm_socket_name() const { return "pollmsgr-shm:" + to_string(); }
};
HostPort parse_host_port(std::string_view text);

}  // namespace pollmsgr
