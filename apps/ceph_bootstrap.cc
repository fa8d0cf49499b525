#include "apps/ceph_bootstrap.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "apps/mon_session.h"
#include "dataplane/runtime/startup_error.h"

namespace pollmsgr::perf {
namespace {

constexpr uint32_t kMaxPgNum = 1u << 17;  // twice Ceph's mon_max_pool_pg_num default

HostPort v2_address(const nlohmann::json& osd) {
  for (const auto& a : osd.at("public_addrs").at("addrvec"))
    if (a.at("type") == "v2") {
      HostPort hp = parse_host_port(a.at("addr").get<std::string>());
      hp.nonce = a.at("nonce").get<uint32_t>();
      return hp;
    }
  throw StartupError(fmt::format("osd.{} has no msgr2 address (is ms_bind_msgr2 on?)",
                                 osd.at("osd").get<int>()), 1);
}

}  // namespace

CephClusterView query_ceph_cluster(Transport& transport, const HostPort& mon,
                                   const std::string& pool, double timeout_s) {
  MonSession s(transport, mon, timeout_s);
  CephClusterView v;
  v.global_id = s.global_id();
  auto [map_front, unused] = s.call(proto::kMsgMonGetMap, {}, proto::kMsgMonMap, "the monmap");
  auto fsid = proto::decode_mon_map_fsid(map_front);
  if (!fsid) throw StartupError("the monitor sent a monmap that does not decode", 1);
  v.fsid = *fsid;
  try {
    auto dump = s.command_json(v.fsid, {{"prefix", "osd dump"}, {"format", "json"}});
    v.osdmap_epoch = dump.at("epoch").get<uint32_t>();
    for (const auto& p : dump.at("pools"))
      if (p.at("pool_name") == pool) {
        v.pool_name = pool;
        v.pool_id = p.at("pool").get<int64_t>();
        v.pg_num = p.at("pg_num").get<uint32_t>();
      }
    if (v.pool_name.empty())
      throw StartupError(fmt::format("the cluster has no pool '{}' (ceph osd pool ls)", pool), 1);
    // One mon command per PG follows: a map's word is checked before it sizes any work.
    if (v.pg_num == 0 || v.pg_num > kMaxPgNum)
      throw StartupError(fmt::format("the monitor says pool '{}' has pg_num {}, which no Ceph "
                                     "pool has (1 to {} here)", pool, v.pg_num, kMaxPgNum), 1);
    for (const auto& o : dump.at("osds"))
      if (o.at("up").get<int>() == 1) v.osds[o.at("osd").get<int>()] = v2_address(o);
    for (uint32_t seed = 0; seed < v.pg_num; ++seed) {
      const std::string pgid = fmt::format("{}.{:x}", v.pool_id, seed);
      auto map = s.command_json(v.fsid, {{"prefix", "pg map"}, {"pgid", pgid}, {"format", "json"}});
      const auto& acting = map.at("acting");
      if (acting.empty() || !v.osds.contains(acting.at(0).get<int>()))
        throw StartupError(fmt::format("PG {} has no OSD that is up (ceph pg map {})", pgid, pgid), 1);
      v.primary_of_pg.push_back(acting.at(0).get<int>());  // the acting primary
    }
  } catch (const nlohmann::json::exception& e) {
    throw StartupError(fmt::format("the monitor's JSON is not what a Pacific mon sends: {}", e.what()), 1);
  }
  return v;
}

}  // namespace pollmsgr::perf
