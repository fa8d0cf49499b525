#pragma once
// A connection: an msgr2 session over a transport endpoint, owned by one lcore for life.
// Outgoing bytes keep their order: a message (or control frame) that does not fit the
// transport's window now waits in a small fixed queue and is pumped out as the window opens, so
// messages of any size (0 B to beyond 16 MiB) stream through bounded transport buffers.
//
// A lossless connection (both sides asked for it) keeps every message until the peer
// acknowledges it, and survives the failure of its transport: the client dials again and
// resumes the session, the server's session waits for it, and what the peer has not
// acknowledged goes again. The reactor does the parking, dialling and matching (reactor.h).
// (connection.cc: the data path; connection_lossless.cc: keeping, resending, resuming.)
//
// Threads and lifetime. A Connection belongs to the reactor that adopted it, and every call
// below is that lcore's (debug builds assert it), except where a group says otherwise. The
// application sees a Connection* in its Dispatcher's callbacks and from Messenger::connect_to;
// it stays valid until Dispatcher::on_fault for it returns (after which the reactor destroys
// it). A lossless connection keeps its Connection* across transport failures.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/messenger/dispatcher.h"
#include "dataplane/messenger/session_directory.h"
#include "dataplane/transport/endpoint.h"
#include "proto/session.h"

namespace pollmsgr {

struct OutMessage {
  uint16_t type = 0;
  uint64_t tid = 0;
  std::span<const uint8_t> front;
  // Copied into the transport once, when there is room for it. Until then it must stay valid
  // and unchanged: until the connection's tx queue has drained (tx_queued() == 0) or the
  // connection is gone; on a lossless connection, until the peer has acknowledged it
  // (unacked() == 0), since it may have to go again.
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
  static constexpr size_t kUnackedDepth = 256;  // lossless: messages kept until acknowledged
  static constexpr size_t kProgressBytes = 64u << 10;  // of one frame: the peer is alive
  // Lossless client: a new transport to the same server. Never waits (it finishes connecting
  // in the loop); throws StartupError when the attempt fails at once.
  using Redial = std::function<std::unique_ptr<Endpoint>()>;

  // --- set-up (the messenger, before the connection is adopted) ---
  Connection(uint64_t id, std::unique_ptr<Endpoint> endpoint, proto::SessionConfig config,
             Dispatcher* dispatcher);
  ~Connection() override;
  void start();  // sends the banner
  void set_redial(Redial redial) { redial_ = std::move(redial); }
  void set_peer_timeout(uint64_t tsc) { peer_timeout_ = tsc; }  // 0: none
  // The handshake must be done this long after start() (0: no limit).
  void set_handshake_timeout(uint64_t tsc) { handshake_timeout_ = tsc; }
  // Counted in `live` (the messenger's census of server connections) until destroyed.
  void count_in(std::shared_ptr<std::atomic<size_t>> live);
  // By the reactor that takes the connection; `sessions` (may be null) is told about lossless
  // server sessions, for reconnecting clients to find them.
  void attach(Dispatcher* d, Reactor* owner, std::shared_ptr<SessionDirectory> sessions);

  // --- the application, on the owning lcore ---
  SendStatus send(const OutMessage& message);
  // KEEPALIVE2: the peer answers inside its messenger (Dispatcher::on_keepalive_ack), with the
  // stamp echoed. False when not ready or the tx queue is full.
  bool send_keepalive(proto::Timestamp stamp);
  // Ends the session (SESSION_RESET): the peer drops its side now, where a lossless server
  // would otherwise keep it for the reconnect window.
  void close();
  void fault(std::string why);            // final: the connection goes
  void transport_fault(std::string why);  // the transport failed: a lossless session survives
  bool ready() const { return session_.ready() && endpoint_ && fault_.empty(); }
  bool faulted() const { return !fault_.empty(); }
  const std::string& fault_reason() const { return fault_; }
  size_t tx_queued() const { return queue_tail_ - queue_head_; }
  size_t unacked() const;  // lossless: messages kept that the peer has not acknowledged
  uint64_t id() const { return id_; }
  const proto::Session& session() const { return session_; }
  void* user = nullptr;  // the application's per-connection state

  // --- the reactor, on the owning lcore ---
  // Receives a burst, parses in place, dispatches inline; true if any bytes. `now`: the TSC.
  bool poll_rx(uint64_t now);
  void flush_tx();  // pump the queue into the window, then one doorbell
  // Its partial frames leave its reactor's reassembly budget (it is leaving the reactor).
  void uncharge_reassembly();
  // The peer closed or the transport failed: a transport fault, which names what a close
  // during the handshake most likely means.
  void peer_gone(const char* what);
  // Housekeeping: the transport's upkeep; lossless acks not yet sent; a KEEPALIVE2 when the
  // peer has been quiet for a quarter of the peer timeout, and a transport fault after all of it.
  void on_timer(uint64_t now);
  Endpoint& endpoint() { return *endpoint_; }
  bool has_endpoint() const { return endpoint_ != nullptr; }

