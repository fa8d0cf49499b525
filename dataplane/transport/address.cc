#include "dataplane/transport/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"

namespace pollmsgr {

HostPort parse_host_port(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos)
    throw StartupError(fmt::format("bad address '{}': expected IPv4:PORT, e.g. 127.0.0.1:6800", text));
  HostPort hp;
  hp.host = std::string(text.substr(0, colon));
  std::string_view port = text.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535)
    throw StartupError(fmt::format("bad address '{}': '{}' is not a port (0-65535)", text, port));
  hp.port = static_cast<uint16_t>(value);
  in_addr ip{};
  if (inet_pton(AF_INET, hp.host.c_str(), &ip) != 1)
    throw StartupError(fmt::format("bad address '{}': '{}' is not an IPv4 address", text, hp.host));
  return hp;
}

sockaddr_in HostPort::sockaddr() const {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, host.c_str(), &sa.sin_addr);
  return sa;
}

proto::EntityAddr HostPort::entity_addr(uint32_t type, uint32_t nonce) const {
  return proto::EntityAddr::ipv4(type, host.c_str(), port, nonce);
}

}  // namespace pollmsgr
