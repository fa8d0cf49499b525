#include "dataplane/messenger/connection.h"

#include <cstring>

namespace pollmsgr {

Connection::Connection(uint64_t id, std::unique_ptr<Endpoint> endpoint,
                       proto::SessionConfig config, Dispatcher* dispatcher)
    : id_(id), endpoint_(std::move(endpoint)), session_(std::move(config)),
      dispatcher_(dispatcher) {}

Connection::~Connection() = default;

void Connection::start() {
  if (auto e = session_.start(*this); e != proto::ProtoError::kOk)
    fault(std::string("cannot send the banner: ") + std::string(to_string(e)));
}

void Connection::fault(std::string why) {
  if (fault_.empty()) fault_ = why.empty() ? "fault" : std::move(why);
}

bool Connection::poll_rx() {
  auto chunk = endpoint_->rx_burst();
  if (chunk.empty()) return false;
  // Whole frames are parsed in place, a split one goes into the session's reassembly; after a
  // burst of frames the rest waits, so replies go out (and the peer works) sooner.
  const size_t available = chunk.size();
  const proto::ProtoError e = session_.on_bytes(chunk, *this, *this, kRxBurstFrames);
  endpoint_->rx_release(available - chunk.size());
  if (e != proto::ProtoError::kOk) fault(std::string("msgr2: ") + std::string(to_string(e)));
  return true;
}

void Connection::flush_tx() {
  if (queue_head_ != queue_tail_) pump();
  if (endpoint_->tx_flush() != EndpointStatus::kOk) fault("peer closed the connection");
}

void Connection::on_ready() {
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
  if (!session_.ready()) return SendStatus::kNotReady;
  proto::MsgHeader2 h;
  h.type = m.type;
  h.tid = m.tid;
  h.priority = m.priority;
  h.version = m.version;
  h.compat_version = m.compat_version;
  const size_t head_len = proto::message_head_size(m.front.size(), 0);
  const size_t total = head_len + m.data.size() + proto::kEpilogueSize;
  if (queue_head_ == queue_tail_) {
    auto w = endpoint_->tx_window(total);
    if (w.size() >= total) {  // the common case: encode straight into the transport
      auto head = session_.encode_message(w, h, m.front, {}, m.data);
      if (!head) return SendStatus::kNotReady;
      uint8_t* pos = w.data() + head->head_size;
      if (!m.data.empty()) std::memcpy(pos, m.data.data(), m.data.size());
      std::memcpy(pos + m.data.size(), head->epilogue.data(), head->epilogue_size);
      endpoint_->tx_commit(head->frame_size(m.data.size()));
      return SendStatus::kSent;
    }
  }
  if (head_len > kInlineBytes) return SendStatus::kTooLarge;
  if (tx_queued() == kQueueDepth) return SendStatus::kBusy;
  Pending* p = queue_slot();
  auto head = session_.encode_message(p->head, h, m.front, {}, m.data);
  if (!head) return SendStatus::kNotReady;
  p->head_len = static_cast<uint32_t>(head->head_size);
  p->data = m.data;
  std::memcpy(p->epilogue.data(), head->epilogue.data(), head->epilogue_size);
  p->epilogue_len = static_cast<uint8_t>(head->epilogue_size);
  p->sent = 0;
  ++queue_tail_;
  pump();
  return SendStatus::kQueued;
}

bool Connection::pump() {
  while (queue_head_ != queue_tail_) {
    Pending& p = queue_[queue_head_ % kQueueDepth];
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
  return true;
}

}  // namespace pollmsgr
