#pragma once
// A connection: an msgr2 session over a transport endpoint, owned by one lcore for life.
// Outgoing bytes keep their order: a message (or control frame) that does not fit the
// transport's window now waits in a small fixed queue and is pumped out as credits return, so
// messages of any size (0 B to beyond 16 MiB) stream through bounded transport buffers.
#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/messenger/dispatcher.h"
#include "dataplane/transport/endpoint.h"
#include "proto/session.h"

namespace pollmsgr {

struct OutMessage {
  uint16_t type = 0;
  uint64_t tid = 0;
  std::span<const uint8_t> front;
  // Not copied when the message has to wait: it must stay valid and unchanged until the
  // connection's tx queue has drained (tx_queued() == 0) or the connection is gone.
  std::span<const uint8_t> data;
  uint16_t priority = 127;
  uint16_t version = 1;
  uint16_t compat_version = 1;
};

enum class SendStatus : uint8_t { kSent, kQueued, kBusy, kNotReady, kTooLarge };

class Connection final : public proto::SessionHandler, public proto::FrameSink {
 public:
  static constexpr size_t kQueueDepth = 32;
  static constexpr size_t kInlineBytes = 1024;  // head + front of a queued message
  static constexpr size_t kRxBurstFrames = 8;   // frames taken per poll before tx is flushed

  Connection(uint64_t id, std::unique_ptr<Endpoint> endpoint, proto::SessionConfig config,
             Dispatcher* dispatcher);
  ~Connection() override;

  void start();          // sends the banner
  bool poll_rx();        // receive a burst, parse in place, dispatch inline; true if any bytes
  void flush_tx();       // pump the queue into the window, then one doorbell
  SendStatus send(const OutMessage& message);
  bool ready() const { return session_.ready(); }
  bool faulted() const { return !fault_.empty(); }
  const std::string& fault_reason() const { return fault_; }
  void fault(std::string why);
  size_t tx_queued() const { return queue_tail_ - queue_head_; }

  uint64_t id() const { return id_; }
  Endpoint& endpoint() { return *endpoint_; }
  proto::Session& session() { return session_; }
  void set_dispatcher(Dispatcher* d) { dispatcher_ = d; }
  void* user = nullptr;  // the application's per-connection state

  // proto::SessionHandler
  void on_ready() override;
  void on_message(const proto::MessageView& message) override;
  // proto::FrameSink: the session's own frames, in order with the queued messages.
  std::span<uint8_t> reserve(size_t n) override;
  void commit(size_t n) override;

 private:
  struct Pending {
    std::array<uint8_t, kInlineBytes> head;
    uint32_t head_len = 0;
    std::span<const uint8_t> data;
    std::array<uint8_t, proto::kEpilogueSize> epilogue;
    uint8_t epilogue_len = 0;
    size_t sent = 0;  // bytes of this entry already in the transport
    size_t size() const { return head_len + data.size() + epilogue_len; }
  };
  Pending* queue_slot() { return &queue_[queue_tail_ % kQueueDepth]; }
  bool pump();  // true when the queue is empty afterwards

  uint64_t id_;
  std::unique_ptr<Endpoint> endpoint_;
  proto::Session session_;
  Dispatcher* dispatcher_;
  std::string fault_;
  bool reserved_in_queue_ = false;
  std::array<Pending, kQueueDepth> queue_;
  uint64_t queue_head_ = 0, queue_tail_ = 0;
};

}  // namespace pollmsgr
