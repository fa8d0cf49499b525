#pragma once
// rdma: msgr2 over RDMA RC queue pairs. Each reactor (lcore) has one shared receive queue fed
// from a registered hugepage pool and one receive and one send completion queue (with one
// completion channel, in event mode only) that all its queue pairs share (lcore_queues.h); each
// connection has its queue pair. The byte stream travels as SENDs of up to one
// chunk each, posted as one list per flush (one doorbell), inline when small, selectively
// signalled. A frame larger than a chunk goes whole into a large registered buffer instead,
// and only its address travels: the receiver pulls it with one RDMA READ into a large buffer
// of its own, where the session parses it in place, and says when the sender's is free. Credits: a side may have at most `credits` SENDs unconsumed at its peer, and every
// SEND carries, as immediate data, the receive buffers its sender has consumed and reposted
// since, so no SEND ever meets an empty receive queue (RNR). Queue pair addresses are exchanged
// over a TCP side channel on the server's address and port, which also tells either side that
// the other has gone.
//
// A connection may instead speak Ceph's own RDMA wire (ceph_wire.h), to meet Ceph's async+rdma
// daemons: the client chooses it, the server tells the two apart by the side channel's first
// bytes. Ceph's wire has no credits and no READs: plain SENDs no larger than the peer's buffer
// size (which the wire does not carry: RdmaOptions), an empty receive queue met by RNR retries,
// and a zero-length SEND that says the sender has closed.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/mem/buffer_pool.h"
#include "dataplane/transport/tcp_transport.h"
#include "dataplane/transport/transport.h"
#include "verbs/verbs_device.h"

namespace pollmsgr::verbs {

enum class RdmaWire : uint8_t { kPollmsgr, kCeph };

struct RdmaOptions {
  std::string device;               // empty: the first device
  int gid_index = -1;               // < 0: the port's RoCEv2 IPv4-mapped GID
  uint8_t port = 1;
  uint32_t chunk_bytes = 16u << 10; // receive buffer size: the largest single SEND
  uint32_t credits = 32;            // receive buffers a peer may fill, per connection
  uint32_t buffers = 4096;          // registered buffers in the pool, for sends and receives
  uint32_t large_bytes = 1u << 20;  // frames larger than a chunk travel by RDMA READ in these
  uint32_t large_buffers = 64;      // ... of which the process has this many (0: no READs)
  uint32_t srq_depth = 8192;        // receive buffers one lcore may have posted
  uint32_t max_inline = 128;        // SENDs this small are copied into the work request
  uint32_t send_cq_entries = 0;     // each lcore's send completion queue (0: the device's largest)
  RdmaWire wire = RdmaWire::kPollmsgr;  // what connect() speaks; accept() serves both
  uint32_t ceph_peer_buffer_bytes = 16u << 10;  // Ceph's ms_async_rdma_buffer_size at the peer
};

// Each side's half of the set-up of our wire, over the side channel (host byte order: both ends
// are pollmsgr on little-endian hosts). The client then sends kReadyByte once its queue pair is
// ready to receive.
struct RdmaHello {
  static constexpr uint64_t kMagic = 0x706f6c6c72646d31ull;  // "pollrdm1"
  static constexpr char kReadyByte = 'R';
  uint64_t magic = kMagic;
  uint32_t credits = 0;      // receive buffers the sender grants its peer
  uint32_t chunk_bytes = 0;  // the largest SEND the sender can receive
  uint32_t large_bytes = 0;  // the largest frame it can READ (0: none)
  uint32_t pad = 0;
  uint64_t resume_cookie = 0;  // client: the lossless session it resumes (0: none)
  QpAddress qp;
};

class LcoreQueues;
class RdmaEndpoint;

class RdmaTransport final : public Transport {
 public:
  // Opens the device, registers the pool, makes one SRQ per reactor. Throws StartupError.
  RdmaTransport(const RdmaOptions& options, size_t reactors, bool event_mode);
  ~RdmaTransport() override;

  const char* name() const override { return "rdma"; }
  // Blocks for the side-channel exchange (up to a few seconds) whatever `wait` says: a queue
  // pair needs the peer's address before it can carry a byte.
  std::unique_ptr<Endpoint> connect(const HostPort& server, size_t reactor_index,
                                    uint64_t resume_cookie, bool wait) override;
  void listen(const HostPort& bind) override;
  int listen_fd() const override;
  Accepted accept(const Placement& place) override;
  std::vector<PoolCensus> pools() const override;

  const Device& device() const { return *device_; }
  // Where every buffer is: a leak shows as buffers held with no connection open.
  struct Census {
    unsigned total, in_pool, posted_for_receive, held_by_connections, queue_pairs;
  };
  Census census() const;

 private:
  struct Pending;
  std::unique_ptr<RdmaEndpoint> make_endpoint(size_t reactor_index, UniqueFd side_channel,
                                              RdmaWire wire);
  std::unique_ptr<Endpoint> connect_ceph(const HostPort& server, size_t reactor_index);
  // Moves a set-up along with what its side channel has brought; false when it must be dropped.
  bool advance(Pending& p, const Placement& place);
  uint32_t large_bytes() const;  // what we can READ into (0: no large pool)
  ibv_mr* region_of(const void* addr) const;  // the registration holding addr

  RdmaOptions options_;
  std::unique_ptr<Device> device_;
  std::unique_ptr<BufferPool> pool_, large_pool_;
  std::vector<MrPtr> memory_regions_;
  std::vector<std::unique_ptr<LcoreQueues>> lcores_;  // one per reactor
  std::atomic<unsigned> queue_pairs_{0};
  std::unique_ptr<TcpListener> listener_;
  std::vector<Pending> pending_;
  friend class RdmaEndpoint;
};

}  // namespace pollmsgr::verbs
