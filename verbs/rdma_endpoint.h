#pragma once
// One RDMA connection's end, and the per-lcore shared receive queue it draws from. Set-up and
// teardown live in rdma_transport.cc, the data path in rdma_endpoint_datapath.cc.
#include <atomic>
#include <vector>

#include "verbs/rdma_transport.h"

namespace pollmsgr::verbs {

// One lcore's SRQ. Buffers for a new connection may be posted from the accepting lcore; every
// other use is the owning lcore's (rdma-core serialises posts to one SRQ itself).
class SharedReceiveQueue {
 public:
  static constexpr unsigned kRepostBatch = 16;
  SharedReceiveQueue(const Device& device, BufferPool& pool, uint32_t depth, uint32_t credits);
  ~SharedReceiveQueue();
  ibv_srq* srq() const { return srq_.get(); }

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

 private:
  bool post(Buffer* const* buffers, unsigned n);

  BufferPool& pool_;
  SrqPtr srq_;
  uint32_t depth_, credits_;
  std::atomic<unsigned> posted_{0}, connections_{0};
  Buffer* reposts_[kRepostBatch];
  unsigned repost_count_ = 0;
};

class RdmaEndpoint final : public Endpoint {
 public:
  RdmaEndpoint(RdmaTransport& transport, SharedReceiveQueue& srq, UniqueFd side_channel);
  ~RdmaEndpoint() override;

  // Set-up: our queue pair's address, then the peer's (RESET -> RTS), with its grant.
  QpAddress address() const { return device_.address_of(qp_.get(), psn_); }
  void connect(const QpAddress& peer, uint32_t peer_credits, uint32_t peer_chunk_bytes);
  int side_channel() const { return side_.get(); }

  std::span<const uint8_t> rx_burst() override;
  void rx_release(size_t n) override;
  std::span<uint8_t> tx_window(size_t want) override;
  void tx_commit(size_t n) override;
  EndpointStatus tx_flush() override;
  bool tx_idle() const override;
  EndpointStatus check_peer() override;
  int wait_fd() const override { return channel_ ? channel_->fd : -1; }
  bool arm_wait() override;
  void disarm_wait() override;
  const char* kind() const override { return "rdma"; }

  unsigned buffers_held() const;  // for the census

 private:
  // Fixed-capacity FIFO, sized at set-up.
  template <class T>
  struct Fifo {
    std::vector<T> slots;
    uint64_t head = 0, tail = 0;
    size_t size() const { return tail - head; }
    bool empty() const { return head == tail; }
    bool full() const { return size() == slots.size(); }
    T& front() { return slots[head % slots.size()]; }
    void push(T v) { slots[tail++ % slots.size()] = v; }
    T pop() { return slots[head++ % slots.size()]; }
  };
  struct RxChunk {
    Buffer* buffer;
    uint32_t offset;
  };
  unsigned poll_completions();  // reaps up to a batch; returns how many
  void seal_tx();               // the buffer being filled joins the ready queue

  const Device& device_;
  RdmaTransport& transport_;
  SharedReceiveQueue& srq_;
  BufferPool& pool_;
  UniqueFd side_;
  ChannelPtr channel_;  // event mode only
  CqPtr cq_;            // both directions' completions
  QpPtr qp_;
  uint32_t psn_;
  uint32_t max_inline_ = 0;
  uint32_t send_depth_;
  bool failed_ = false;      // a work request failed: the connection faults
  bool beacon_seen_ = false;

  Fifo<RxChunk> rx_;             // received, not yet consumed, in stream order
  uint32_t owed_credits_ = 0;    // buffers consumed and reposted, not yet told to the peer
  uint32_t my_credits_;          // what we granted the peer
  uint32_t peer_credits_ = 0;    // SENDs we may still post
  uint32_t peer_chunk_bytes_ = 0;
  Buffer* tx_fill_ = nullptr;    // being written into
  Fifo<Buffer*> tx_ready_;       // committed, waiting for credits
  Fifo<Buffer*> tx_posted_;      // posted, not yet known complete (nullptr: a credit update)
  uint64_t tx_posted_seq_ = 0;   // work requests posted so far
  uint32_t unsignalled_ = 0;
  std::vector<ibv_send_wr> wrs_;  // one burst's work requests, built in place
  std::vector<ibv_sge> sges_;
};

}  // namespace pollmsgr::verbs
