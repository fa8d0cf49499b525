#include "verbs/verbs_device.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"

namespace pollmsgr::verbs {
namespace {

bool is_ipv4_mapped(const ibv_gid& gid) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(gid.raw, kPrefix, sizeof(kPrefix)) == 0;
}

std::string gid_text(const ibv_gid& g) {
  if (is_ipv4_mapped(g))
    return fmt::format("::ffff:{}.{}.{}.{}", g.raw[12], g.raw[13], g.raw[14], g.raw[15]);
  std::string s;
  for (int i = 0; i < 16; i += 2) s += fmt::format("{}{:02x}{:02x}", i ? ":" : "", g.raw[i], g.raw[i + 1]);
  return s;
}

std::string memlock_text() {
  rlimit rl{};
  getrlimit(RLIMIT_MEMLOCK, &rl);
  if (rl.rlim_cur == RLIM_INFINITY) return "unlimited";
  return fmt::format("{} KiB", rl.rlim_cur / 1024);
}

}  // namespace

Device::Device(const std::string& name, uint8_t port, int gid_index) : port_(port) {
  int count = 0;
  ibv_device** list = ibv_get_device_list(&count);
  if (!list || count == 0) {
    if (list) ibv_free_device_list(list);
    throw StartupError(
        "no RDMA device: this host has none (see `ibv_devices`). On a machine without RDMA "
        "hardware, run inside tools/rxe-vm (soft-RoCE), or create one with `rdma link add rxe0 "
        "type rxe netdev IFACE` where the kernel has rdma_rxe", 1);
  }
  std::string names;
  ibv_device* chosen = nullptr;
  for (int i = 0; i < count; ++i) {
    names += fmt::format("{}{}", i ? ", " : "", ibv_get_device_name(list[i]));
    if (!chosen && (name.empty() || name == ibv_get_device_name(list[i]))) chosen = list[i];
  }
  if (!chosen) {
    ibv_free_device_list(list);
    throw StartupError(fmt::format("--rdma-device {}: no such device (there is {})", name, names));
  }
  name_ = ibv_get_device_name(chosen);
  context_.reset(ibv_open_device(chosen));
  ibv_free_device_list(list);
  if (!context_)
    throw StartupError(fmt::format("cannot open RDMA device {}: {}", name_, strerror(errno)), 1);
  if (ibv_query_device(context_.get(), &attr_) != 0 ||
      ibv_query_port(context_.get(), port_, &port_attr_) != 0)
    throw StartupError(fmt::format("cannot query RDMA device {} port {}: {}", name_, port_,
                                   strerror(errno)), 1);
  if (port_attr_.state != IBV_PORT_ACTIVE)
    throw StartupError(fmt::format("RDMA device {} port {} is down (state {}): bring its link up "
                                   "(`rdma link`, `ip link set IFACE up`)",
                                   name_, port_, ibv_port_state_str(port_attr_.state)), 1);
  const int table = port_attr_.gid_tbl_len;
  if (gid_index >= 0) {
    ibv_gid gid{};
    if (gid_index >= table || ibv_query_gid(context_.get(), port_, gid_index, &gid) != 0 ||
        std::all_of(std::begin(gid.raw), std::end(gid.raw), [](uint8_t b) { return b == 0; }))
      throw StartupError(fmt::format("--gid-index {}: device {} port {} has no such GID (see "
                                     "`ibv_devinfo -v`)", gid_index, name_, port_));
    gid_index_ = gid_index;
  } else {
    gid_index_ = -1;
    for (int i = 0; i < table && gid_index_ < 0; ++i) {
      ibv_gid gid{};
      if (ibv_query_gid(context_.get(), port_, i, &gid) == 0 && is_ipv4_mapped(gid)) gid_index_ = i;
    }
    if (gid_index_ < 0)
      throw StartupError(fmt::format("RDMA device {} port {} has no IPv4-mapped (RoCEv2) GID: give "
                                     "its netdev an IPv4 address, or pick one with --gid-index",
                                     name_, port_), 1);
  }
  pd_.reset(ibv_alloc_pd(context_.get()));
  if (!pd_)
    throw StartupError(fmt::format("cannot allocate a protection domain on {}: {}", name_,
                                   strerror(errno)), 1);
}

