// The rdma data path: reap completions, hand received chunks to the session in stream order,
// return credits, post a burst of SENDs with one doorbell. No locks, no syscalls, no allocation.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>

#include "verbs/rdma_endpoint.h"

namespace pollmsgr::verbs {
namespace {
constexpr unsigned kPollBatch = 16;
constexpr uint64_t kSendTag = 1ull << 63;  // send wr_ids: kSendTag | sequence; receives: Buffer*
constexpr uint64_t kBeaconWrId = ~0ull;
constexpr uint32_t kSignalEvery = 16;      // selective signalling: one completion per this many
}  // namespace

unsigned RdmaEndpoint::poll_completions() {
  ibv_wc wc[kPollBatch];
  const int n = ibv_poll_cq(cq_.get(), kPollBatch, wc);
  if (n < 0) {
    failed_ = true;
    return 0;
  }
  for (int i = 0; i < n; ++i) {
    const ibv_wc& c = wc[i];
    if (c.wr_id == kBeaconWrId) {
      beacon_seen_ = true;
      continue;
    }
    if (!(c.wr_id & kSendTag)) {  // a receive: its buffer left the SRQ
      auto* b = reinterpret_cast<Buffer*>(c.wr_id);
      srq_.on_received();
      if (c.status != IBV_WC_SUCCESS) {
        srq_.recycle(b);
        failed_ = true;
        continue;
      }
      if (c.wc_flags & IBV_WC_WITH_IMM) peer_credits_ += ntohl(c.imm_data);
      if (c.byte_len == 0 || rx_.full()) {  // a credit update (or a peer past its credits)
        if (c.byte_len != 0) failed_ = true;
        srq_.recycle(b);
        ++owed_credits_;
        continue;
      }
      b->length = c.byte_len;
      rx_.push({b, 0});
      continue;
    }
    // A signalled send: it and every send before it are done.
    const uint64_t seq = c.wr_id & ~kSendTag;
    while (!tx_posted_.empty() && tx_posted_.head <= seq)
      if (Buffer* b = tx_posted_.pop()) b->release();
    if (c.status != IBV_WC_SUCCESS) failed_ = true;
  }
  return static_cast<unsigned>(n);
}

std::span<const uint8_t> RdmaEndpoint::rx_burst() {
  poll_completions();
  if (rx_.empty()) return {};
  RxChunk& c = rx_.front();
  return {c.buffer->data() + c.offset, c.buffer->length - c.offset};
}

void RdmaEndpoint::rx_release(size_t n) {
  if (n == 0) return;
  RxChunk& c = rx_.front();
  c.offset += static_cast<uint32_t>(n);
  if (c.offset < c.buffer->length) return;
  srq_.recycle(rx_.pop().buffer);  // reposted with the burst: the peer gets the credit back
  ++owed_credits_;
}

void RdmaEndpoint::seal_tx() {
  tx_ready_.push(tx_fill_);
  tx_fill_ = nullptr;
}

std::span<uint8_t> RdmaEndpoint::tx_window(size_t want) {
  if (failed_) return {};
  if (tx_fill_ && peer_chunk_bytes_ - tx_fill_->length < want && tx_fill_->length > 0 &&
      !tx_ready_.full())
    seal_tx();  // the next frame starts a fresh chunk rather than being split
  if (!tx_fill_) {
    if (tx_ready_.full()) return {};  // waiting for credits
    tx_fill_ = pool_.get();
    if (!tx_fill_) return {};         // the pool is empty: back off
  }
  return {tx_fill_->data() + tx_fill_->length, peer_chunk_bytes_ - tx_fill_->length};
}

void RdmaEndpoint::tx_commit(size_t n) {
  tx_fill_->length += static_cast<uint32_t>(n);
  if (tx_fill_->length == peer_chunk_bytes_ && !tx_ready_.full()) seal_tx();
}

bool RdmaEndpoint::tx_idle() const {
  return tx_ready_.empty() && (!tx_fill_ || tx_fill_->length == 0);
}

EndpointStatus RdmaEndpoint::tx_flush() {
  srq_.flush_reposts();
  if (!tx_ready_.empty() && peer_credits_ <= 1) poll_completions();  // credits may be waiting
  if (tx_fill_ && tx_fill_->length > 0 && !tx_ready_.full()) seal_tx();
  // Build the burst in place; the first SEND carries every credit we owe.
  size_t n = 0;
  auto add = [&](Buffer* b) {
    ibv_send_wr& wr = wrs_[n];
    wr = {};
    wr.wr_id = kSendTag | tx_posted_seq_;
    wr.opcode = IBV_WR_SEND_WITH_IMM;
    wr.imm_data = htonl(owed_credits_);
    owed_credits_ = 0;
    if (b) {
      sges_[n] = {reinterpret_cast<uint64_t>(b->data()), b->length, b->lkey};
      wr.sg_list = &sges_[n];
      wr.num_sge = 1;
      if (b->length <= max_inline_) wr.send_flags |= IBV_SEND_INLINE;
    }
    if (++unsignalled_ >= kSignalEvery) {
      wr.send_flags |= IBV_SEND_SIGNALED;
      unsignalled_ = 0;
    }
    if (n > 0) wrs_[n - 1].next = &wr;
    tx_posted_.push(b);
    ++tx_posted_seq_;
    --peer_credits_;
    ++n;
  };
  // One credit stays in reserve for credit updates, so neither side can wait on the other.
  while (!tx_ready_.empty() && peer_credits_ > 1 && tx_posted_.size() + 1 < tx_posted_.slots.size())
    add(tx_ready_.pop());
  if (n == 0 && owed_credits_ >= (my_credits_ + 1) / 2 && peer_credits_ > 0 &&
      tx_posted_.size() + 1 < tx_posted_.slots.size())
    add(nullptr);  // nothing to send: return the credits on their own
  if (n > 0) {
    // The last of a burst is signalled when the queue is getting full, so it drains.
    if (tx_posted_.size() + kSignalEvery >= tx_posted_.slots.size() && unsignalled_ > 0) {
      wrs_[n - 1].send_flags |= IBV_SEND_SIGNALED;
      unsignalled_ = 0;
    }
    ibv_send_wr* bad = nullptr;
    if (ibv_post_send(qp_.get(), wrs_.data(), &bad) != 0) failed_ = true;
  }
  return failed_ ? EndpointStatus::kError : EndpointStatus::kOk;
}

EndpointStatus RdmaEndpoint::check_peer() {
  if (failed_) return EndpointStatus::kError;
  char c;
  const ssize_t n = recv(side_.get(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
    return EndpointStatus::kPeerClosed;
  return EndpointStatus::kOk;
}

// Event mode: arm the CQ's notification, then look once more, so a completion that arrived
// before the arming is not slept through.
bool RdmaEndpoint::arm_wait() {
  if (ibv_req_notify_cq(cq_.get(), 0) != 0) return false;
  return poll_completions() == 0 && rx_.empty();
}

void RdmaEndpoint::disarm_wait() {
  ibv_cq* cq = nullptr;
  void* context = nullptr;
  if (ibv_get_cq_event(channel_.get(), &cq, &context) == 0) ibv_ack_cq_events(cq, 1);
}

}  // namespace pollmsgr::verbs
