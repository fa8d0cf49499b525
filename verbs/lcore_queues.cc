#include "verbs/lcore_queues.h"

#include <fcntl.h>
#include <rte_cycles.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"
#include "verbs/rdma_endpoint.h"

namespace pollmsgr::verbs {
namespace {
constexpr int kPollBatch = 32;
}  // namespace

LcoreQueues::LcoreQueues(const Device& device, BufferPool& pool, uint32_t srq_depth,
                         uint32_t credits, uint32_t send_depth, uint64_t send_cq_entries,
                         bool event_mode)
    : pool_(pool), depth_(srq_depth), credits_(credits) {
  ibv_srq_init_attr attr{};
  attr.attr.max_wr = srq_depth;
  attr.attr.max_sge = 1;
  srq_.reset(ibv_create_srq(device.pd(), &attr));
  if (!srq_)
    throw StartupError(fmt::format("cannot create a shared receive queue of {} on {}: {}",
                                   srq_depth, device.name(), strerror(errno)), 1);
  if (event_mode) {
    channel_.reset(ibv_create_comp_channel(device.context()));
    if (!channel_ || fcntl(channel_->fd, F_SETFL, fcntl(channel_->fd, F_GETFL) | O_NONBLOCK) != 0)
      throw StartupError(fmt::format("cannot create a completion channel: {}", strerror(errno)), 1);
  }
  // Receives: no more than are posted. Sends: as many as asked (by default, as many as the
  // device allows); the queue pairs share that budget (send_room).
  const int send_entries = static_cast<int>(send_cq_entries);
  recv_cq_.reset(ibv_create_cq(device.context(), static_cast<int>(srq_depth + kPollBatch), nullptr,
                               channel_.get(), 0));
  send_cq_.reset(ibv_create_cq(device.context(), send_entries, nullptr, channel_.get(), 0));
  if (!recv_cq_ || !send_cq_)
    throw StartupError(fmt::format("cannot create completion queues of {} and {} entries on {}: {}",
                                   srq_depth + kPollBatch, send_entries, device.name(),
                                   strerror(errno)), 1);
  send_room_ = send_cq_->cqe > static_cast<int>(kSendReserve) ? send_cq_->cqe - kSendReserve : 0;
  burst_.wrs.resize(send_depth);
  burst_.sges.resize(send_depth);
  burst_.descriptors.resize(send_depth);
  for (size_t i = 0; i < send_depth; ++i) {  // what no work request changes
    burst_.wrs[i].sg_list = &burst_.sges[i];
    burst_.wrs[i].next = i + 1 < send_depth ? &burst_.wrs[i + 1] : nullptr;
  }
  waiting_.reserve(srq_depth + kSendReserve);
}

LcoreQueues::~LcoreQueues() {  // posted buffers go with the pool
  take_in_retired();
  while (!retired_.empty()) {  // each freed once its beacon has come, or after its second
    poll();
    flush_reposts();
  }
  // The queue pairs go before the completion queues they post to (members: qp in retired_).
}

// --- receive buffers ---

bool LcoreQueues::post(Buffer* const* buffers, unsigned n) {
  ibv_recv_wr wrs[kRepostBatch];
  ibv_sge sges[kRepostBatch];
  for (unsigned done = 0; done < n;) {
    const unsigned batch = std::min(n - done, kRepostBatch);
    for (unsigned i = 0; i < batch; ++i) {
      Buffer* b = buffers[done + i];
      sges[i] = {reinterpret_cast<uint64_t>(b->data()), b->capacity, b->lkey};
      wrs[i] = {};
      wrs[i].wr_id = reinterpret_cast<uint64_t>(b);
      wrs[i].sg_list = &sges[i];
      wrs[i].num_sge = 1;
      wrs[i].next = i + 1 < batch ? &wrs[i + 1] : nullptr;
    }
    ibv_recv_wr* bad = nullptr;
    if (ibv_post_srq_recv(srq_.get(), wrs, &bad) != 0) return false;
    posted_.fetch_add(batch, std::memory_order_relaxed);
    done += batch;
  }
  return true;
}

bool LcoreQueues::add_connection() {
  const unsigned need = wanted(connections_.load(std::memory_order_relaxed) + 1);
  const unsigned have = posted();
  if (need > depth_) return false;
  std::vector<Buffer*> fresh(need > have ? need - have : 0);  // set-up path: may allocate
  if (!fresh.empty() && !pool_.get_bulk(fresh.data(), static_cast<unsigned>(fresh.size())))
    return false;
  if (!post(fresh.data(), static_cast<unsigned>(fresh.size()))) {
    for (Buffer* b : fresh) b->release();
    return false;
  }
  connections_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void LcoreQueues::recycle(Buffer* b) {
  if (posted() + repost_count_ >= wanted(connections_.load(std::memory_order_relaxed))) {
    b->release();
    return;
  }
  reposts_[repost_count_++] = b;
  // A batch is posted when full, or at once when the queue runs low: a peer without credits
  // (Ceph's wire) may be waiting on RNR for a receive that no flush of ours would post soon.
  if (repost_count_ == kRepostBatch || posted() < repost_count_) post_reposts();
}

void LcoreQueues::flush_reposts() {
  post_reposts();
  if (!retired_.empty() && rte_rdtsc() > next_stale_check_) {  // a device that never flushes
    next_stale_check_ = rte_rdtsc() + rte_get_tsc_hz() / 1000;
    reap_retired(true);
  }
}

void LcoreQueues::post_reposts() {
  if (repost_count_ == 0) return;
  if (!post(reposts_, repost_count_))
    for (unsigned i = 0; i < repost_count_; ++i) reposts_[i]->release();
  repost_count_ = 0;
}

// --- completions ---

bool LcoreQueues::enroll(RdmaEndpoint& endpoint, uint32_t qp_num) {
  // Beyond its beacon, room for one largest burst stays free, so that the connections already
  // here can always send.
  if (send_room_ <= burst_.wrs.size()) return false;
  take_send_room(1);  // its beacon
  endpoints_[qp_num] = &endpoint;  // set-up, once per connection: may allocate
  woken_.reserve(endpoints_.size());
  claim_waiting(qp_num, [&](const ibv_wc& wc) { endpoint.on_completion(wc); });
  return true;
}

void LcoreQueues::withdraw(uint32_t qp_num) { endpoints_.erase(qp_num); }

unsigned LcoreQueues::poll() {
  if (has_incoming_.load(std::memory_order_acquire)) take_in_retired();
  ibv_wc wc[kPollBatch];
  int received = ibv_poll_cq(recv_cq_.get(), kPollBatch, wc);
  for (int i = 0; i < received; ++i) route(wc[i]);
  // Retired queue pairs whose beacon came in an earlier poll: the receive queue has been reaped
  // since, so nothing of theirs is left in either.
  reap_retired(false);
  int sent = ibv_poll_cq(send_cq_.get(), kPollBatch, wc);
  for (int i = 0; i < sent; ++i) route(wc[i]);
  return static_cast<unsigned>(std::max(received, 0) + std::max(sent, 0));
}

void LcoreQueues::route(const ibv_wc& wc) {
  if (auto e = endpoints_.find(wc.qp_num); e != endpoints_.end()) {
    e->second->on_completion(wc);
  } else if (auto r = retired_.find(wc.qp_num); r != retired_.end()) {
    to_retired(r->second, wc);
  } else {
    waiting_.push_back(wc);  // its endpoint has not run on this lcore yet, or just left it
  }
}

void LcoreQueues::to_retired(Retired& r, const ibv_wc& wc) {
  const WorkKind kind = work_kind(wc.wr_id);
  if (kind == WorkKind::kBeacon) r.beacon = true;
  if (kind != WorkKind::kReceive) return;  // SENDs' and READs' buffers are in in_flight
  on_received();
  recycle(reinterpret_cast<Buffer*>(wc.wr_id));
}

void LcoreQueues::retire(Retired r) {
  std::lock_guard lock(incoming_mutex_);
  incoming_.push_back(std::move(r));
  has_incoming_.store(true, std::memory_order_release);
}

void LcoreQueues::take_in_retired() {
  std::vector<Retired> arrived;
  {
    std::lock_guard lock(incoming_mutex_);
    arrived.swap(incoming_);
    has_incoming_.store(false, std::memory_order_relaxed);
  }
  for (Retired& r : arrived) {
    const uint32_t qp_num = r.qp_num;
    Retired& kept = retired_[qp_num] = std::move(r);
    claim_waiting(qp_num, [&](const ibv_wc& wc) { to_retired(kept, wc); });
  }
}

template <class Take>
void LcoreQueues::claim_waiting(uint32_t qp_num, Take take) {
  const auto theirs = std::stable_partition(waiting_.begin(), waiting_.end(),
                                            [&](const ibv_wc& wc) { return wc.qp_num != qp_num; });
  for (auto it = theirs; it != waiting_.end(); ++it) take(*it);  // in the order they came
  waiting_.erase(theirs, waiting_.end());
}

// Frees the retired queue pairs whose beacon has come (give_up_stale: and those past their
// second without it, after moving them to the error state and reaping once more).
void LcoreQueues::reap_retired(bool give_up_stale) {
  if (retired_.empty()) return;
  const uint64_t now = give_up_stale ? rte_rdtsc() : 0;
  for (auto it = retired_.begin(); it != retired_.end();) {
    Retired& r = it->second;
    if (!r.beacon && !(give_up_stale && now > r.give_up_tsc)) {
      ++it;
      continue;
    }
    if (!r.beacon) {  // a device that never flushes, or a Ceph peer that never took our fin
      set_qp_error(r.qp.get());
      ibv_wc wc[kPollBatch];
      int n;
      while ((n = ibv_poll_cq(recv_cq_.get(), kPollBatch, wc)) > 0)
        for (int i = 0; i < n; ++i)
          if (wc[i].qp_num == r.qp_num) to_retired(r, wc[i]); else route(wc[i]);
    } else if (r.qp && r.qp->state != IBV_QPS_ERR) {
      set_qp_error(r.qp.get());  // Ceph's wire: the fin went; nothing more may arrive
    }
    r.qp.reset();
    for (Buffer* b : r.in_flight) b->release();
    give_send_room(r.send_room);
    it = retired_.erase(it);
  }
}

// --- ReadySource ---

size_t LcoreQueues::take_ready(uint64_t* tags, size_t max) {
  poll();
  const size_t n = std::min(max, woken_.size());
  std::copy(woken_.end() - static_cast<ptrdiff_t>(n), woken_.end(), tags);
  woken_.resize(woken_.size() - n);
  return n;
}

// Armed first, then looked at once more: a completion that came before the arming is not slept
// through.
bool LcoreQueues::arm() {
  if (!channel_ || !woken_.empty()) return false;
  if (ibv_req_notify_cq(recv_cq_.get(), 0) != 0 || ibv_req_notify_cq(send_cq_.get(), 0) != 0)
    return false;
  return poll() == 0 && woken_.empty();
}

void LcoreQueues::acknowledge() {
  ibv_cq* cq = nullptr;
  void* context = nullptr;
  while (channel_ && ibv_get_cq_event(channel_.get(), &cq, &context) == 0) ibv_ack_cq_events(cq, 1);
}

}  // namespace pollmsgr::verbs
