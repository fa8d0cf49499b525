#pragma once
// One RDMA connection's end. Its queue pair receives from its lcore's shared receive queue and
// completes on its lcore's completion queues (lcore_queues.h). Set-up and teardown live in
// rdma_transport.cc, the data path in rdma_endpoint_datapath.cc.
#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "verbs/ceph_wire.h"
#include "verbs/lcore_queues.h"
#include "verbs/rdma_transport.h"
#include "verbs/rdma_wire.h"

namespace pollmsgr::verbs {

class RdmaEndpoint final : public Endpoint {
 public:
  // Large frames a side may have lent to its peer at once: up to its credits, at most this many.
  // Their descriptors' credits come back on arrival, so a receiver holds up to this many chunks
  // beyond its credits.
  static constexpr uint32_t kMaxLargeLent = 16;
  static constexpr uint32_t max_lent(uint32_t credits) { return std::min(credits, kMaxLargeLent); }
  // Work requests a queue pair may have posted: SENDs within credits (and as many credit
  // updates), the READs of the large frames lent to us, and for each we lend a window's bind
  // and its invalidation. (It is most of an idle connection's memory: soft-RoCE maps 512 bytes
  // per entry, rounded up to a power of two; fewer credits, a smaller queue.)
  static constexpr uint32_t send_queue_depth(uint32_t credits) {
    return 2 * credits + 3 * max_lent(credits) + 8;
  }

  // Ceph's wire has no credits: only the send queue bounds what is posted (and RNR retries, at
  // the peer, what it cannot take yet). Set before each burst, never run down.
  static constexpr uint32_t kCephCredits = 1u << 30;

  RdmaEndpoint(RdmaTransport& transport, LcoreQueues& queues, UniqueFd side_channel,
               RdmaWire wire);
  ~RdmaEndpoint() override;

  // Set-up: our queue pair's address, then the peer's (RESET -> RTS), with its grant.
  QpAddress address() const { return device_.address_of(qp_.get(), psn_); }
  void connect(const QpAddress& peer, uint32_t peer_credits, uint32_t peer_chunk_bytes,
               uint32_t peer_large_bytes);
  // The same on Ceph's wire: our record (naming the peer's queue pair once known), the peer's.
  CephRecord ceph_record(uint32_t peer_qpn) const;
  void connect_ceph(const CephRecord& peer, uint32_t peer_buffer_bytes);
  int side_channel() const { return side_.get(); }

  std::span<const uint8_t> rx_window() override;
  void rx_release(size_t n) override;
  std::span<uint8_t> tx_window(size_t want) override;
  void tx_commit(size_t n) override;
  EndpointStatus tx_flush() override;
  bool tx_idle() const override;
  EndpointStatus check_peer() override;
  const char* failure() const override { return failure_.c_str(); }
  EndpointStatus status() const override {
    return failed_ ? EndpointStatus::kError
                   : peer_closed_ ? EndpointStatus::kPeerClosed : EndpointStatus::kOk;
  }
  // Its wait fd is the side channel (readable when the peer goes); what comes over the queue
  // pair is reported by its lcore's queues (the ReadySource), which wake it once idle.
  int wait_fd() const override { return side_.get(); }
  bool enter_idle() override;
  void leave_idle() override;
  ReadySource* ready_source() override { return &queues_; }
  void set_ready_tag(uint64_t tag) override { ready_tag_ = tag; }
  // One of its completions, from its lcore's queues.
  void on_completion(const ibv_wc& c);
  // Its queue pair belongs to its lcore's shared receive queue.
  bool movable_between_lcores() const override { return false; }

  uint64_t reads_done() const { return reads_done_; }  // large frames pulled by RDMA READ

