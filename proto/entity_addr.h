#pragma once
// Ceph's entity_addr_t and entity_addrvec_t in their msgr2 encodings (with the address-vector
// marker and versioned struct header), plus the entity name.
#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "proto/wire.h"

namespace pollmsgr::proto {

enum class EntityType : uint8_t {  // CEPH_ENTITY_TYPE_*
  kMon = 0x01,
  kMds = 0x02,
  kOsd = 0x04,
  kClient = 0x08,
  kMgr = 0x10,
};

struct EntityAddr {
  enum Type : uint32_t { kNone = 0, kLegacy = 1, kMsgr2 = 2, kAny = 3 };
  uint32_t type = kNone;
  uint32_t nonce = 0;
  // An IPv4 or IPv6 socket address, family 0 when empty. Port and address in network order.
  uint16_t family = 0;
  uint16_t port_be = 0;
  std::array<uint8_t, 16> ip{};  // first 4 bytes for AF_INET

  static EntityAddr ipv4(uint32_t type, const char* dotted, uint16_t port, uint32_t nonce = 0);
  uint16_t port() const { return ntohs(port_be); }
  std::string to_string() const;  // "v2:127.0.0.1:3300/nonce"
  bool operator==(const EntityAddr&) const = default;
};

using EntityAddrVec = std::vector<EntityAddr>;

void encode(WireWriter& w, const EntityAddr& a);
void encode(WireWriter& w, const EntityAddrVec& v);
// Decoders fail the reader on bad input (the caller checks reader.ok()).
EntityAddr decode_entity_addr(WireReader& r);
EntityAddrVec decode_entity_addrvec(WireReader& r);

// The most addresses an address vector may hold on the wire (Ceph uses one or two).
inline constexpr uint32_t kMaxAddrsInVec = 16;

}  // namespace pollmsgr::proto
