#pragma once
// CRUSH as a Ceph 16.2.15 client runs it: the map as the OSDMap carries it (CrushWrapper's
// encoding), and crush_do_rule, which turns a PG's placement seed into an ordered list of OSDs.
// Written from the layouts and the algorithm in ../shared/ceph/osdmap-and-crush.md; checked
// against osdmaptool on real maps (tests/rados).
//
// A map comes from the network: decoding bounds every count by the bytes left, and the mapping
// bounds every descent, so a malformed or cyclic map gives an error or an empty result, never a
// crash or a hang.
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "proto/wire.h"

namespace pollmsgr::rados {

inline constexpr int32_t kCrushItemNone = 0x7fffffff;  // an empty position (erasure-coded pools)

struct CrushBucket {
  enum Alg : uint8_t { kUniform = 1, kList = 2, kTree = 3, kStraw = 4, kStraw2 = 5 };
  int32_t id = 0;  // -1 - its index
  uint16_t type = 0;
  uint8_t alg = 0;
  uint8_t hash = 0;  // 0: rjenkins1, the only one Ceph defines
  uint32_t weight = 0;  // 16.16 fixed point
  std::vector<int32_t> items;  // OSDs (>= 0) and buckets (< 0)
  std::vector<uint32_t> item_weights;  // straw2, straw, list (uniform: one, for every item)
  std::vector<uint32_t> aux;  // straw: straws; list: sum weights; tree: node weights
  bool operator==(const CrushBucket&) const = default;
};

struct CrushRule {
  enum Op : uint32_t {
    kTake = 1, kChooseFirstn = 2, kChooseIndep = 3, kEmit = 4, kChooseleafFirstn = 6,
    kChooseleafIndep = 7, kSetChooseTries = 8, kSetChooseleafTries = 9, kSetChooseLocalTries = 10,
    kSetChooseLocalFallbackTries = 11, kSetChooseleafVaryR = 12, kSetChooseleafStable = 13,
  };
  struct Step {
    uint32_t op;
    int32_t arg1, arg2;
    bool operator==(const Step&) const = default;
  };
  uint8_t ruleset = 0, type = 0, min_size = 0, max_size = 0;
  std::vector<Step> steps;
  bool operator==(const CrushRule&) const = default;
};

// A weight set ("choose_args"): per bucket, weights by position and/or the ids hashed in place
// of the items. Empty vectors: the bucket's own.
struct CrushChooseArg {
  std::vector<std::vector<uint32_t>> weight_set;
  std::vector<int32_t> ids;
  bool operator==(const CrushChooseArg&) const = default;
};

struct CrushMap {
  std::vector<std::optional<CrushBucket>> buckets;  // by index, -1 - id
  std::vector<std::optional<CrushRule>> rules;
  int32_t max_devices = 0;
  // Tunables; the defaults are the legacy ones, for maps that predate them.
  uint32_t choose_local_tries = 2, choose_local_fallback_tries = 5, choose_total_tries = 19;
  uint32_t chooseleaf_descend_once = 0;
  uint8_t chooseleaf_vary_r = 0, straw_calc_version = 0, chooseleaf_stable = 0;
  std::map<int32_t, std::string> type_names, item_names, rule_names;
  // By pool id; -1: the compat set, for pools without their own. Each indexed like buckets.
  std::map<int64_t, std::vector<CrushChooseArg>> choose_args;
  bool operator==(const CrushMap&) const = default;

  const CrushBucket* bucket(int32_t id) const {
    const int64_t index = -1 - int64_t{id};
    return id < 0 && index < int64_t(buckets.size()) && buckets[index] ? &*buckets[index] : nullptr;
  }
  // The rule a pool of `type` and `size` uses for its crush_rule; -1: none fits.
  int find_rule(int ruleset, int type, int size) const;
  // crush_do_rule: up to result.size() items for input x. `weight` is the OSDMap's per-OSD
  // reweight (0x10000 in, 0 out). Returns how many were written; an empty or failed choice
  // gives fewer, never an error.
  size_t do_rule(int rule, uint32_t x, std::span<int32_t> result, std::span<const uint32_t> weight,
                 const std::vector<CrushChooseArg>* choose_args) const;
  // The weight set for a pool: its own, else the compat one, else none.
  const std::vector<CrushChooseArg>* choose_args_for(int64_t pool) const;
};

// Decodes CrushWrapper's encoding; false with `error` set when the bytes are not a CRUSH map.
bool decode_crush(proto::WireReader& r, CrushMap& map, std::string& error);

// CRUSH's hashes (rjenkins1) and its fixed-point log2, exposed for tests.
uint32_t crush_hash32_2(uint32_t a, uint32_t b);
uint32_t crush_hash32_3(uint32_t a, uint32_t b, uint32_t c);
uint32_t crush_hash32_4(uint32_t a, uint32_t b, uint32_t c, uint32_t d);
uint64_t crush_ln(uint32_t x);  // 2^44 * log2(x + 1), x in [0, 0xffff]

namespace crush_tables {
extern const int64_t kRhLh[258];
extern const int64_t kLl[256];
}  // namespace crush_tables

}  // namespace pollmsgr::rados