  // Lossless sessions (connection_lossless.cc), for the reactor.
  struct Outage {          // from a transport's failure to the session's resumption
    uint64_t started_tsc = 0;
    std::string why;         // what failed first
    std::string last_error;  // why the last redial failed
    uint64_t backoff = 0;    // TSC cycles before the next redial
    uint32_t redials = 0;    // attempts so far
  };
  Outage& outage() { return outage_; }
  bool resumable() const;  // faulted by its transport only, and worth resuming
  void drop_transport();   // parked: messages sent meanwhile wait for the next one
  bool can_redial() const { return bool(redial_); }
  bool redial();           // client, parked: a new transport, the handshake restarts
  bool wants_resume() const { return session_.state() == proto::Session::State::kResumeWait; }
  // Server: is `fresh`'s SESSION_RECONNECT for this session, from the same client?
  bool resumes(const Connection& fresh) const;
  void resume_from(Connection& fresh);  // server: carry on over fresh's transport
  void refuse_resume();                 // server: no such session here

  // proto::SessionHandler
  void on_ready() override;
  void on_resumed() override;
  void on_message(const proto::MessageView& message) override;
  void on_keepalive_ack(proto::Timestamp stamp) override;
  // proto::FrameSink: the session's own frames, in order with the queued messages.
  std::span<uint8_t> reserve(size_t n) override;
  void commit(size_t n) override;

  // What a connection holds only while it needs it (an idle one holds neither): the queue of
  // bytes waiting for the transport's window, and a lossless session's unacknowledged messages.
  // Taken from its reactor's spares, and given back when empty.
  struct TxQueue;
  struct UnackedRing;

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
  // A lossless message, kept until the peer acknowledges its seq.
  struct Unacked {
    proto::MsgHeader2 header;  // seq set
    std::array<uint8_t, kInlineBytes> front;
    uint32_t front_len = 0;
    std::span<const uint8_t> data;
  };
  Pending* queue_slot();  // the queue's next free slot (the queue taken if need be)
  void release_queue();
  bool pump();  // true when the queue is empty afterwards
  // Into the transport now, or into the queue behind what waits. header.seq 0: the next.
  SendStatus transmit(const proto::MsgHeader2& h, std::span<const uint8_t> front,
                      std::span<const uint8_t> data);
  SendStatus send_lossless(const proto::MsgHeader2& h, const OutMessage& m);
  void transmit_unacked();  // the kept messages this transport has not carried yet
  void forget_acked();
  void new_transport(std::unique_ptr<Endpoint> endpoint);

  void note_tx();         // tells the owner there is something to flush
  void note_attention();  // ... that it faulted, or wants a session resumed

  friend class Reactor;  // the lists it is on, kept by its reactor
  size_t slot_ = SIZE_MAX;  // in the reactor's connections_
  uint32_t watch_slot_ = UINT32_MAX;  // in its watch_slots_ (UINT32_MAX: no wait fd)
  bool in_active_ = false, in_tx_ = false, in_attention_ = false;
  bool idle_ = false;         // not polled: the endpoint's wait fd will signal
  uint64_t last_rx_tsc_ = 0;  // when it last had something to read

  uint64_t id_;
  std::unique_ptr<Endpoint> endpoint_;
  proto::Session session_;
  Dispatcher* dispatcher_;
  std::string fault_;
  bool transport_failed_ = false;
  uint64_t heard_at_tsc_;       // when the peer last made progress (or the transport began)
  uint64_t unfinished_bytes_ = 0;  // received since then, of frames not yet whole
  size_t reassembly_charged_ = 0;  // of its owner's reassembly budget
  uint64_t keepalive_at_tsc_ = 0;
  uint64_t peer_timeout_ = 0;
  uint64_t handshake_timeout_ = 0, started_tsc_ = 0;
  std::shared_ptr<std::atomic<size_t>> live_;
  bool reserved_in_queue_ = false;
  std::unique_ptr<TxQueue> queue_;
  uint64_t queue_head_ = 0, queue_tail_ = 0;
  // Lossless only, while messages are kept: a ring of kUnackedDepth, and how far the current
  // transport has carried it.
  std::unique_ptr<UnackedRing> unacked_;
  uint64_t unacked_head_ = 0, unacked_sent_ = 0, unacked_tail_ = 0;
  Redial redial_;
  Outage outage_;
  Reactor* owner_ = nullptr;
  std::shared_ptr<SessionDirectory> sessions_;
  bool recorded_ = false;
};

struct Connection::TxQueue {
  std::array<Pending, kQueueDepth> slots;
};
struct Connection::UnackedRing {
  std::array<Unacked, kUnackedDepth> slots;
};

// Spare blocks of one kind for a reactor's connections: given back, kept for the next (up to a
// bound), so that the data path does not allocate once warm.
template <class T>
class SparePool {
 public:
  static constexpr size_t kKeep = 1024;
  SparePool() { spare_.reserve(kKeep); }
  std::unique_ptr<T> take() {
    if (spare_.empty()) return std::make_unique<T>();
    auto t = std::move(spare_.back());
    spare_.pop_back();
    return t;
  }
  void give(std::unique_ptr<T> t) {
    if (t && spare_.size() < kKeep) spare_.push_back(std::move(t));
  }

 private:
  std::vector<std::unique_ptr<T>> spare_;
};

}  // namespace pollmsgr
