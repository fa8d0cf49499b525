#include "proto/object_hash.h"

#include <bit>

namespace pollmsgr::proto {
namespace {

uint32_t le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

uint32_t object_hash_rjenkins(std::string_view name) {
  const auto* k = reinterpret_cast<const uint8_t*>(name.data());
  size_t left = name.size();
  uint32_t a = 0x9e3779b9, b = a, c = 0;  // the golden ratio; initial value 0
  for (; left >= 12; k += 12, left -= 12) {
    a += le32(k);
    b += le32(k + 4);
    c += le32(k + 8);
    jenkins_mix(a, b, c);
  }
  c += static_cast<uint32_t>(name.size());  // the low byte of c is the length's
  switch (left) {
    case 11: c += uint32_t{k[10]} << 24; [[fallthrough]];
    case 10: c += uint32_t{k[9]} << 16; [[fallthrough]];
    case 9: c += uint32_t{k[8]} << 8; [[fallthrough]];
    case 8: b += uint32_t{k[7]} << 24; [[fallthrough]];
    case 7: b += uint32_t{k[6]} << 16; [[fallthrough]];
    case 6: b += uint32_t{k[5]} << 8; [[fallthrough]];
    case 5: b += k[4]; [[fallthrough]];
    case 4: a += uint32_t{k[3]} << 24; [[fallthrough]];
    case 3: a += uint32_t{k[2]} << 16; [[fallthrough]];
    case 2: a += uint32_t{k[1]} << 8; [[fallthrough]];
    case 1: a += k[0]; break;
    default: break;
  }
  jenkins_mix(a, b, c);
  return c;
}

uint32_t pg_seed_of(uint32_t hash, uint32_t pg_num) {
  if (pg_num <= 1) return 0;
  const uint32_t mask = ~0u >> std::countl_zero(pg_num - 1);  // (1 << cbits(pg_num - 1)) - 1
  return (hash & mask) < pg_num ? hash & mask : hash & (mask >> 1);
}

}  // namespace pollmsgr::proto
