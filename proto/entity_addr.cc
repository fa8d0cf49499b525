#include "proto/entity_addr.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstdio>

namespace pollmsgr::proto {
namespace {

constexpr uint8_t kAddrMarker = 1;     // entity_addr_t, msgr2 encoding
constexpr uint8_t kAddrVecMarker = 2;  // entity_addrvec_t
constexpr uint32_t kSockaddrIn = 16, kSockaddrIn6 = 28;

}  // namespace

EntityAddr EntityAddr::ipv4(uint32_t type, const char* dotted, uint16_t port, uint32_t nonce) {
  EntityAddr a;
  a.type = type;
  a.nonce = nonce;
  a.family = AF_INET;
  a.port_be = htons(port);
  inet_pton(AF_INET, dotted, a.ip.data());
  return a;
}

std::string EntityAddr::to_string() const {
  static const char* kTypes[] = {"-", "v1", "v2", "any"};
  char ip_text[INET6_ADDRSTRLEN] = "";
  if (family == AF_INET || family == AF_INET6) inet_ntop(family, ip.data(), ip_text, sizeof(ip_text));
  const bool v6 = family == AF_INET6;
  char out[96];
  std::snprintf(out, sizeof(out), "%s:%s%s%s:%u/%u", type <= kAny ? kTypes[type] : "?",
                v6 ? "[" : "", ip_text, v6 ? "]" : "", port(), nonce);
  return out;
}

void encode(WireWriter& w, const EntityAddr& a) {
  w.u8(kAddrMarker);
  w.u8(1);  // struct_v
  w.u8(1);  // compat
  const uint32_t sockaddr_len = a.family == AF_INET ? kSockaddrIn
                                : a.family == AF_INET6 ? kSockaddrIn6 : 0;
  w.u32(12 + sockaddr_len);  // type, nonce, sockaddr length, sockaddr
  w.u32(a.type);
  w.u32(a.nonce);
  w.u32(sockaddr_len);
  if (sockaddr_len == 0) return;
  w.u16(a.family);  // Ceph encodes the family little-endian; port and address stay network order
  w.bytes({reinterpret_cast<const uint8_t*>(&a.port_be), 2});
  if (a.family == AF_INET) {
    w.bytes({a.ip.data(), 4});
    w.u64(0);  // sin_zero
  } else {
    w.u32(0);  // flowinfo
    w.bytes({a.ip.data(), 16});
    w.u32(0);  // scope id
  }
}

void encode(WireWriter& w, const EntityAddrVec& v) {
  w.u8(kAddrVecMarker);
  w.u32(static_cast<uint32_t>(v.size()));
  for (const auto& a : v) encode(w, a);
}

EntityAddr decode_entity_addr(WireReader& r) {
  EntityAddr a;
  if (r.u8() != kAddrMarker) {  // legacy (marker 0) encodings never appear in msgr2 frames
    r.fail();
    return a;
  }
  const uint8_t struct_v = r.u8();
  r.u8();  // compat
  WireReader body(r.bytes(r.u32()));
  if (!r.ok() || struct_v < 1) {
    r.fail();
    return a;
  }
  a.type = body.u32();
  a.nonce = body.u32();
  WireReader sa(body.blob());
  if (!body.ok()) {
    r.fail();
    return a;
  }
  if (sa.remaining() == 0) return a;
  a.family = sa.u16();
  auto port = sa.bytes(2);
  if (a.family == AF_INET && sa.remaining() >= 4) {
    std::memcpy(&a.port_be, port.data(), 2);
    auto ip = sa.bytes(4);
    std::memcpy(a.ip.data(), ip.data(), 4);
  } else if (a.family == AF_INET6 && sa.remaining() >= 20) {
    std::memcpy(&a.port_be, port.data(), 2);
    sa.u32();
    auto ip = sa.bytes(16);
    std::memcpy(a.ip.data(), ip.data(), 16);
  } else {
    r.fail();
  }
  return a;
}

EntityAddrVec decode_entity_addrvec(WireReader& r) {
  EntityAddrVec v;
  if (r.u8() != kAddrVecMarker) {
    r.fail();
    return v;
  }
  const uint32_t n = r.u32();
  if (n > kMaxAddrsInVec) {  // never size a vector from an unchecked wire length
    r.fail();
    return v;
  }
  for (uint32_t i = 0; i < n && r.ok(); ++i) v.push_back(decode_entity_addr(r));
  return v;
}

}  // namespace pollmsgr::proto
