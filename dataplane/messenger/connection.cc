// A connection's data path: receive and dispatch, send in order through a bounded queue,
// timers. Keeping and resending lossless messages is in connection_lossless.cc.
#include "dataplane/messenger/connection.h"

#include <rte_cycles.h>

#include <cstring>
#include <fmt/format.h>

#include "dataplane/reactor/owner_check.h"
#include "dataplane/reactor/reactor.h"
#include "dataplane/runtime/tsc.h"

namespace pollmsgr {

Connection::Connection(uint64_t id, std::unique_ptr<Endpoint> endpoint,
                       proto::SessionConfig config, Dispatcher* dispatcher)
    : id_(id), endpoint_(std::move(endpoint)), session_(std::move(config)),
      dispatcher_(dispatcher), heard_at_tsc_(rte_rdtsc()) {}

Connection::~Connection() {
  if (recorded_) sessions_->forget(session_.peer_cookie(), owner_);
  release_queue();
  if (live_) live_->fetch_sub(1, std::memory_order_relaxed);
}

void Connection::count_in(std::shared_ptr<std::atomic<size_t>> live) {
  live_ = std::move(live);
  live_->fetch_add(1, std::memory_order_relaxed);
}

Connection::Pending* Connection::queue_slot() {
  if (!queue_) queue_ = owner_ ? owner_->spare_queues().take() : std::make_unique<TxQueue>();
  return &queue_->slots[queue_tail_ % kQueueDepth];
}

void Connection::release_queue() {
  if (!queue_) return;
  if (owner_) owner_->spare_queues().give(std::move(queue_));
  queue_.reset();
}

void Connection::attach(Dispatcher* d, Reactor* owner, std::shared_ptr<SessionDirectory> sessions) {
  dispatcher_ = d;
  owner_ = owner;
  sessions_ = std::move(sessions);
}

void Connection::start() {
  started_tsc_ = rte_rdtsc();
  if (auto e = session_.start(*this); e != proto::ProtoError::kOk)
    fault(std::string("cannot send the banner: ") + std::string(to_string(e)));
}

void Connection::fault(std::string why) {
  POLLMSGR_ASSERT_OWNER(owner_);
  if (!fault_.empty()) return;
  fault_ = why.empty() ? "fault" : std::move(why);
  note_attention();
}

void Connection::note_tx() {
  if (owner_ && !in_tx_) owner_->note_tx(*this);
}

void Connection::note_attention() {
  if (owner_ && !in_attention_) owner_->note_attention(*this);
}

void Connection::transport_fault(std::string why) {
  if (fault_.empty()) {
    transport_failed_ = true;
    if (session_.ready()) {  // the outage starts (a redial that fails does not start another)
      outage_ = {rte_rdtsc(), why, {}, 0, 0};
    } else {
      outage_.last_error = why;
    }
  }
  fault(std::move(why));
}

namespace {
// What a close during the handshake most likely means, from where it stopped.
std::string handshake_hint(const proto::Session& s) {
  using State = proto::Session::State;
  const bool server = s.role() == proto::Role::kServer;
  if (server && s.state() == State::kAuth && s.frames_received() == 1)
    return "; it closed after our HELLO without asking to authenticate: a client that expected "
           "another kind of daemon? (this server is an OSD-shaped perf server; Ceph's `ceph` "
           "tool expects a monitor)";
  if (!server && s.state() == State::kIdent)
    return "; it closed after our CLIENT_IDENT: a Ceph daemon does that when the address we "
           "named is not its own: give its nonce, as `ceph osd dump` shows it (v2:IP:PORT/NONCE)";
  if (!server && s.state() == State::kAuth)
    return "; it closed after our AUTH_REQUEST: does it require an auth method other than none?";
  return fmt::format(" during the msgr2 handshake (state {})", to_string(s.state()));
}
}  // namespace

void Connection::peer_gone(const char* what) {
  // The transport's own words when it has them ("cannot connect to ...: Connection refused").
  std::string why = endpoint_ && *endpoint_->failure() ? endpoint_->failure() : what;
  if (!session_.was_ready() && session_.state() == proto::Session::State::kBanner &&
      session_.role() == proto::Role::kClient && !why.starts_with("cannot connect"))
    why += ", before its msgr2 banner: a server refusing connections (at its --max-connections?), "
           "or not an msgr2 server";
  else if (!session_.was_ready() && session_.state() != proto::Session::State::kFault &&
           session_.state() != proto::Session::State::kBanner)
    why += handshake_hint(session_);
  transport_fault(std::move(why));
}

bool Connection::poll_rx(uint64_t now) {
  POLLMSGR_ASSERT_OWNER(owner_);
  auto chunk = endpoint_->rx_window();
  if (chunk.empty()) {
    if (endpoint_->status() != EndpointStatus::kOk && !faulted())
      peer_gone(endpoint_->status() == EndpointStatus::kError ? "transport error"
                                                              : "peer closed the connection");
    return false;
  }
  // Whole frames are parsed in place, a split one goes into the session's reassembly; after a
  // burst of frames the rest waits, so replies go out (and the peer works) sooner.
  const size_t available = chunk.size();
  const uint64_t frames_before = session_.frames_received();
  const proto::ProtoError e = session_.on_bytes(chunk, *this, *this, kRxBurstFrames);
  const size_t consumed = available - chunk.size();
  endpoint_->rx_release(consumed);
  // The peer is alive when it makes progress: a whole frame, or kProgressBytes of a large one.
  // A byte now and then (a slow loris) is not.
  unfinished_bytes_ += consumed;
  if (session_.frames_received() != frames_before || unfinished_bytes_ >= kProgressBytes) {
    heard_at_tsc_ = now;
    unfinished_bytes_ = 0;
  }
  if (e != proto::ProtoError::kOk) fault(std::string("msgr2: ") + std::string(to_string(e)));
  // Partial frames count against the lcore's budget. Past it, the holders that have stalled
  // go first (Reactor::evict_stalled_holders); the connection that grows goes only when no
  // stalled one is left to make room.
  if (const size_t held = session_.reassembly_capacity(); owner_ && held != reassembly_charged_) {
    const size_t was = std::exchange(reassembly_charged_, held);
    if (!owner_->charge_reassembly(was, held) && !owner_->evict_stalled_holders(*this, now) &&
        !faulted())
      fault(fmt::format("its partial frame ({:.1f} MiB) took the lcore's partial frames to "
                        "{:.1f} MiB, past their budget ({} MiB, --rx-budget-mb)",
                        double(held) / (1 << 20), double(owner_->reassembly_bytes()) / (1 << 20),
                        owner_->reassembly_budget() >> 20));
  }
  if (wants_resume()) note_attention();
  return true;
}

void Connection::uncharge_reassembly() {
  if (owner_ && reassembly_charged_ > 0) owner_->charge_reassembly(reassembly_charged_, 0);
  reassembly_charged_ = 0;
}

void Connection::flush_tx() {
  POLLMSGR_ASSERT_OWNER(owner_);
  if (queue_head_ != queue_tail_) pump();
  if (unacked_sent_ != unacked_tail_) transmit_unacked();
  if (endpoint_->tx_flush() != EndpointStatus::kOk) peer_gone("peer closed the connection");
}

bool Connection::send_keepalive(proto::Timestamp stamp) {
  POLLMSGR_ASSERT_OWNER(owner_);
  if (!ready() || tx_queued() == kQueueDepth) return false;
  return session_.send_keepalive(*this, stamp) == proto::ProtoError::kOk;
}

void Connection::on_keepalive_ack(proto::Timestamp stamp) {
  if (dispatcher_) dispatcher_->on_keepalive_ack(*this, stamp);
}

void Connection::on_ready() {
  if (sessions_ && session_.role() == proto::Role::kServer && session_.lossless()) {
    sessions_->record(session_.peer_cookie(), owner_);
    recorded_ = true;
  }
  if (dispatcher_) dispatcher_->on_ready(*this);
}

void Connection::on_message(const proto::MessageView& message) {
  if (dispatcher_) dispatcher_->on_message(*this, message);
}

std::span<uint8_t> Connection::reserve(size_t n) {
  // Straight into the transport when nothing waits ahead; else behind what waits.
  reserved_in_queue_ = queue_head_ != queue_tail_;
  if (!reserved_in_queue_) {
    auto w = endpoint_->tx_window(n);
    if (w.size() >= n) return w.first(n);
    reserved_in_queue_ = true;
  }
  if (tx_queued() == kQueueDepth || n > kInlineBytes) return {};
  return {queue_slot()->head.data(), n};
}

void Connection::commit(size_t n) {
  note_tx();
  if (!reserved_in_queue_) {
    endpoint_->tx_commit(n);
    return;
  }
  if (n == 0) return;
  Pending* p = queue_slot();
  p->head_len = static_cast<uint32_t>(n);
  p->data = {};
  p->epilogue_len = 0;
  p->sent = 0;
  ++queue_tail_;
}

SendStatus Connection::send(const OutMessage& m) {
  POLLMSGR_ASSERT_OWNER(owner_);
  proto::MsgHeader2 h;
  h.type = m.type;
  h.tid = m.tid;
  h.priority = m.priority;
  h.version = m.version;
  h.compat_version = m.compat_version;
  if (session_.lossless()) return send_lossless(h, m);
  if (!session_.ready()) return SendStatus::kNotReady;
  return transmit(h, m.front, m.data);
}

SendStatus Connection::transmit(const proto::MsgHeader2& h, std::span<const uint8_t> front,
                                std::span<const uint8_t> data) {
  note_tx();
  const size_t head_len = proto::message_head_size(front.size(), 0);
  const size_t total = head_len + data.size() + proto::kEpilogueSize;
  if (queue_head_ == queue_tail_) {
    auto w = endpoint_->tx_window(total);
    if (w.size() >= total) {  // the common case: encode straight into the transport
      auto head = session_.encode_message(w, h, front, {}, data);
      if (!head) return SendStatus::kNotReady;
      uint8_t* pos = w.data() + head->head_size;
      if (!data.empty()) std::memcpy(pos, data.data(), data.size());
      std::memcpy(pos + data.size(), head->epilogue.data(), head->epilogue_size);
      endpoint_->tx_commit(head->frame_size(data.size()));
      return SendStatus::kSent;
    }
  }
  if (head_len > kInlineBytes) return SendStatus::kTooLarge;
  if (tx_queued() == kQueueDepth) return SendStatus::kBusy;
  Pending* p = queue_slot();
  auto head = session_.encode_message(p->head, h, front, {}, data);
  if (!head) return SendStatus::kNotReady;
  p->head_len = static_cast<uint32_t>(head->head_size);
  p->data = data;
  std::memcpy(p->epilogue.data(), head->epilogue.data(), head->epilogue_size);
  p->epilogue_len = static_cast<uint8_t>(head->epilogue_size);
  p->sent = 0;
  ++queue_tail_;
  pump();
  return SendStatus::kQueued;
}

bool Connection::pump() {
  while (queue_head_ != queue_tail_) {
    Pending& p = queue_->slots[queue_head_ % kQueueDepth];
    const size_t size = p.size();
    while (p.sent < size) {
      auto w = endpoint_->tx_window(size - p.sent);
      if (w.empty()) return false;
      // Copy from whichever piece (head, data, epilogue) the entry has reached.
      size_t off = p.sent;
      std::span<const uint8_t> piece;
      if (off < p.head_len) {
        piece = {p.head.data() + off, p.head_len - off};
      } else if (off < p.head_len + p.data.size()) {
        piece = p.data.subspan(off - p.head_len);
      } else {
        off -= p.head_len + p.data.size();
        piece = {p.epilogue.data() + off, p.epilogue_len - off};
      }
      const size_t n = std::min(piece.size(), w.size());
      std::memcpy(w.data(), piece.data(), n);
      endpoint_->tx_commit(n);
      p.sent += n;
    }
    ++queue_head_;
  }
  release_queue();
  return true;
}

void Connection::on_timer(uint64_t now) {
  endpoint_->on_timer();
  if (faulted()) return;
  if (handshake_timeout_ && !session_.was_ready() && now > started_tsc_ + handshake_timeout_) {
    fault(fmt::format("no msgr2 handshake within {:.1f} s of connecting (--handshake-timeout)",
                      tsc_to_seconds(handshake_timeout_)));
    return;
  }
  const uint64_t quiet = now > heard_at_tsc_ ? now - heard_at_tsc_ : 0;
  if (peer_timeout_ && quiet > peer_timeout_) {
    // A live peer answers KEEPALIVE2 even with nothing else to say; a silent one (a stopped
    // process, a network cut without a reset) is a failed transport.
    transport_fault(fmt::format("no progress from the peer for {:.1f} s (no whole frame, nor {} "
                                "KiB of one)", tsc_to_seconds(quiet), kProgressBytes >> 10));
    return;
  }
  // Control frames only when the queue has room: a session faults on a frame it cannot send.
  if (!session_.ready() || tx_queued() == kQueueDepth) return;
  if (peer_timeout_ && quiet > peer_timeout_ / 4 && now - keepalive_at_tsc_ > peer_timeout_ / 4) {
    session_.send_keepalive(*this, {});
    keepalive_at_tsc_ = now;
  } else if (session_.lossless() && session_.ack_pending()) {
    session_.send_ack(*this);
  }
}

}  // namespace pollmsgr