 private:
  // Fixed-capacity FIFO, sized at set-up.
  template <class T>
  struct Fifo {
    std::vector<T> slots;
    uint64_t head = 0, tail = 0;
    size_t size() const { return tail - head; }
    bool empty() const { return head == tail; }
    bool full() const { return size() == slots.size(); }
    T& at(uint64_t position) { return slots[position % slots.size()]; }
    T& front() { return at(head); }
    void push(T v) { slots[tail++ % slots.size()] = v; }
    T pop() { return slots[head++ % slots.size()]; }
  };
  // A received piece of the stream: a SEND's bytes in a small buffer, or a large frame that is
  // (being) READ into a large buffer.
  struct RxChunk {
    enum State : uint8_t { kReady, kNeedsRead, kReading };
    Buffer* buffer;
    uint32_t offset, length;
    State state;
    ReadDescriptor remote;
  };
  void fail(const char* why);   // the connection faults; the first reason is kept
  void fail_completion(const ibv_wc& c);
  // Reaps a batch of the lcore's completions (its own among them); returns how many.
  unsigned poll_completions();
  void start_reads();           // READs for the received descriptors, while large buffers last
  void seal_tx();               // the buffer being filled joins the ready queue
  // Adds to the burst: binding the next lent slot's window to `b` (returning the key for its
  // descriptor), or invalidating the oldest lent slot's window, whose buffer is freed once that
  // has completed.
  uint32_t bind_window(Buffer* b, size_t& n);
  void invalidate_window(size_t& n);
  uint32_t fill_capacity() const;
  bool is_large(const Buffer* b) const { return b->pool == large_pool_; }

  const Device& device_;
  RdmaTransport& transport_;
  LcoreQueues& queues_;
  BufferPool& pool_;
  BufferPool* large_pool_;      // nullptr: large frames go as SENDs too
  UniqueFd side_;
  QpPtr qp_;
  bool enrolled_ = false;       // its completions come to it (on its lcore, at its first use)
  bool idle_ = false, wake_queued_ = false;
  uint64_t ready_tag_ = 0;
  uint32_t psn_;
  uint32_t max_inline_ = 0;
  uint32_t send_depth_;
  RdmaWire wire_;
  bool failed_ = false;         // a work request failed: the connection faults
  std::string failure_;         // why, in words
  bool peer_closed_ = false;    // the side channel closed (or, on Ceph's wire, a fin came)

  Fifo<RxChunk> rx_;            // received, not yet consumed, in stream order
  uint32_t owed_credits_ = 0;   // buffers consumed and reposted, not yet told to the peer
  uint32_t peer_holds_ = 0;     // receives of the peer's whose credit we have not returned
  uint32_t large_released_ = 0; // the peer's large buffers we have read and no longer need
  uint32_t reads_in_flight_ = 0;
  uint64_t reads_done_ = 0;
  uint32_t my_credits_;         // what we granted the peer
  uint32_t peer_credits_ = 0;   // SENDs we may still post
  uint32_t peer_chunk_bytes_ = 0, peer_large_bytes_ = 0;
  Buffer* tx_fill_ = nullptr;   // being written into
  Fifo<Buffer*> tx_ready_;      // committed, waiting for credits
  Fifo<Buffer*> tx_posted_;     // SENT, not yet known complete (nullptr: nothing to free)
  Fifo<Buffer*> tx_lent_;       // large buffers the peer may still be reading
  uint32_t lent_released_ = 0;  // ... of which (the oldest) it has released: to invalidate
  // Type 2 memory windows, one per lent slot (tx_lent_ position modulo its size), each bound
  // to exactly its buffer's frame, for reading, by this queue pair alone; and their current keys.
  std::vector<MwPtr> windows_;
  std::vector<uint32_t> window_keys_;
  uint32_t large_taken_ = 0;    // large buffers in tx_fill_, tx_ready_, tx_lent_ (not invalidated)
  uint64_t tx_posted_seq_ = 0;  // SENDs posted so far
  uint32_t unsignalled_ = 0;
};

}  // namespace pollmsgr::verbs
