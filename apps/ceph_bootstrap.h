#pragma once
// What a benchmark client needs to know before it writes to a real Ceph cluster, asked of a
// monitor at start-up, over the benchmark's own transport (a MonSession: nothing here runs on an
// lcore's loop):
//   the handshake          -> our global_id (client.<gid>: the OSDs' name for us)
//   MMonGetMap             -> the fsid, which every command must carry
//   "osd dump" (JSON)      -> the osdmap epoch, the pool's id and pg_num, each OSD's address
//   "pg map" for each PG   -> its acting primary, the OSD a client sends that PG's ops to
// A full client (librados' Objecter) instead subscribes to the osdmap, decodes it and runs
// CRUSH itself for every object, and follows every new map as it comes: enough here is the
// map as it is at start, and following an OSD's MOSDMap by resending (osd_client.h).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dataplane/transport/address.h"
#include "dataplane/transport/transport.h"
#include "proto/mon_messages.h"

namespace pollmsgr::perf {

struct CephClusterView {
  proto::Fsid fsid{};
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
