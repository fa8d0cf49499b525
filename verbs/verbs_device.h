#pragma once
// rdma-core objects with owners: each handle frees its object when it goes, in the order C++
// destroys members. Set-up errors are StartupErrors that say what was tried and how to fix it.
// Threads: a Device is opened before the lcores run and then only read, from any lcore
// (connect_qp and register_memory are set-up calls; rdma-core serialises what it must).
#include <infiniband/verbs.h>

#include <cstdint>
#include <memory>
#include <string>

namespace pollmsgr::verbs {

template <class T, int (*Destroy)(T*)>
struct Deleter {
  void operator()(T* p) const {
    if (p) Destroy(p);
  }
};
using ContextPtr = std::unique_ptr<ibv_context, Deleter<ibv_context, ibv_close_device>>;
using PdPtr = std::unique_ptr<ibv_pd, Deleter<ibv_pd, ibv_dealloc_pd>>;
using MrPtr = std::unique_ptr<ibv_mr, Deleter<ibv_mr, ibv_dereg_mr>>;
using ChannelPtr =
    std::unique_ptr<ibv_comp_channel, Deleter<ibv_comp_channel, ibv_destroy_comp_channel>>;
using CqPtr = std::unique_ptr<ibv_cq, Deleter<ibv_cq, ibv_destroy_cq>>;
using SrqPtr = std::unique_ptr<ibv_srq, Deleter<ibv_srq, ibv_destroy_srq>>;
using QpPtr = std::unique_ptr<ibv_qp, Deleter<ibv_qp, ibv_destroy_qp>>;
inline int dealloc_mw(ibv_mw* mw) { return ibv_dealloc_mw(mw); }  // verbs.h's is static
using MwPtr = std::unique_ptr<ibv_mw, Deleter<ibv_mw, dealloc_mw>>;

// What one side tells the other over the side channel to connect an RC queue pair.
struct QpAddress {
  uint32_t qpn = 0;
  uint32_t psn = 0;
  uint16_t lid = 0;
  uint8_t mtu = 0;  // enum ibv_mtu
  uint8_t pad = 0;
  ibv_gid gid{};
};

// An opened device, its protection domain and the port and GID it talks through.
class Device {
 public:
  // `name` empty: the first device. `gid_index` < 0: the port's RoCEv2 IPv4-mapped GID.
  Device(const std::string& name, uint8_t port, int gid_index);

  ibv_context* context() const { return context_.get(); }
  ibv_pd* pd() const { return pd_.get(); }
  const ibv_device_attr& attr() const { return attr_; }
  const std::string& name() const { return name_; }
  int gid_index() const { return gid_index_; }
  // Our side of a new queue pair's address.
  QpAddress address_of(const ibv_qp* qp, uint32_t psn) const;
  // RESET -> INIT -> RTR -> RTS, towards `peer`. Throws StartupError naming the failing step.
  // rnr_retry: how often a SEND that meets an empty receive queue is retried (7: forever).
  void connect_qp(ibv_qp* qp, uint32_t my_psn, const QpAddress& peer, uint8_t rnr_retry) const;
  // Registers [addr, addr+len) for local access (receives, sends, READ targets); names
  // RLIMIT_MEMLOCK when that is what stops it. With `lendable`, memory windows may be bound to
  // it: the only way a peer gets to READ it, one lent buffer at a time.
  MrPtr register_memory(void* addr, size_t len, bool lendable) const;
  // Whether the device binds type 2 memory windows (which lend exactly one buffer to one queue
  // pair); without them large frames travel as SENDs.
  bool binds_memory_windows() const;

 private:
  ContextPtr context_;
  PdPtr pd_;
  ibv_device_attr attr_{};
  ibv_port_attr port_attr_{};
  std::string name_;
  uint8_t port_;
  int gid_index_;
};

// Moves `qp` to the error state: every posted work request completes, flushed.
void set_qp_error(ibv_qp* qp);

}  // namespace pollmsgr::verbs
