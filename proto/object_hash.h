#pragma once
// Where an object lives: Ceph hashes its name (rjenkins, Bob Jenkins' 1996 lookup2 hash, the
// pool's default hash) and folds the hash onto the pool's PGs with a "stable mod", so that
// growing pg_num moves as few objects as possible. A client puts both in every MOSDOp.
#include <cstdint>
#include <string_view>

namespace pollmsgr::proto {

// Bob Jenkins' 96-bit mix, shared by the object hash and CRUSH's hashes.
inline void jenkins_mix(uint32_t& a, uint32_t& b, uint32_t& c) {
  a -= b; a -= c; a ^= c >> 13;
  b -= c; b -= a; b ^= a << 8;
  c -= a; c -= b; c ^= b >> 13;
  a -= b; a -= c; a ^= c >> 12;
  b -= c; b -= a; b ^= a << 16;
  c -= a; c -= b; c ^= b >> 5;
  a -= b; a -= c; a ^= c >> 3;
  b -= c; b -= a; b ^= a << 10;
  c -= a; c -= b; c ^= b >> 15;
}

uint32_t object_hash_rjenkins(std::string_view name);

// The PG seed (ps) of a hash in a pool of pg_num PGs (ceph_stable_mod with pg_num's mask).
uint32_t pg_seed_of(uint32_t hash, uint32_t pg_num);

}  // namespace pollmsgr::proto
