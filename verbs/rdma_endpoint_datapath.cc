// The rdma data path: reap completions, hand received chunks to the session in stream order,
// READ large frames, return credits, post a burst of SENDs with one doorbell. No locks, no
// syscalls, no allocation.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "verbs/rdma_endpoint.h"

namespace pollmsgr::verbs {
namespace {
constexpr uint32_t kSignalEvery = 16;  // selective signalling: a completion per burst, or per this many
}  // namespace

void RdmaEndpoint::fail(const char* why) {
  if (!failed_) failure_ = why;
  failed_ = true;
}

// The likeliest cause in words: devices report a SEND larger than the receive buffer as a local
// length or QP error at the receiver, a remote operation error at the sender.
void RdmaEndpoint::fail_completion(const ibv_wc& c) {
  if (failed_) return;
  const WorkKind kind = work_kind(c.wr_id);
  const std::string status = ibv_wc_status_str(c.status);
  if (kind == WorkKind::kReceive &&
      (c.status == IBV_WC_LOC_LEN_ERR || c.status == IBV_WC_LOC_QP_OP_ERR))
    fail(("rdma: a receive failed (" + status + "): the peer sent more than a receive buffer "
          "holds? (a Ceph peer's ms_async_rdma_buffer_size above our --rdma-chunk-kb)").c_str());
  else if (kind == WorkKind::kSend && c.status == IBV_WC_REM_OP_ERR)
    fail(("rdma: the peer refused a SEND (" + status + "): larger than its receive buffers? "
          "(--rdma-peer-buffer-kb)").c_str());
  else if (c.status == IBV_WC_RNR_RETRY_EXC_ERR)
    fail("rdma: the peer's receive queue stayed empty (RNR): it sent past its credits, or we did");
  else
    fail(("rdma: a work request failed: " + status).c_str());
}

unsigned RdmaEndpoint::poll_completions() {
  if (!enrolled_) {  // the first use on its lcore: what waited for it comes now
    if (!queues_.enroll(*this, qp_->qp_num)) {
      fail("rdma: the lcore's send completion queue is full (too many connections)");
      return 0;
    }
    enrolled_ = true;
  }
  return queues_.poll();
}

void RdmaEndpoint::on_completion(const ibv_wc& c) {
  if (idle_ && !wake_queued_) {  // the reactor will poll it again
    wake_queued_ = true;
    queues_.wake(ready_tag_);
  }
  const WorkKind kind = work_kind(c.wr_id);
  if (kind == WorkKind::kRead) {  // a large frame has arrived
    rx_.at(c.wr_id & ~kReadTag).state = RxChunk::kReady;
    --reads_in_flight_;
    ++reads_done_;
    queues_.give_send_room(1);
    if (c.status != IBV_WC_SUCCESS) fail_completion(c);
  } else if (kind == WorkKind::kSend) {  // a signalled SEND: it and every one before it are done
    const uint64_t seq = c.wr_id & ~kSendTag;
    unsigned done = 0;
    for (; !tx_posted_.empty() && tx_posted_.head <= seq; ++done)
      if (Buffer* b = tx_posted_.pop()) b->release();
    queues_.give_send_room(done);
    if (c.status != IBV_WC_SUCCESS) fail_completion(c);
  } else if (kind == WorkKind::kReceive) {  // its buffer left the SRQ
    auto* b = reinterpret_cast<Buffer*>(c.wr_id);
    queues_.on_received();
    if (c.status != IBV_WC_SUCCESS) {
      fail_completion(c);
      queues_.recycle(b);
      return;
    }
    if (wire_ == RdmaWire::kCeph) {  // bytes of the stream, or the peer's fin
      if (c.byte_len == 0 || rx_.full()) {
        queues_.recycle(b);
        if (c.byte_len == 0)
          peer_closed_ = true;
        else
          fail("rdma: the Ceph peer sent more SENDs than we hold unread");
      } else {
        rx_.push({b, 0, c.byte_len, RxChunk::kReady, {}});
      }
      return;
    }
    // Past its credits: seen here, at arrival, while the shared queue's reserve lasts.
    if (++peer_holds_ > my_credits_) {
      queues_.recycle(b);
      fail("rdma: the peer sent past its credits");
      return;
    }
    const Imm imm = decode_imm((c.wc_flags & IBV_WC_WITH_IMM) ? ntohl(c.imm_data) : 0);
    peer_credits_ += imm.credits;
    lent_released_ = static_cast<uint32_t>(
        std::min<uint64_t>(lent_released_ + imm.released, tx_lent_.size()));
    const Received r = classify_receive(imm, {b->data(), c.byte_len}, rx_.full(),
                                        large_pool_ ? large_pool_->buffer_size() : 0);
    if (r.kind == Received::kStream) {
      rx_.push({b, 0, c.byte_len, RxChunk::kReady, {}});
      return;
    }
    // Credits, a descriptor or a fault: the buffer is consumed at once.
    queues_.recycle(b);
    ++owed_credits_;
    if (r.kind == Received::kFault)
      fail("rdma: the peer sent a READ we did not offer, or more than we hold unread");
    else if (r.kind == Received::kRead)
      rx_.push({nullptr, 0, r.read.length, RxChunk::kNeedsRead, r.read});
  }
}

void RdmaEndpoint::start_reads() {
  for (uint64_t pos = rx_.head; pos != rx_.tail && !failed_; ++pos) {
    RxChunk& c = rx_.at(pos);
    if (c.state != RxChunk::kNeedsRead) continue;
    if (tx_posted_.size() + reads_in_flight_ + 1 >= send_depth_ || queues_.send_room() == 0)
      return;  // the queue (or the lcore's completion queue) is full
    Buffer* b = large_pool_->get();
    if (!b) return;  // none free now: try again on the next poll
    ibv_sge sge{reinterpret_cast<uint64_t>(b->data()), c.length, b->lkey};
    ibv_send_wr wr{};
    wr.wr_id = kReadTag | pos;
    wr.opcode = IBV_WR_RDMA_READ;
    wr.send_flags = IBV_SEND_SIGNALED;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.wr.rdma.remote_addr = c.remote.addr;
    wr.wr.rdma.rkey = c.remote.rkey;
    ibv_send_wr* bad = nullptr;
    c.buffer = b;
    c.state = RxChunk::kReading;
    ++reads_in_flight_;
    queues_.take_send_room(1);
    if (ibv_post_send(qp_.get(), &wr, &bad) != 0) fail("rdma: posting a READ failed");
  }
}

std::span<const uint8_t> RdmaEndpoint::rx_window() {
  poll_completions();
  if (reads_in_flight_ < rx_.size()) start_reads();
  if (rx_.empty() || rx_.front().state != RxChunk::kReady) return {};
  RxChunk& c = rx_.front();
  return {c.buffer->data() + c.offset, c.length - c.offset};
}

void RdmaEndpoint::rx_release(size_t n) {
  if (n == 0) return;
  RxChunk& c = rx_.front();
  c.offset += static_cast<uint32_t>(n);
  if (c.offset < c.length) return;
  Buffer* b = rx_.pop().buffer;
  if (is_large(b)) {  // the peer may free its copy
    b->release();
    ++large_released_;
  } else {            // reposted with the burst: the peer gets the credit back
    queues_.recycle(b);
    ++owed_credits_;
  }
}

uint32_t RdmaEndpoint::fill_capacity() const {
  return is_large(tx_fill_) ? peer_large_bytes_ : peer_chunk_bytes_;
}

void RdmaEndpoint::seal_tx() {
  tx_ready_.push(tx_fill_);
  tx_fill_ = nullptr;
}

std::span<uint8_t> RdmaEndpoint::tx_window(size_t want) {
  if (failed_) return {};
  if (tx_fill_ && fill_capacity() - tx_fill_->length < want && tx_fill_->length > 0 &&
      !tx_ready_.full())
    seal_tx();  // the next frame starts a fresh buffer rather than being split
  if (!tx_fill_) {
    if (tx_ready_.full()) return {};  // waiting for credits
    // A frame larger than a chunk goes whole into a large buffer, for the peer to READ.
    if (want > peer_chunk_bytes_ && peer_large_bytes_ && large_taken_ < tx_lent_.slots.size() &&
        (tx_fill_ = large_pool_->get()))
      ++large_taken_;
    else
      tx_fill_ = pool_.get();
    if (!tx_fill_) return {};         // the pool is empty: back off
  }
  return {tx_fill_->data() + tx_fill_->length, fill_capacity() - tx_fill_->length};
}

void RdmaEndpoint::tx_commit(size_t n) {
  tx_fill_->length += static_cast<uint32_t>(n);
  if (tx_fill_->length == fill_capacity() && !tx_ready_.full()) seal_tx();
}

bool RdmaEndpoint::tx_idle() const {
  return tx_ready_.empty() && (!tx_fill_ || tx_fill_->length == 0);
}

EndpointStatus RdmaEndpoint::tx_flush() {
  if (!enrolled_ && (poll_completions(), !enrolled_)) return EndpointStatus::kError;
  queues_.flush_reposts();
  if (tx_fill_ && tx_fill_->length > 0 && !tx_ready_.full()) seal_tx();
  if (wire_ == RdmaWire::kCeph)
    peer_credits_ = kCephCredits;
  else if (!tx_ready_.empty() && !may_send(peer_credits_, owed_credits_))
    poll_completions();  // credits may be waiting
  // Fill the burst's changing fields (the rest were set once, in the constructor); the first
  // SEND carries every credit and release we owe.
  size_t n = 0;
  LcoreQueues::Burst& burst = queues_.burst();
  auto add = [&](Buffer* b) {
    const bool large = b && is_large(b);
    const uint32_t key = large ? bind_window(b, n) : 0;
    ibv_send_wr& wr = burst.wrs[n];
    wr.wr_id = kSendTag | tx_posted_seq_;
    wr.opcode = wire_ == RdmaWire::kCeph ? IBV_WR_SEND : IBV_WR_SEND_WITH_IMM;
    wr.send_flags = 0;
    wr.num_sge = 0;
    wr.imm_data = htonl(encode_imm({owed_credits_, large_released_, large}));
    peer_holds_ -= owed_credits_;
    owed_credits_ = large_released_ = 0;
    if (large) {  // the SEND carries where to READ the frame; the buffer waits for the peer
      burst.descriptors[n] = {reinterpret_cast<uint64_t>(b->data()), key, b->length};
      burst.sges[n] = {reinterpret_cast<uint64_t>(&burst.descriptors[n]), sizeof(ReadDescriptor), 0};
      tx_lent_.push(b);
      b = nullptr;
    } else if (b) {
      burst.sges[n] = {reinterpret_cast<uint64_t>(b->data()), b->length, b->lkey};
    }
    if (large || b) {
      wr.num_sge = 1;
      if (burst.sges[n].length <= max_inline_) wr.send_flags |= IBV_SEND_INLINE;
    }
    if (++unsignalled_ >= kSignalEvery) {
      wr.send_flags |= IBV_SEND_SIGNALED;
      unsignalled_ = 0;
    }
    tx_posted_.push(b);
    ++tx_posted_seq_;
    --peer_credits_;
    ++n;
  };
  // Room for a work request more than `k` (a lent frame takes two: its window's bind, its SEND),
  // in the queue pair and in the lcore's send completion queue.
  auto sq_room = [&](size_t k) {
    return tx_posted_.size() + reads_in_flight_ + k < send_depth_ && n + k <= queues_.send_room();
  };
  // Windows the peer is done with close first: a later bind in this burst may reuse one.
  while (lent_released_ > 0 && sq_room(1)) invalidate_window(n);
  const size_t invalidations = n;
  // The credit rules are rdma_wire.h's may_send and credit_update_due.
  while (!tx_ready_.empty() && may_send(peer_credits_, owed_credits_) && sq_room(2))
    add(tx_ready_.pop());
  // Nothing to send: return the credits and releases on their own (Ceph's wire has none).
  if (n == invalidations && wire_ == RdmaWire::kPollmsgr &&
      credit_update_due(owed_credits_, large_released_, my_credits_) &&
      may_send(peer_credits_, owed_credits_) && sq_room(1))
    add(nullptr);
  if (n > 0) {
    // The last of every burst is signalled too: no buffer may wait for a SEND that never comes.
    if (unsignalled_ > 0) {
      burst.wrs[n - 1].send_flags |= IBV_SEND_SIGNALED;
      unsignalled_ = 0;
    }
    ibv_send_wr* bad = nullptr;
    ibv_send_wr* const after = burst.wrs[n - 1].next;  // the chain ends at this burst's last
    burst.wrs[n - 1].next = nullptr;
    queues_.take_send_room(static_cast<unsigned>(n));
    if (const int err = ibv_post_send(qp_.get(), burst.wrs.data(), &bad); err != 0)
      fail(("rdma: posting work requests failed: " + std::string(strerror(err < 0 ? -err : err)) +
            " (opcode " + std::to_string(bad ? bad->opcode : -1) + ")").c_str());
    burst.wrs[n - 1].next = after;
  }
  return failed_ ? EndpointStatus::kError : EndpointStatus::kOk;
}

uint32_t RdmaEndpoint::bind_window(Buffer* b, size_t& n) {
  const size_t slot = tx_lent_.tail % tx_lent_.slots.size();
  // The work request names the window by its current key (its last bind's, posted long before),
  // and gives it a new one that no earlier loan had.
  windows_[slot]->rkey = window_keys_[slot];
  const uint32_t key = ibv_inc_rkey(window_keys_[slot]);
  window_keys_[slot] = key;
  ibv_send_wr& wr = queues_.burst().wrs[n++];
  wr.wr_id = kSendTag | tx_posted_seq_++;
  wr.opcode = IBV_WR_BIND_MW;
  wr.send_flags = 0;
  wr.num_sge = 0;
  wr.imm_data = 0;  // a SEND's leftover here makes the bind invalid
  wr.bind_mw.mw = windows_[slot].get();
  wr.bind_mw.rkey = key;
  wr.bind_mw.bind_info = {transport_.region_of(b->data()), reinterpret_cast<uint64_t>(b->data()),
                          b->length, IBV_ACCESS_REMOTE_READ};
  tx_posted_.push(nullptr);
  return key;
}

void RdmaEndpoint::invalidate_window(size_t& n) {
  const size_t slot = tx_lent_.head % tx_lent_.slots.size();
  ibv_send_wr& wr = queues_.burst().wrs[n++];
  wr.wr_id = kSendTag | tx_posted_seq_++;
  wr.opcode = IBV_WR_LOCAL_INV;
  wr.send_flags = 0;
  wr.num_sge = 0;
  wr.invalidate_rkey = window_keys_[slot];
  ++unsignalled_;  // the burst's last work request is signalled: the buffer comes back
  tx_posted_.push(tx_lent_.pop());  // freed once the invalidation has completed
  --lent_released_;
  --large_taken_;
}

EndpointStatus RdmaEndpoint::check_peer() {
  if (failed_ || peer_closed_) return status();
  char c;
  const ssize_t n = recv(side_.get(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  peer_closed_ = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  return status();
}

// Idle once nothing it has received waits: its next completion wakes it (LcoreQueues), its
// side channel's close too (its wait fd). In event mode the reactor arms the lcore's queues.
bool RdmaEndpoint::enter_idle() {
  poll_completions();
  if (check_peer() != EndpointStatus::kOk || !rx_.empty()) return false;
  idle_ = true;
  wake_queued_ = false;
  return true;
}

void RdmaEndpoint::leave_idle() { idle_ = false; }

}  // namespace pollmsgr::verbs
