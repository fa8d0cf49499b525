#pragma once
// One lcore's shared verbs queues: the shared receive queue its connections receive into, and
// one receive and one send completion queue for all its queue pairs, so that one poll serves
// every connection and an iteration costs O(ready), not O(connections). A completion reaches its
// endpoint by qp_num; one for a queue pair whose endpoint has not enrolled yet (set up on another
// lcore, not yet run here) waits until it does, and those of a torn-down queue pair go to its
// retire record. Idle endpoints that get something are woken through the reactor's ReadySource
// interface; in event mode one completion channel carries both queues' events.
//
// Threads: the owning lcore's, except add_connection, remove_connection and retire, which the
// accepting lcore may call too (an endpoint built there, whose set-up then failed).
#include <atomic>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "dataplane/mem/buffer_pool.h"
#include "dataplane/transport/endpoint.h"
#include "verbs/rdma_wire.h"
#include "verbs/verbs_device.h"

namespace pollmsgr::verbs {

class RdmaEndpoint;

class LcoreQueues final : public ReadySource {
 public:
  static constexpr unsigned kRepostBatch = 16;
  // Completion queue entries kept back from the send budget: the beacons of endpoints torn down
  // before they enrolled (at most the accepting lcore's set-ups in progress), and a margin.
  static constexpr unsigned kSendReserve = 128;

  // send_depth: what one queue pair may have posted (the largest burst); send_cq_entries: the
  // send completion queue's size, which bounds the lcore's connections. Throws StartupError.
  LcoreQueues(const Device& device, BufferPool& pool, uint32_t srq_depth, uint32_t credits,
              uint32_t send_depth, uint64_t send_cq_entries, bool event_mode);
  ~LcoreQueues() override;
  ibv_srq* srq() const { return srq_.get(); }
  ibv_cq* recv_cq() const { return recv_cq_.get(); }
  ibv_cq* send_cq() const { return send_cq_.get(); }

  // --- receive buffers ---
  // Posts one more connection's worth of buffers; false when the queue or the pool cannot.
  bool add_connection();
  void remove_connection() { connections_.fetch_sub(1, std::memory_order_relaxed); }
  // A receive completed (its buffer left the queue).
  void on_received() { posted_.fetch_sub(1, std::memory_order_relaxed); }
  // A received buffer is consumed: back into the queue while the connections need it, else
  // back to the pool. Reposts go in batches (flush_reposts, once per burst).
  void recycle(Buffer* buffer);
  void flush_reposts();
  unsigned posted() const { return posted_.load(std::memory_order_relaxed); }

  // --- completions ---
  // An endpoint's completions go to it from now on (those that waited for it first). False when
  // the send completion queue has no room left for one more queue pair's beacon beside one
  // largest burst.
  bool enroll(RdmaEndpoint& endpoint, uint32_t qp_num);
  void withdraw(uint32_t qp_num);
  // Reaps a batch from each completion queue, handing every completion to its owner; returns how
  // many were reaped.
  unsigned poll();
  // Room in the send completion queue: every work request posted, signalled or not, may yet
  // complete with an entry (a flush does), so the lcore's queue pairs share a budget of them.
  unsigned send_room() const { return send_room_; }
  void take_send_room(unsigned n) { send_room_ -= n; }
  void give_send_room(unsigned n) { send_room_ += n; }
  // An idle endpoint got something: the reactor will see its tag.
  void wake(uint64_t tag) { woken_.push_back(tag); }

  // One burst's work requests, chained once; shared by the lcore's endpoints (one posts at a
  // time). Each entry has its scatter element and its descriptor (copied inline when posted).
  struct Burst {
    std::vector<ibv_send_wr> wrs;
    std::vector<ibv_sge> sges;
    std::vector<ReadDescriptor> descriptors;
  };

  // A torn-down connection's queue pair (already in the error state, its beacon posted) and the
  // buffers the device may still be using: kept until the beacon's flush completes (then every
  // completion before it has been reaped), so that teardown never waits on the lcore. After a
  // second without it, its buffers are taken back anyway. The destructor waits for what is left.
  struct Retired {
    QpPtr qp;
    uint32_t qp_num = 0;
    std::vector<Buffer*> in_flight;
    unsigned send_room = 0;  // what its completions may still take of the send queue's budget
    uint64_t give_up_tsc = 0;
    bool beacon = false;
  };
  void retire(Retired retired);

  // ReadySource
  size_t take_ready(uint64_t* tags, size_t max) override;
  int wait_fd() const override { return channel_ ? channel_->fd : -1; }
  bool arm() override;
  void acknowledge() override;

  Burst& burst() { return burst_; }

 private:
  unsigned wanted(unsigned connections) const {
    return connections == 0 ? 0 : (connections + 1) * credits_;
  }
  bool post(Buffer* const* buffers, unsigned n);
  void post_reposts();
  void route(const ibv_wc& wc);
  void to_retired(Retired& r, const ibv_wc& wc);
  void take_in_retired();  // retire()d records, into retired_ (with what waited for them)
  // Hands the completions that waited for queue pair `qp_num` to `take`, and forgets them.
  template <class Take>
  void claim_waiting(uint32_t qp_num, Take take);
  void reap_retired(bool give_up_all);

  BufferPool& pool_;
  SrqPtr srq_;
  ChannelPtr channel_;  // event mode only
  CqPtr recv_cq_, send_cq_;
  uint32_t depth_, credits_;
  std::atomic<unsigned> posted_{0}, connections_{0};
  Buffer* reposts_[kRepostBatch];
  unsigned repost_count_ = 0;
  unsigned send_room_;
  std::unordered_map<uint32_t, RdmaEndpoint*> endpoints_;
  std::unordered_map<uint32_t, Retired> retired_;
  std::vector<ibv_wc> waiting_;  // completions of queue pairs not enrolled (or retired) yet
  std::vector<uint64_t> woken_;
  uint64_t next_stale_check_ = 0;
  std::mutex incoming_mutex_;
  std::vector<Retired> incoming_;
  std::atomic<bool> has_incoming_{false};
  Burst burst_;
};

}  // namespace pollmsgr::verbs
