// Lossless sessions: every message kept until the peer acknowledges it, sent again in order on
// a new transport, and the server's side of a resume (whose session is it, and from whom).
#include <rte_cycles.h>

#include <cstring>

#include "dataplane/messenger/connection.h"
#include "dataplane/reactor/owner_check.h"
#include "dataplane/reactor/reactor.h"
#include "dataplane/runtime/startup_error.h"

namespace pollmsgr {

SendStatus Connection::send_lossless(const proto::MsgHeader2& h, const OutMessage& m) {
  // Accepted while the transport is down too (it goes after the reconnect); not before the
  // session first came up, nor after a final fault or a close.
  if (!session_.was_ready() || session_.state() == proto::Session::State::kClosed ||
      (faulted() && !transport_failed_))
    return SendStatus::kNotReady;
  if (proto::message_head_size(m.front.size(), 0) > kInlineBytes) return SendStatus::kTooLarge;
  forget_acked();
  if (unacked_tail_ - unacked_head_ == kUnackedDepth) return SendStatus::kBusy;
  if (!unacked_) unacked_ = owner_ ? owner_->spare_rings().take() : std::make_unique<UnackedRing>();
  Unacked& u = unacked_->slots[unacked_tail_ % kUnackedDepth];
  u.header = h;
  u.header.seq = session_.take_seq();
  std::memcpy(u.front.data(), m.front.data(), m.front.size());
  u.front_len = static_cast<uint32_t>(m.front.size());
  u.data = m.data;
  ++unacked_tail_;
  if (ready()) transmit_unacked();
  return unacked_sent_ == unacked_tail_ ? SendStatus::kSent : SendStatus::kQueued;
}

size_t Connection::unacked() const {
  if (!unacked_ || unacked_head_ == unacked_tail_) return 0;
  // Kept messages have consecutive seqs: those past the peer's ack are the unacknowledged.
  const uint64_t last = unacked_->slots[(unacked_tail_ - 1) % kUnackedDepth].header.seq;
  const uint64_t acked = session_.peer_acked_seq();
  return last > acked ? std::min<uint64_t>(last - acked, unacked_tail_ - unacked_head_) : 0;
}

void Connection::transmit_unacked() {
  if (!ready() || !unacked_) return;
  for (; unacked_sent_ != unacked_tail_; ++unacked_sent_) {
    const Unacked& u = unacked_->slots[unacked_sent_ % kUnackedDepth];
    const SendStatus s = transmit(u.header, {u.front.data(), u.front_len}, u.data);
    if (s != SendStatus::kSent && s != SendStatus::kQueued) return;  // no room: next flush
  }
}

void Connection::forget_acked() {
  if (!unacked_) return;
  const uint64_t acked = session_.peer_acked_seq();
  while (unacked_head_ != unacked_tail_ &&
         unacked_->slots[unacked_head_ % kUnackedDepth].header.seq <= acked)
    ++unacked_head_;
  unacked_sent_ = std::max(unacked_sent_, unacked_head_);
  if (unacked_head_ == unacked_tail_) {  // nothing kept: the ring goes back
    if (owner_) owner_->spare_rings().give(std::move(unacked_));
    unacked_.reset();
  }
}

bool Connection::resumable() const {
  return transport_failed_ && session_.lossless() && session_.was_ready() &&
         session_.state() != proto::Session::State::kClosed;
}

void Connection::new_transport(std::unique_ptr<Endpoint> endpoint) {
  endpoint_ = std::move(endpoint);
  queue_head_ = queue_tail_ = 0;  // whatever waited was for the old transport
  release_queue();
  heard_at_tsc_ = rte_rdtsc();
  unfinished_bytes_ = 0;
  fault_.clear();
  transport_failed_ = false;
}

void Connection::drop_transport() {
  endpoint_.reset();
  session_.drop_reassembly();  // a parked session holds no partial frame
}

bool Connection::redial() {
  POLLMSGR_ASSERT_OWNER(owner_);
  try {
    new_transport(redial_());
  } catch (const StartupError& e) {
    outage_.last_error = e.what();
    return false;
  }
  if (auto e = session_.restart(*this); e != proto::ProtoError::kOk)
    fault(std::string("msgr2: ") + std::string(to_string(e)));
  return true;
}

bool Connection::resumes(const Connection& fresh) const {
  const proto::ReconnectFrame& r = fresh.session_.resume_request();
  // Both cookies (random, and the server's only ever sent to this client), and the same client
  // as its handshake said. A connect_seq not above the last one taken is an older attempt of
  // the same client, arriving late: it must not replace the transport of a newer one.
  return session_.role() == proto::Role::kServer && session_.lossless() &&
         session_.was_ready() && session_.peer_cookie() == r.client_cookie &&
         r.server_cookie == session_.cookie() && r.connect_seq > session_.connect_seq() &&
         fresh.session_.peer_auth_type() == session_.peer_auth_type() &&
         fresh.session_.peer_auth_name() == session_.peer_auth_name() &&
         fresh.session_.peer_global_id() == session_.peer_global_id() &&
         session_.state() != proto::Session::State::kClosed;
}

void Connection::resume_from(Connection& fresh) {
  const proto::ReconnectFrame request = fresh.session_.resume_request();
  new_transport(std::move(fresh.endpoint_));
  fresh.fault("resumed an earlier session");
  if (auto e = session_.resume(*this, request, *this); e != proto::ProtoError::kOk)
    fault(std::string("msgr2: ") + std::string(to_string(e)));
}

void Connection::close() {
  POLLMSGR_ASSERT_OWNER(owner_);
  if (ready()) session_.send_reset(*this, true);
}

void Connection::refuse_resume() { session_.refuse_resume(*this); }

void Connection::on_resumed() {
  forget_acked();
  unacked_sent_ = unacked_head_;  // everything not acknowledged goes again, in order
  transmit_unacked();
  outage_.backoff = 0;
  if (dispatcher_) dispatcher_->on_resumed(*this, rte_rdtsc() - outage_.started_tsc);
}

}  // namespace pollmsgr
