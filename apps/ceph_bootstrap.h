#pragma once
// What a benchmark client needs to know before it writes to a real Ceph cluster, asked of a
// monitor at start-up, over the benchmark's own transport (a MonSession: nothing here runs on an
// lcore's loop):
//   the handshake          -> our global_id (client.<gid>: the OSDs' name for us)
//   MMonSubscribe osdmap   -> the newest full OSDMap (MOSDMap), decoded: the pool, every OSD's
//                             address, and each PG's acting primary by CRUSH, computed here as
//                             Ceph's clients do (rados/osdmap.h): one round trip for any pg_num
// Following every new map as it comes is the op engine's (osd_client.h resends on an OSD's
// MOSDMap).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dataplane/transport/address.h"
#include "dataplane/transport/transport.h"

namespace pollmsgr::perf {

struct CephClusterView {
  uint64_t global_id = 0;
  uint32_t osdmap_epoch = 0;
  std::string pool_name;
  int64_t pool_id = 0;
  uint32_t pg_num = 0;
  std::map<int, HostPort> osds;  // up OSDs' msgr2 public addresses, nonce included
  std::vector<int> primary_of_pg;  // by PG seed
};

// Throws StartupError naming what failed (no answer, the mon's own error text, no such pool,
// a PG without an OSD) and what to check.
CephClusterView query_ceph_cluster(Transport& transport, const HostPort& mon,
                                   const std::string& pool, double timeout_s = 20);

}  // namespace pollmsgr::perf