QpAddress Device::address_of(const ibv_qp* qp, uint32_t psn) const {
  QpAddress a;
  a.qpn = qp->qp_num;
  a.psn = psn & 0xffffff;
  a.lid = port_attr_.lid;
  a.mtu = static_cast<uint8_t>(port_attr_.active_mtu);
  ibv_query_gid(context_.get(), port_, gid_index_, &a.gid);
  return a;
}

void Device::connect_qp(ibv_qp* qp, uint32_t my_psn, const QpAddress& peer,
                        uint8_t rnr_retry) const {
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_INIT;
  a.pkey_index = 0;
  a.port_num = port_;
  a.qp_access_flags = IBV_ACCESS_REMOTE_READ;  // peers READ what we lend them (through a window)
  if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
    throw StartupError(fmt::format("RDMA queue pair to INIT: {}", strerror(errno)), 1);

  a = {};
  a.qp_state = IBV_QPS_RTR;
  a.path_mtu = static_cast<ibv_mtu>(std::min(peer.mtu, static_cast<uint8_t>(port_attr_.active_mtu)));
  a.dest_qp_num = peer.qpn;
  a.rq_psn = peer.psn;
  a.max_dest_rd_atomic = static_cast<uint8_t>(std::clamp(attr_.max_qp_rd_atom, 1, 16));
  a.min_rnr_timer = 12;
  a.ah_attr.is_global = 1;
  a.ah_attr.grh.dgid = peer.gid;
  a.ah_attr.grh.sgid_index = static_cast<uint8_t>(gid_index_);
  a.ah_attr.grh.hop_limit = 64;
  a.ah_attr.dlid = peer.lid;
  a.ah_attr.port_num = port_;
  if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
                               IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
    throw StartupError(fmt::format("RDMA queue pair to RTR (peer qpn {}, gid {}): {}", peer.qpn,
                                   gid_text(peer.gid), strerror(errno)), 1);

  a = {};
  a.qp_state = IBV_QPS_RTS;
  a.timeout = 14;    // 4.096 us * 2^14 = 67 ms per try
  a.retry_cnt = 7;
  a.rnr_retry = rnr_retry;
  a.sq_psn = my_psn & 0xffffff;
  a.max_rd_atomic = static_cast<uint8_t>(std::clamp(attr_.max_qp_init_rd_atom, 1, 16));
  if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
                               IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC))
    throw StartupError(fmt::format("RDMA queue pair to RTS: {}", strerror(errno)), 1);
}

MrPtr Device::register_memory(void* addr, size_t len, bool lendable) const {
  MrPtr mr(ibv_reg_mr(pd_.get(), addr, len,
                      IBV_ACCESS_LOCAL_WRITE | (lendable ? IBV_ACCESS_MW_BIND : 0)));
  if (!mr) {
    const int err = errno;
    if (err == ENOMEM || err == EPERM)
      throw StartupError(fmt::format(
          "cannot register {} MiB of buffers with {}: {}; RLIMIT_MEMLOCK is {}. Raise it: "
          "`ulimit -l unlimited` in the shell that starts the program (as root), or a memlock "
          "line in /etc/security/limits.conf; or use fewer buffers (--rdma-buffers)",
          (len >> 20) + 1, name_, strerror(err), memlock_text()), 1);
    throw StartupError(fmt::format("cannot register memory with {}: {}", name_, strerror(err)), 1);
  }
  return mr;
}

bool Device::binds_memory_windows() const {
  return (attr_.device_cap_flags & (IBV_DEVICE_MEM_WINDOW_TYPE_2A | IBV_DEVICE_MEM_WINDOW_TYPE_2B)) &&
         attr_.max_mw > 0;
}

void set_qp_error(ibv_qp* qp) {
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_ERR;
  ibv_modify_qp(qp, &a, IBV_QP_STATE);
}

}  // namespace pollmsgr::verbs
