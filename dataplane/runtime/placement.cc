// Runtime::placement_report: where each lcore runs, from hwloc's view of the machine.
#include <hwloc.h>
#include <rte_lcore.h>

#include <map>
#include <fmt/format.h>

#include "dataplane/runtime/runtime.h"

namespace pollmsgr {
namespace {

struct Topology {
  hwloc_topology_t topo = nullptr;
  Topology() {
    hwloc_topology_init(&topo);
    hwloc_topology_load(topo);
  }
  ~Topology() { hwloc_topology_destroy(topo); }
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;
};

int numa_node_of(hwloc_obj_t pu) {
  hwloc_obj_t node = nullptr;
  for (hwloc_obj_t o = pu; o && !node; o = o->parent)
    if (o->memory_arity > 0) node = o->memory_first_child;
  return node ? static_cast<int>(node->os_index) : 0;
}

}  // namespace

std::string Runtime::placement_report() const {
  Topology t;
  std::string report = fmt::format("{:<6} {:<4} {:<5} {:<4} {:<5} {}\n", "lcore", "cpu", "core",
                                   "pu", "numa", "role");
  std::map<unsigned, unsigned> lcore_of_core;  // physical core -> first lcore on it
  std::string warnings;
  const unsigned memory_numa = static_cast<unsigned>(rte_socket_id_by_idx(0));
  for (unsigned lcore : lcores()) {
    unsigned cpu = cpu_of(lcore);
    hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(t.topo, cpu);
    if (!pu) {
      report += fmt::format("{:<6} {:<4} (not in hwloc's topology)\n", lcore, cpu);
      continue;
    }
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(t.topo, HWLOC_OBJ_CORE, pu);
    unsigned core_idx = core ? core->logical_index : pu->logical_index;
    int numa = numa_node_of(pu);
    report += fmt::format("{:<6} {:<4} {:<5} {:<4} {:<5} {}\n", lcore, cpu, core_idx,
                          pu->logical_index, numa, lcore == main_lcore() ? "main" : "worker");
    auto [it, fresh] = lcore_of_core.emplace(core_idx, lcore);
    if (!fresh)
      warnings += fmt::format(
          "warning: lcores {} and {} share physical core {} (hyperthreads): they will slow each "
          "other down\n", it->second, lcore, core_idx);
    if (static_cast<unsigned>(numa) != memory_numa)
      warnings += fmt::format("warning: lcore {} is on NUMA node {} but its memory is on node {}\n",
                              lcore, numa, memory_numa);
  }
  return report + warnings;
}

}  // namespace pollmsgr
