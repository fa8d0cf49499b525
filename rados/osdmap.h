#pragma once
// The OSDMap as a Ceph 16.2.15 client uses it: the full map and the incremental that moves it
// one epoch on, decoded from the bytes the mon (or any OSD) sends in MOSDMap, and the mapping
// object -> PG -> up and acting sets -> the primary an op goes to. Sans-I/O.
//
// Layouts and mapping: ../shared/ceph/osdmap-and-crush.md. Only what a client needs is kept;
// the OSD-only section is skipped by its length. Tested against osdmaptool on every map of a
// real cluster (tests/rados).
#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/entity_addr.h"
#include "rados/crush.h"

namespace pollmsgr::rados {

struct PgId {
  int64_t pool = 0;
  uint32_t ps = 0;  // the placement seed
  auto operator<=>(const PgId&) const = default;
  std::string to_string() const;  // "1.1f", as Ceph prints it
};

struct PoolInfo {
  enum Type : uint8_t { kReplicated = 1, kErasure = 3 };
  static constexpr uint64_t kFlagHashPsPool = 1;
  static constexpr uint8_t kHashRjenkins = 2;
  uint8_t type = 0, size = 0, crush_rule = 0, object_hash = 0, min_size = 0;
  uint32_t pg_num = 0, pgp_num = 0;
  uint32_t last_change = 0;  // the epoch the pool last changed in
  uint64_t flags = 0;
  int64_t read_tier = -1, write_tier = -1;  // cache tiering: ops go to these pools instead
  uint32_t last_force_op_resend = 0;  // ops sent before this epoch are sent again

  bool can_shift() const { return type == kReplicated; }  // replicas have no positions
  // ceph_stable_mod onto pg_num / pgp_num: the PG a seed folds to, and CRUSH's input for it.
  uint32_t fold(uint32_t ps) const;
  uint32_t placement_seed(int64_t pool_id, uint32_t ps) const;
  bool operator==(const PoolInfo&) const = default;
};

// Where a PG lives: raw is CRUSH's answer (less the OSDs that do not exist), up the OSDs of it
// that are up (after pg_upmap and primary affinity), acting what serves it now (pg_temp).
// Erasure-coded pools keep positions: an empty one is kCrushItemNone. Primaries are -1 if none.
struct PgMapping {
  std::vector<int32_t> raw, up, acting;
  int32_t raw_primary = -1, up_primary = -1, acting_primary = -1;
};

class OsdMap {
 public:
  enum OsdState : uint32_t { kExists = 1, kUp = 2, kAutoOut = 4, kNew = 8 };
  static constexpr uint32_t kDefaultPrimaryAffinity = 0x10000;

  std::array<uint8_t, 16> fsid{};
  uint32_t epoch = 0;
  std::map<int64_t, PoolInfo> pools;
  std::map<int64_t, std::string> pool_names;
  int32_t pool_max = 0;
  uint32_t flags = 0;
  int32_t max_osd = 0;
  std::vector<uint32_t> osd_state;
  std::vector<uint32_t> osd_weight;  // reweight, 16.16: 0x10000 in, 0 out
  std::vector<proto::EntityAddrVec> client_addrs;
  std::map<PgId, std::vector<int32_t>> pg_temp;
  std::map<PgId, int32_t> primary_temp;
  std::vector<uint32_t> primary_affinity;  // empty while every OSD has the default
  CrushMap crush;
  std::map<PgId, std::vector<int32_t>> pg_upmap;
  std::map<PgId, std::vector<std::pair<int32_t, int32_t>>> pg_upmap_items;
  int32_t crush_version = 0;

  bool operator==(const OsdMap&) const = default;

  bool exists(int32_t osd) const {
    return osd >= 0 && osd < max_osd && (osd_state[osd] & kExists);
  }
  bool is_up(int32_t osd) const { return exists(osd) && (osd_state[osd] & kUp); }
  const PoolInfo* pool(int64_t id) const;
  std::optional<int64_t> pool_id(std::string_view name) const;
  // The OSD's msgr2 address (its nonce included), or null.
  const proto::EntityAddr* osd_addr(int32_t osd) const;

  // The PG an object is in (its folded seed). Empty nspace and key: the usual case.
  std::optional<PgId> object_pg(int64_t pool, std::string_view name, std::string_view nspace = {},
                                std::string_view key = {}) const;
  // Raw, up and acting sets; a pool that does not exist maps to nothing.
  PgMapping map_pg(PgId pg) const;
};

// Decodes a full map (`ceph osd getmap`, or one of MOSDMap's maps), checking its crc. False, with
// a reason in `error`, if the bytes are not one.
bool decode_osdmap(std::span<const uint8_t> bytes, OsdMap& map, std::string& error);

// Moves `map` one epoch on with an incremental; false, with the map unchanged and a reason, if
// the bytes are not an incremental for the epoch after the map's.
bool apply_incremental(std::span<const uint8_t> bytes, OsdMap& map, std::string& error);

}  // namespace pollmsgr::rados
