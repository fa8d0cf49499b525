#include "dataplane/transport/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"

namespace pollmsgr {

HostPort parse_host_port(std::string_view full) {
  std::string_view text = full;
  if (text.starts_with("v2:")) text.remove_prefix(3);
  uint32_t nonce = 0;
  if (const size_t slash = text.rfind('/'); slash != std::string_view::npos) {
    std::string_view n = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), nonce);
    if (n.empty() || ec != std::errc() || end != n.data() + n.size())
      throw StartupError(fmt::format("bad address '{}': '{}' is not a nonce (a number)", full, n));
    text = text.substr(0, slash);
  }
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
  hp.nonce = nonce;
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

proto::EntityAddr HostPort::entity_addr(uint32_t type) const {
  return proto::EntityAddr::ipv4(type, host.c_str(), port, nonce);
}

HostPort HostPort::from_entity_addr(const proto::EntityAddr& a) {
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(a.family == AF_INET6 ? AF_INET6 : AF_INET, a.ip.data(), text, sizeof text);
  return {text, a.port(), a.nonce};
}

}  // namespace pollmsgr
