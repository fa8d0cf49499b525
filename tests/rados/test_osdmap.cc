// The OSDMap decoder and incremental applier against every map of a real 16.2.15 cluster
// (tests/data/osdmap/README.md): each full map decodes with its crc, each incremental turns the
// previous full map into the mon's next one, and damaged or hostile bytes give an error, never a
// crash or an allocation sized by the attacker. Placement itself is checked against osdmaptool
// and crushtool by tests/rados/check-osdmap.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "proto/crc32c.h"
#include "proto/object_hash.h"
#include "rados/osdmap.h"

namespace pollmsgr::rados {
namespace {

constexpr int kLastEpoch = 48;

std::vector<uint8_t> read_map(const std::string& name) {
  std::ifstream in(std::string(POLLMSGR_TEST_DATA_DIR) + "/osdmap/" + name, std::ios::binary);
  EXPECT_TRUE(in) << name;
  return {std::istreambuf_iterator<char>(in), {}};
}
std::vector<uint8_t> full(int epoch) { return read_map("full_" + std::to_string(epoch) + ".bin"); }
std::vector<uint8_t> inc(int epoch) { return read_map("inc_" + std::to_string(epoch) + ".bin"); }

OsdMap decoded(int epoch) {
  OsdMap m;
  std::string error;
  EXPECT_TRUE(decode_osdmap(full(epoch), m, error)) << "full_" << epoch << ": " << error;
  return m;
}

// A map's crc is over every byte before it, the crc being its last four.
void fix_crc(std::vector<uint8_t>& map) {
  const uint32_t crc = proto::crc32c(0xffffffff, std::span(map).first(map.size() - 4));
  std::memcpy(map.data() + map.size() - 4, &crc, 4);
}

TEST(OsdMap, EveryRealFullMapDecodesWithWhatOsdmaptoolPrints) {
  for (int e = 1; e <= kLastEpoch; ++e) {
    const OsdMap m = decoded(e);
    EXPECT_EQ(m.epoch, uint32_t(e));
    EXPECT_EQ(m.fsid[0], 0xe4);  // e4b457f0-2e45-...
    EXPECT_EQ(m.fsid[15], 0x77);
  }
  // `osdmaptool full_48.bin --print`: three pools, three OSDs all down, osd.1 out, osd.2 at
  // reweight 0.5, osd.0 with primary affinity 0, pg_upmap 1.1 [0,1].
  const OsdMap m = decoded(48);
  ASSERT_EQ(m.pools.size(), 3u);
  const PoolInfo& ec = m.pools.at(2);
  EXPECT_EQ(ec.type, PoolInfo::kErasure);
  EXPECT_EQ(ec.size, 3);
  EXPECT_EQ(ec.min_size, 2);
  EXPECT_EQ(ec.crush_rule, 1);
  EXPECT_EQ(ec.pg_num, 16u);
  EXPECT_EQ(ec.last_change, 28u);
  EXPECT_EQ(m.pools.at(3).size, 3);
  EXPECT_EQ(m.pools.at(3).pg_num, 32u);
  EXPECT_EQ(m.pool_id("rep3"), 3);
  EXPECT_EQ(m.pool_id("ecpool"), 2);
  EXPECT_FALSE(m.pool_id("nope"));
  EXPECT_EQ(m.max_osd, 3);
  EXPECT_EQ(m.crush_version, 13);
  EXPECT_EQ(m.flags, 0x588000u);
  for (int o = 0; o < 3; ++o) EXPECT_TRUE(m.exists(o) && !m.is_up(o)) << o;
  EXPECT_EQ(m.osd_weight[1], 0u);
  EXPECT_EQ(m.osd_weight[2], 0x8000u);
  ASSERT_EQ(m.primary_affinity.size(), 3u);
  EXPECT_EQ(m.primary_affinity[0], 0u);
  EXPECT_EQ(m.pg_upmap.at(PgId{1, 1}), (std::vector<int32_t>{0, 1}));
  ASSERT_NE(m.osd_addr(0), nullptr);  // v2:127.0.0.1:39272/12304
  EXPECT_EQ(m.osd_addr(0)->port(), 39272);
  EXPECT_EQ(m.osd_addr(0)->nonce, 12304u);
}

TEST(OsdMap, EachIncrementalTurnsThePreviousMapIntoTheMonsNextOne) {
  OsdMap m = decoded(1);
  for (int e = 2; e <= kLastEpoch; ++e) {
    std::string error;
    ASSERT_TRUE(apply_incremental(inc(e), m, error)) << "inc_" << e << ": " << error;
    ASSERT_TRUE(m == decoded(e)) << "full_1 + incrementals differs from full_" << e;
  }
}

TEST(OsdMap, AnIncrementalForAnotherEpochIsRefusedAndChangesNothing) {
  OsdMap m = decoded(10);
  const OsdMap before = m;
  std::string error;
  EXPECT_FALSE(apply_incremental(inc(13), m, error));
  EXPECT_NE(error.find("epoch 13, not 11"), std::string::npos) << error;
  EXPECT_TRUE(m == before);
  EXPECT_FALSE(apply_incremental(inc(10), m, error));  // the one it already has
  EXPECT_TRUE(m == before);
}

TEST(OsdMap, AFlippedBitFailsTheCrc) {
  std::vector<uint8_t> bytes = full(41);
  OsdMap m;
  std::string error;
  for (size_t at : {size_t{40}, bytes.size() / 2, bytes.size() - 9}) {
    std::vector<uint8_t> bad = bytes;
    bad[at] ^= 0x10;
    EXPECT_FALSE(decode_osdmap(bad, m, error)) << "byte " << at;
    EXPECT_FALSE(error.empty());
  }
  std::vector<uint8_t> bad_inc = inc(41);
  bad_inc[bad_inc.size() / 2] ^= 1;
  m = decoded(40);
  EXPECT_FALSE(apply_incremental(bad_inc, m, error));
  EXPECT_NE(error.find("crc"), std::string::npos) << error;
}

TEST(OsdMap, EveryTruncationIsAnErrorNotACrash) {
  for (int e : {1, 41}) {
    const std::vector<uint8_t> bytes = full(e);
    OsdMap m;
    std::string error;
    for (size_t n = 0; n < bytes.size(); ++n)
      ASSERT_FALSE(decode_osdmap(std::span(bytes).first(n), m, error)) << "full_" << e << " cut at " << n;
    const std::vector<uint8_t> delta = inc(e + 1);
    OsdMap base = decoded(e);
    for (size_t n = 0; n < delta.size(); ++n)
      ASSERT_FALSE(apply_incremental(std::span(delta).first(n), base, error)) << "inc cut at " << n;
  }
}

// A peer that computes a valid crc over hostile contents: every 32-bit field in turn set to
// 0xffffffff and to 0x7fffffff (counts, lengths, versions, OSD ids). Each decodes or is refused;
// none crashes (ASan) or allocates by the count it was given.
TEST(OsdMap, HugeCountsWithAValidCrcAreRefusedOrHarmless) {
  const std::vector<uint8_t> bytes = full(41);
  for (uint32_t value : {0xffffffffu, 0x7fffffffu}) {
    for (size_t at = 0; at + 8 <= bytes.size(); ++at) {
      std::vector<uint8_t> bad = bytes;
      std::memcpy(bad.data() + at, &value, 4);
      fix_crc(bad);
      OsdMap m;
      std::string error;
      if (decode_osdmap(bad, m, error)) {  // what decoded must still map without faulting
        for (const auto& [id, pool] : m.pools)
          for (uint32_t ps = 0; ps < std::min(pool.pg_num, 4u); ++ps) m.map_pg(PgId{id, ps});
      }
    }
  }
}

TEST(OsdMap, ObjectsFoldOntoPgsAsCephOsdMapSays) {
  const OsdMap m = decoded(41);
  // `ceph osd map bench foo`: raw_pgid 1.7fc1f406, pgid 1.6.
  EXPECT_EQ(proto::object_hash_rjenkins("foo"), 0x7fc1f406u);
  auto pg = m.object_pg(1, "foo");
  ASSERT_TRUE(pg);
  EXPECT_EQ(pg->to_string(), "1.6");
  EXPECT_FALSE(m.object_pg(7, "foo"));  // no such pool
  // A namespace changes the hash; a locator key stands in for the name.
  EXPECT_NE(m.object_pg(3, "foo", "ns")->ps, m.object_pg(3, "foo")->ps);
  EXPECT_EQ(m.object_pg(3, "anything", "", "foo")->ps, m.object_pg(3, "foo")->ps);
}

// crush_ln is a fixed-point 2^44 * log2(x + 1) from tables: close to the real logarithm
// everywhere and never decreasing but at its last point, where Ceph's last table entries give
// 2^48 - 2^28 (the tables' exact values are checked by placement itself, tests/rados).
TEST(Crush, TheLogarithmFollowsLog2) {
  EXPECT_EQ(crush_ln(0), 0u);
  EXPECT_EQ(crush_ln(1), uint64_t{1} << 44);
  EXPECT_EQ(crush_ln(0xffff), (uint64_t{1} << 48) - (uint64_t{1} << 28));
  for (uint32_t x = 1; x <= 0xffff; ++x) {
    if (x < 0xffff) {
      ASSERT_GE(crush_ln(x), crush_ln(x - 1)) << x;
    }
    const double exact = std::log2(double(x) + 1) * double(uint64_t{1} << 44);
    ASSERT_NEAR(double(crush_ln(x)), exact, exact * 1e-5) << x;
  }
}

TEST(Crush, AMapWithACycleOrAMissingBucketMapsToLessNotForEver) {
  OsdMap m = decoded(41);
  // Every bucket's items point at the root: descent never reaches an OSD.
  for (auto& b : m.crush.buckets)
    if (b) std::fill(b->items.begin(), b->items.end(), -1);
  for (auto& [id, pool] : m.pools)
    for (uint32_t ps = 0; ps < pool.pg_num; ++ps) {
      const PgMapping p = m.map_pg(PgId{id, ps});
      for (int32_t o : p.raw) EXPECT_EQ(o, kCrushItemNone) << PgId{id, ps}.to_string();
    }
  for (auto& b : m.crush.buckets)
    if (b) std::fill(b->items.begin(), b->items.end(), -1000);  // a bucket that is not there
  for (auto& [id, pool] : m.pools) m.map_pg(PgId{id, 0});
}

TEST(Crush, LegacyTunablesAreRefusedWithTheirName) {
  // A map from before firefly: the decoder says so rather than place differently from Ceph.
  OsdMap m;
  std::vector<uint8_t> bytes = full(41);
  std::string error;
  // The tunables in this map: choose_local_tries 0, choose_local_fallback_tries 0,
  // choose_total_tries 50; the second becomes 5, the legacy default.
  bool patched = false;
  for (size_t at = 8; at + 12 <= bytes.size() && !patched; ++at) {
    uint32_t v[3];
    std::memcpy(v, bytes.data() + at, 12);
    if (v[0] == 0 && v[1] == 0 && v[2] == 50) {
      const uint32_t legacy = 5;
      std::memcpy(bytes.data() + at + 4, &legacy, 4);
      patched = true;
    }
  }
  ASSERT_TRUE(patched);
  fix_crc(bytes);
  EXPECT_FALSE(decode_osdmap(bytes, m, error));
  EXPECT_NE(error.find("choose_local_fallback_tries 5"), std::string::npos) << error;
}

}  // namespace
}  // namespace pollmsgr::rados
