#include "apps/ceph_bootstrap.h"

#include <fmt/format.h>

#include "apps/mon_session.h"
#include "dataplane/runtime/startup_error.h"
#include "proto/osd_messages.h"
#include "rados/osdmap_messages.h"

namespace pollmsgr::perf {

CephClusterView query_ceph_cluster(Transport& transport, const HostPort& mon,
                                   const std::string& pool, double timeout_s) {
  MonSession s(transport, mon, timeout_s);
  CephClusterView v;
  v.global_id = s.global_id();
  const std::vector<uint8_t> subscribe = rados::encode_mon_subscribe({"osdmap", 0, true});
  auto [front, unused] = s.call(rados::kMsgMonSubscribe, subscribe, proto::kMsgOsdMap,
                                "the osdmap", rados::kMonSubscribeHeadVersion,
                                rados::kMonSubscribeCompatVersion);
  const auto message = proto::decode_osd_map(front);
  rados::OsdMap map;
  std::string error = message ? "" : "MOSDMap: " + std::string(to_string(message.error()));
  if (!message || !rados::apply_osdmap_message(*message, map, error))
    throw StartupError(fmt::format("the monitor's osdmap does not decode: {}", error), 1);
  if (map.epoch == 0) throw StartupError("the monitor answered with no osdmap", 1);
  v.osdmap_epoch = map.epoch;
  const auto id = map.pool_id(pool);
  if (!id) throw StartupError(fmt::format("the cluster has no pool '{}' (ceph osd pool ls)", pool), 1);
  v.pool_name = pool;
  v.pool_id = *id;
  v.pg_num = map.pool(*id)->pg_num;
  for (int32_t o = 0; o < map.max_osd; ++o) {
    if (!map.is_up(o)) continue;
    const proto::EntityAddr* a = map.osd_addr(o);
    if (!a) throw StartupError(fmt::format("osd.{} has no msgr2 address (is ms_bind_msgr2 on?)", o), 1);
    v.osds[o] = HostPort::from_entity_addr(*a);
  }
  for (uint32_t seed = 0; seed < v.pg_num; ++seed) {
    const rados::PgId pg{*id, seed};
    const int32_t primary = map.map_pg(pg).acting_primary;
    if (!v.osds.contains(primary))
      throw StartupError(fmt::format("PG {} has no OSD that is up (ceph pg map {})", pg.to_string(),
                                     pg.to_string()), 1);
    v.primary_of_pg.push_back(primary);
  }
  return v;
}

}  // namespace pollmsgr::perf
