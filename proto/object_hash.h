#pragma once
// Where an object lives: Ceph hashes its name (rjenkins, Bob Jenkins' 1996 lookup2 hash, the
// pool's default hash) and folds the hash onto the pool's PGs with a "stable mod", so that
// growing pg_num moves as few objects as possible. A client puts both in every MOSDOp.
#include <cstdint>
#include <string_view>

namespace pollmsgr::proto {

uint32_t object_hash_rjenkins(std::string_view name);

// The PG seed (ps) of a hash in a pool of pg_num PGs (ceph_stable_mod with pg_num's mask).
uint32_t pg_seed_of(uint32_t hash, uint32_t pg_num);

}  // namespace pollmsgr::proto
