#include "rados/osdmap.h"

#include <algorithm>
#include <cstdio>

#include "proto/crc32c.h"
#include "proto/object_hash.h"

namespace pollmsgr::rados {
namespace {

using proto::WireReader;

// ENCODE_START's header: the struct's version and a reader over exactly its bytes.
struct Versioned {
  uint8_t v = 0, compat = 0;
  WireReader body{{}};
};
Versioned versioned(WireReader& r) {
  Versioned s;
  s.v = r.u8();
  s.compat = r.u8();
  s.body = WireReader(r.bytes(r.u32()));
  if (!r.ok()) s.body.fail();
  return s;
}
void skip_versioned(WireReader& r) { versioned(r); }

// The wrapper full maps and incrementals share (luminous on); false with the reason.
bool open_wrapper(WireReader& r, Versioned& wrapper, std::string& why) {
  wrapper = versioned(r);
  if (!wrapper.body.ok())
    why = "shorter than its header says";
  else if (wrapper.v < 8)
    why = "an encoding older than luminous (wrapper v" + std::to_string(wrapper.v) + ")";
  return why.empty();
}

PgId decode_pg(WireReader& r) {
  PgId pg;
  if (r.u8() != 1) r.fail();  // pg_t's own version
  pg.pool = r.s64();
  pg.ps = r.u32();
  r.s32();  // "preferred", always -1
  return pg;
}

std::vector<int32_t> decode_osds(WireReader& r) {
  std::vector<int32_t> v(r.count(4));
  for (auto& o : v) o = r.s32();
  return v;
}

int32_t decode_s32(WireReader& r) { return r.s32(); }

std::vector<uint32_t> decode_u32s(WireReader& r) {
  std::vector<uint32_t> v(r.count(4));
  for (auto& x : v) x = r.u32();
  return v;
}

void skip_strings(WireReader& r, uint32_t per_entry) {  // map<string, string>, set<string>, ...
  for (uint32_t i = 0, n = r.count(4 * per_entry); i < n && r.ok(); ++i)
    for (uint32_t k = 0; k < per_entry; ++k) r.string();
}

void skip_string_maps(WireReader& r) {  // map<string, map<string, string>>
  for (uint32_t i = 0, n = r.count(8); i < n && r.ok(); ++i) {
    r.string();
    skip_strings(r, 2);
  }
}

template <class V, class F>
void decode_pg_map(WireReader& r, std::map<PgId, V>& m, F value) {
  for (uint32_t i = 0, n = r.count(17); i < n && r.ok(); ++i) {
    const PgId pg = decode_pg(r);
    m[pg] = value(r);
  }
}

std::vector<std::pair<int32_t, int32_t>> decode_pairs(WireReader& r) {
  std::vector<std::pair<int32_t, int32_t>> v(r.count(8));
  for (auto& [from, to] : v) {
    from = r.s32();
    to = r.s32();
  }
  return v;
}

// pg_pool_t, encoded for a luminous or later peer (v24 on; 16.2.15 sends v29).
bool decode_pool(WireReader& r, PoolInfo& p) {
  Versioned s = versioned(r);
  WireReader& b = s.body;
  if (!b.ok() || s.v < 24) return false;
  p.type = b.u8();
  p.size = b.u8();
  p.crush_rule = b.u8();
  p.object_hash = b.u8();
  p.pg_num = b.u32();
  p.pgp_num = b.u32();
  b.u32();  // lpg_num
  b.u32();  // lpgp_num
  p.last_change = b.u32();
  b.u64();  // snap_seq
  b.u32();  // snap_epoch
  for (uint32_t i = 0, n = b.count(14); i < n && b.ok(); ++i) {  // snaps
    b.u64();
    skip_versioned(b);
  }
  b.bytes(size_t{b.count(16)} * 16);  // removed_snaps
  b.u64();  // auid
  p.flags = b.u64();
  b.u32();  // crash_replay_interval
  p.min_size = b.u8();
  b.u64();  // quota_max_bytes
  b.u64();  // quota_max_objects
  b.bytes(size_t{b.count(8)} * 8);  // tiers
  b.s64();  // tier_of
  b.u8();   // cache_mode
  p.read_tier = b.s64();
  p.write_tier = b.s64();
  skip_strings(b, 2);  // properties
  skip_versioned(b);   // hit_set_params
  b.bytes(4 + 4 + 4 + 8 + 8 + 16);  // hit set period, count; stripe_width; cache targets
  b.string();  // erasure_code_profile
  p.last_force_op_resend = b.u32();  // the pre-luminous one, replaced below when present
  b.bytes(4 + 8 + 4 + 4 + 1 + 1 + 4 + 4);  // recency, expected objects, v19..v23 fields
  skip_versioned(b);  // opts
  if (s.v >= 25) p.last_force_op_resend = b.u32();
  if (s.v >= 26) skip_string_maps(b);  // application_metadata
  if (s.v >= 27) b.u64();              // create_time
  if (s.v >= 28) {
    b.bytes(4 * 4);  // pg_num_target, pgp_num_target, pg_num_pending, an unused epoch
    p.last_force_op_resend = b.u32();
  }
  return b.ok() && r.ok();
}

bool decode_pools(WireReader& r, std::map<int64_t, PoolInfo>& pools, std::string& error) {
  for (uint32_t i = 0, n = r.count(14); i < n && r.ok(); ++i) {
    const int64_t id = r.s64();
    PoolInfo& p = pools[id];
    if (!decode_pool(r, p)) return false;
    // Ceph's mon never makes these; a map that has them would divide by zero or place nowhere.
    if (p.pg_num == 0 || p.pgp_num == 0 || p.pgp_num > p.pg_num || p.pg_num > (1u << 31)) {
      error = "pool " + std::to_string(id) + " has pg_num " + std::to_string(p.pg_num) +
              " and pgp_num " + std::to_string(p.pgp_num) + ", which no Ceph pool has";
      return false;
    }
  }
  return r.ok();
}

void decode_names(WireReader& r, std::map<int64_t, std::string>& names) {
  for (uint32_t i = 0, n = r.count(12); i < n && r.ok(); ++i) {
    const int64_t id = r.s64();
    names[id] = std::string(r.string());
  }
}

std::optional<CrushMap> decode_crush_blob(WireReader& r, std::string& error) {
  WireReader blob(r.blob());
  CrushMap crush;
  if (!r.ok() || !decode_crush(blob, crush, error)) return std::nullopt;
  return crush;
}

// The crc a map carries: crc32c (seed -1, no final xor) of every byte before it.
bool crc_matches(std::span<const uint8_t> bytes, size_t crc_at, uint32_t crc) {
  return proto::crc32c(0xffffffff, bytes.first(crc_at)) == crc;
}

void grow_osds(OsdMap& m, int32_t max_osd) {
  m.max_osd = max_osd;
  m.osd_state.resize(max_osd, 0);
  m.osd_weight.resize(max_osd, 0);
  m.client_addrs.resize(max_osd);
  if (!m.primary_affinity.empty()) m.primary_affinity.resize(max_osd, OsdMap::kDefaultPrimaryAffinity);
}

// Ceph encodes the affinity vector empty while every entry is the default.
void normalize_affinity(OsdMap& m) {
  if (std::all_of(m.primary_affinity.begin(), m.primary_affinity.end(),
                  [](uint32_t a) { return a == OsdMap::kDefaultPrimaryAffinity; }))
    m.primary_affinity.clear();
}

bool decode_client_section(WireReader& r, OsdMap& m, std::string& error) {
  Versioned s = versioned(r);
  WireReader& b = s.body;
  if (!b.ok()) return false;
  if (s.v < 8) {
    error = "an OSDMap encoded for a pre-nautilus client (client section v" + std::to_string(s.v) + ")";
    return false;
  }
  auto fsid = b.bytes(16);
  if (b.ok()) std::copy(fsid.begin(), fsid.end(), m.fsid.begin());
  m.epoch = b.u32();
  b.u64();  // created
  b.u64();  // modified
  if (!decode_pools(b, m.pools, error)) return false;
  decode_names(b, m.pool_names);
  m.pool_max = b.s32();
  m.flags = b.u32();
  m.max_osd = b.s32();
  m.osd_state = decode_u32s(b);
  m.osd_weight = decode_u32s(b);
  m.client_addrs.resize(b.count(5));
  for (auto& a : m.client_addrs) a = proto::decode_entity_addrvec(b);
  decode_pg_map(b, m.pg_temp, decode_osds);
  decode_pg_map(b, m.primary_temp, decode_s32);
  m.primary_affinity = decode_u32s(b);
  auto crush = decode_crush_blob(b, error);
  if (!crush) return false;
  m.crush = std::move(*crush);
  skip_string_maps(b);  // erasure_code_profiles
  decode_pg_map(b, m.pg_upmap, decode_osds);
  decode_pg_map(b, m.pg_upmap_items, decode_pairs);
  m.crush_version = b.s32();
  if (!b.ok()) return false;
  const size_t n = size_t(std::max(m.max_osd, 0));
  if (m.max_osd < 0 || m.osd_state.size() != n || m.osd_weight.size() != n ||
      m.client_addrs.size() != n || (!m.primary_affinity.empty() && m.primary_affinity.size() != n)) {
    error = "its per-OSD vectors do not all have max_osd (" + std::to_string(m.max_osd) + ") entries";
    return false;
  }
  return true;
}

}  // namespace

std::string PgId::to_string() const {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%lld.%x", static_cast<long long>(pool), ps);
  return buf;
}

uint32_t PoolInfo::fold(uint32_t ps) const { return proto::pg_seed_of(ps, pg_num); }

uint32_t PoolInfo::placement_seed(int64_t pool_id, uint32_t ps) const {
  const uint32_t s = proto::pg_seed_of(ps, pgp_num);
  // HASHPSPOOL (every pool since luminous): the pool id is hashed in, so that pools' PGs do not
  // all land on the same OSDs.
  return flags & kFlagHashPsPool ? crush_hash32_2(s, uint32_t(pool_id)) : s + uint32_t(pool_id);
}

bool decode_osdmap(std::span<const uint8_t> bytes, OsdMap& out, std::string& error) {
  WireReader r(bytes);
  OsdMap m;
  Versioned wrapper;
  WireReader& w = wrapper.body;
  error.clear();
  auto fail = [&](std::string why) {
    error = "OSDMap: " + (error.empty() ? why : error);
    return false;
  };
  if (std::string why; !open_wrapper(r, wrapper, why)) return fail(why);
  if (!decode_client_section(w, m, error)) return fail("a field does not decode");
  skip_versioned(w);  // the OSDs' own section
  const size_t crc_at = 6 + w.position();
  const uint32_t crc = w.u32();
  if (!w.ok()) return fail("it ends before its crc");
  if (!crc_matches(bytes, crc_at, crc)) return fail("its crc does not match its bytes");
  out = std::move(m);
  return true;
}

bool apply_incremental(std::span<const uint8_t> bytes, OsdMap& map, std::string& error) {
  WireReader r(bytes);
  Versioned wrapper;
  WireReader& w = wrapper.body;
  error.clear();
  auto fail = [&](std::string why) {
    error = "OSDMap incremental: " + (error.empty() ? why : error);
    return false;
  };
  if (std::string why; !open_wrapper(r, wrapper, why)) return fail(why);
  Versioned client = versioned(w);
  WireReader& b = client.body;
  if (!b.ok() || client.v < 7) return fail("its client section does not decode");
  skip_versioned(w);  // the OSDs' own section
  const size_t crc_at = 6 + w.position();
  const uint32_t inc_crc = w.u32();
  auto after_crc = w.bytes(4);  // full_crc: covered by inc_crc too
  if (!w.ok()) return fail("it ends before its crc");
  if (proto::crc32c(proto::crc32c(0xffffffff, bytes.first(crc_at)), after_crc) != inc_crc)
    return fail("its crc does not match its bytes");

  OsdMap m = map;  // applied to a copy: a bad incremental leaves the map as it was
  std::array<uint8_t, 16> fsid{};
  auto f = b.bytes(16);
  if (b.ok()) std::copy(f.begin(), f.end(), fsid.begin());
  const uint32_t epoch = b.u32();
  b.u64();  // modified
  const int64_t new_pool_max = b.s64();
  const int32_t new_flags = b.s32();
  auto fullmap = b.blob();
  if (!b.ok()) return fail("a field does not decode");
  if (fsid != map.fsid) return fail("it is for another cluster (fsid)");
  if (epoch != map.epoch + 1)
    return fail("it is for epoch " + std::to_string(epoch) + ", not " + std::to_string(map.epoch + 1));
  if (!fullmap.empty()) {  // the whole map instead of changes
    if (!decode_osdmap(fullmap, m, error)) return fail("");
    map = std::move(m);
    return true;
  }
  std::optional<CrushMap> crush;
  if (WireReader peek = b; peek.u32() != 0) {
    crush = decode_crush_blob(b, error);
    if (!crush) return fail("");
  } else {
    b.blob();
  }
  const int32_t new_max_osd = b.s32();
  std::map<int64_t, PoolInfo> new_pools;
  if (!decode_pools(b, new_pools, error)) return fail("a pool does not decode");
  std::map<int64_t, std::string> new_names;
  decode_names(b, new_names);
  std::vector<int64_t> old_pools(b.count(8));
  for (auto& p : old_pools) p = b.s64();
  std::map<int32_t, proto::EntityAddrVec> new_up;
  for (uint32_t i = 0, n = b.count(9); i < n && b.ok(); ++i) {
    const int32_t osd = b.s32();
    new_up[osd] = proto::decode_entity_addrvec(b);
  }
  auto osd_values = [&b] {
    std::map<int32_t, uint32_t> v;
    for (uint32_t i = 0, n = b.count(8); i < n && b.ok(); ++i) {
      const int32_t osd = b.s32();
      v[osd] = b.u32();
    }
    return v;
  };
  const auto new_state = osd_values();
  const auto new_weight = osd_values();
  std::map<PgId, std::vector<int32_t>> new_pg_temp;
  decode_pg_map(b, new_pg_temp, decode_osds);
  std::map<PgId, int32_t> new_primary_temp;
  decode_pg_map(b, new_primary_temp, decode_s32);
  const auto new_affinity = osd_values();
  skip_string_maps(b);  // new erasure code profiles
  skip_strings(b, 1);   // old ones
  std::map<PgId, std::vector<int32_t>> new_upmap;
  std::map<PgId, std::vector<std::pair<int32_t, int32_t>>> new_upmap_items;
  std::set<PgId> old_upmap, old_upmap_items;
  auto pg_set = [&b](std::set<PgId>& s) {
    for (uint32_t i = 0, n = b.count(17); i < n && b.ok(); ++i) s.insert(decode_pg(b));
  };
  if (client.v >= 4) {
    decode_pg_map(b, new_upmap, decode_osds);
    pg_set(old_upmap);
    decode_pg_map(b, new_upmap_items, decode_pairs);
    pg_set(old_upmap_items);
  }
  if (!b.ok()) return fail("a field does not decode");

  // Applied in Ceph's order, which is not the encoding's: weights, then states, then addresses.
  m.epoch = epoch;
  if (new_pool_max != -1) m.pool_max = int32_t(new_pool_max);
  if (new_flags >= 0) m.flags = uint32_t(new_flags);
  if (new_max_osd >= 0) {
    if (new_max_osd > (1 << 20)) return fail("it asks for " + std::to_string(new_max_osd) + " OSDs");
    grow_osds(m, new_max_osd);
  }
  for (auto& [id, pool] : new_pools) {
    m.pools[id] = pool;
    m.pools[id].last_change = epoch;
  }
  for (auto& [id, name] : new_names) m.pool_names[id] = name;
  for (int64_t id : old_pools) {
    m.pools.erase(id);
    m.pool_names.erase(id);
  }
  auto osd_ok = [&m](int32_t osd) { return osd >= 0 && osd < m.max_osd; };
  auto bad_osd = [&](int32_t osd) { return fail("it names osd." + std::to_string(osd) + ", past max_osd"); };
  for (auto [osd, weight] : new_weight) {
    if (!osd_ok(osd)) return bad_osd(osd);
    m.osd_weight[osd] = weight;
    if (weight) {  // in: it exists, and is no longer new or automatically out
      m.osd_state[osd] |= OsdMap::kExists;
      m.osd_state[osd] &= ~(OsdMap::kAutoOut | OsdMap::kNew);
    }
  }
  for (auto [osd, affinity] : new_affinity) {
    if (!osd_ok(osd)) return bad_osd(osd);
    if (m.primary_affinity.empty()) m.primary_affinity.assign(m.max_osd, OsdMap::kDefaultPrimaryAffinity);
    m.primary_affinity[osd] = affinity;
  }
  for (auto [osd, state] : new_state) {
    if (!osd_ok(osd)) return bad_osd(osd);
    const uint32_t s = state ? state : uint32_t{OsdMap::kUp};  // 0 meant "down" to old encoders
    if ((m.osd_state[osd] & OsdMap::kExists) && (s & OsdMap::kExists)) {  // destroyed
      m.osd_state[osd] = 0;
      m.client_addrs[osd].clear();
      if (!m.primary_affinity.empty()) m.primary_affinity[osd] = OsdMap::kDefaultPrimaryAffinity;
    } else {
      m.osd_state[osd] ^= s;
    }
  }
  for (auto& [osd, addrs] : new_up) {
    if (!osd_ok(osd)) return bad_osd(osd);
    m.osd_state[osd] |= OsdMap::kExists | OsdMap::kUp;
    m.client_addrs[osd] = addrs;
  }
  for (auto& [pg, osds] : new_pg_temp) {
    if (osds.empty())
      m.pg_temp.erase(pg);
    else
      m.pg_temp[pg] = osds;
  }
  for (auto [pg, osd] : new_primary_temp) {
    if (osd == -1)
      m.primary_temp.erase(pg);
    else
      m.primary_temp[pg] = osd;
  }
  for (auto& [pg, osds] : new_upmap) m.pg_upmap[pg] = osds;
  for (const PgId& pg : old_upmap) m.pg_upmap.erase(pg);
  for (auto& [pg, items] : new_upmap_items) m.pg_upmap_items[pg] = items;
  for (const PgId& pg : old_upmap_items) m.pg_upmap_items.erase(pg);
  if (crush) {  // last, as Ceph does
    m.crush = std::move(*crush);
    ++m.crush_version;
  }
  normalize_affinity(m);
  map = std::move(m);
  return true;
}

const PoolInfo* OsdMap::pool(int64_t id) const {
  auto it = pools.find(id);
  return it == pools.end() ? nullptr : &it->second;
}

std::optional<int64_t> OsdMap::pool_id(std::string_view name) const {
  for (const auto& [id, n] : pool_names)
    if (n == name) return id;
  return std::nullopt;
}

const proto::EntityAddr* OsdMap::osd_addr(int32_t osd) const {
  if (!exists(osd)) return nullptr;
  for (const auto& a : client_addrs[osd])
    if (a.type == proto::EntityAddr::kMsgr2) return &a;
  return nullptr;
}

std::optional<PgId> OsdMap::object_pg(int64_t pool_id, std::string_view name,
                                      std::string_view nspace, std::string_view key) const {
  const PoolInfo* p = pool(pool_id);
  if (!p || p->object_hash != PoolInfo::kHashRjenkins || p->pg_num == 0) return std::nullopt;
  std::string_view k = key.empty() ? name : key;
  uint32_t hash;
  if (nspace.empty()) {
    hash = proto::object_hash_rjenkins(k);
  } else {  // the namespace and the key, joined by Ceph's separator
    std::string joined;
    joined.reserve(nspace.size() + 1 + k.size());
    joined.append(nspace).push_back('\x1f');
    joined.append(k);
    hash = proto::object_hash_rjenkins(joined);
  }
  return PgId{pool_id, p->fold(hash)};
}

PgMapping OsdMap::map_pg(PgId pg) const {
  PgMapping out;
  const PoolInfo* p = pool(pg.pool);
  if (!p) return out;
  const bool shift = p->can_shift();
  const PgId folded{pg.pool, p->fold(pg.ps)};
  const uint32_t pps = p->placement_seed(pg.pool, pg.ps);
  auto first_of = [](const std::vector<int32_t>& v) {
    for (int32_t o : v)
      if (o != kCrushItemNone) return o;
    return int32_t{-1};
  };
  // Keeps the OSDs that pass `keep`; an erasure-coded pool keeps the position, empty.
  auto filter = [shift](std::vector<int32_t>& v, auto keep) {
    if (shift)
      std::erase_if(v, [&](int32_t o) { return !keep(o); });
    else
      for (int32_t& o : v)
        if (o != kCrushItemNone && !keep(o)) o = kCrushItemNone;
  };

  // CRUSH, less the OSDs that do not exist.
  if (const int rule = crush.find_rule(p->crush_rule, p->type, p->size); rule >= 0) {
    out.raw.resize(p->size);
    out.raw.resize(crush.do_rule(rule, pps, out.raw, osd_weight, crush.choose_args_for(pg.pool)));
  }
  filter(out.raw, [this](int32_t o) { return exists(o); });
  out.raw_primary = first_of(out.raw);

  // pg_upmap replaces the set unless it names an OSD that is out; pg_upmap_items swap one OSD
  // for another, each pair in turn.
  std::vector<int32_t> set = out.raw;
  auto marked_out = [this](int32_t o) {
    return o != kCrushItemNone && o >= 0 && o < max_osd && osd_weight[o] == 0;
  };
  bool upmap_refused = false;
  if (auto it = pg_upmap.find(folded); it != pg_upmap.end()) {
    upmap_refused = std::any_of(it->second.begin(), it->second.end(), marked_out);
    if (!upmap_refused) set = it->second;
  }
  if (auto it = pg_upmap_items.find(folded); !upmap_refused && it != pg_upmap_items.end()) {
    for (auto [from, to] : it->second) {
      if (std::find(set.begin(), set.end(), to) != set.end()) continue;
      if (marked_out(to)) continue;
      if (auto at = std::find(set.begin(), set.end(), from); at != set.end()) *at = to;
    }
  }

  // Up: the OSDs that are up; primary affinity may pick another primary (replicas: moved first).
  filter(set, [this](int32_t o) { return is_up(o); });
  out.up = set;
  out.up_primary = first_of(out.up);
  const bool affinity = !primary_affinity.empty() &&
      std::any_of(out.up.begin(), out.up.end(), [this](int32_t o) {
        return o != kCrushItemNone && primary_affinity[o] != kDefaultPrimaryAffinity;
      });
  if (affinity) {
    int pos = -1;
    for (size_t i = 0; i < out.up.size(); ++i) {
      const int32_t o = out.up[i];
      if (o == kCrushItemNone) continue;
      const uint32_t a = primary_affinity[o];
      if (a < kDefaultPrimaryAffinity && (crush_hash32_2(pps, uint32_t(o)) >> 16) >= a) {
        if (pos < 0) pos = int(i);  // the fallback, should every OSD decline
      } else {
        pos = int(i);
        break;
      }
    }
    if (pos >= 0) {
      out.up_primary = out.up[pos];
      if (shift) std::rotate(out.up.begin(), out.up.begin() + pos, out.up.begin() + pos + 1);
    }
  }

  // Acting: pg_temp's OSDs that are up, and primary_temp, unchecked, as Ceph does.
  if (auto it = pg_temp.find(folded); it != pg_temp.end()) {
    out.acting = it->second;
    filter(out.acting, [this](int32_t o) { return is_up(o); });
  }
  auto pt = primary_temp.find(folded);
  out.acting_primary = pt != primary_temp.end() ? pt->second : first_of(out.acting);
  if (out.acting.empty()) {
    out.acting = out.up;
    if (out.acting_primary == -1) out.acting_primary = out.up_primary;
  }
  return out;
}

}  // namespace pollmsgr::rados
