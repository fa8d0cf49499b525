#pragma once
// Connections for a set of reactors: connect_to() for clients, bind() for servers, over any
// Transport. The server's listener is polled by the first reactor (on a timer, and in event
// mode when it is readable), never blocking; each accepted connection goes to the reactor the
// placement picks (in turn, or the one that owns the session a reconnecting client resumes) and
// stays on that lcore for life.
//
// Threads: construct, bind() and connect_to() before the reactors run (the start-up path: they
// may block briefly and throw StartupError with the reason); connect_from_lcore() on a running
// reactor's own lcore (it never waits). accept runs on the first reactor's lcore. The Messenger
// outlives its reactors' loops.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/messenger/connection.h"
#include "dataplane/reactor/reactor.h"
#include "dataplane/transport/address.h"
#include "dataplane/transport/transport.h"
#include "proto/session.h"

namespace pollmsgr {

struct MessengerOptions {
  // The backend (ShmTransport, TcpTransport, verbs::RdmaTransport, ...): made by the
  // application, outliving the Messenger and its connections.
  Transport* transport = nullptr;
  proto::EntityType my_type = proto::EntityType::kClient;
  // Lossy: a fault drops the connection. Lossless (when both sides ask): the session survives a
  // failed transport; the client reconnects and nothing sent is lost or delivered twice.
  bool lossy = true;
  uint32_t reconnect_window_ms = 10000;  // lossless: how long a client redials / a server waits
  // A peer silent this long (KEEPALIVE2 is sent after a quarter of it) has failed; 0: never.
  uint32_t peer_timeout_ms = 30000;
  // A connection whose msgr2 handshake has not completed this long after it began is dropped
  // (a peer that connects and says nothing holds no slot for long); 0: never.
  uint32_t handshake_timeout_ms = 10000;
  // Server: connections held at once (accepted and not yet gone, lossless sessions waiting for
  // their client included); one more is refused (closed at once, Dispatcher::on_refused). 0: no
  // limit.
  size_t max_connections = 0;
  bool data_crc = true;  // Ceph's ms_crc_data
  // Who a client says it is (auth none): client.<auth_name>, with the global_id a monitor gave
  // it (0: none; a server then assigns one). A Ceph OSD needs the mon's.
  std::string auth_name = "admin";
  uint64_t global_id = 0;
  proto::FrameLimits limits;
  // Bytes of partial frames (split across reads) one lcore's connections may hold together; the
  // connection whose frame would take them past it is closed. 0: no limit.
  size_t lcore_reassembly_budget = size_t{1} << 30;
};

class Messenger {
 public:
  Messenger(MessengerOptions options, std::vector<Reactor*> reactors);
  ~Messenger();
  Messenger(const Messenger&) = delete;
  Messenger& operator=(const Messenger&) = delete;

  void bind(const HostPort& address);  // throws StartupError
  // Connects the transport now (blocking briefly; throws StartupError with the reason); the
  // msgr2 handshake then runs in `reactor`'s loop. The Connection belongs to that reactor: the
  // pointer is valid until its Dispatcher::on_fault returns.
  Connection* connect_to(const HostPort& server, Reactor& reactor);
  // The same from `reactor`'s own lcore while it runs (e.g. a client that learns of a new OSD
  // from a map): never waits for the peer. The connection is the app's from here; on_ready
  // says when it may send (sends before that are queued), on_fault if the server cannot be
  // reached. nullptr, with the reason in `error`, when the attempt fails at once.
  Connection* connect_from_lcore(const HostPort& server, Reactor& reactor,
                                 std::string* error = nullptr);

  const MessengerOptions& options() const { return options_; }
  Transport& transport() const { return *options_.transport; }
  uint64_t accepted() const { return accepted_; }
  uint64_t refused() const { return refused_; }
  // Server connections held now (any thread; it changes as they come and go).
  size_t connections() const { return live_->load(std::memory_order_relaxed); }

 private:
  void accept_ready();
  void refuse(const std::string& why);
  Connection* connect(const HostPort& server, Reactor& reactor, bool wait);
  proto::SessionConfig session_config(proto::Role role, const proto::EntityAddr& peer, uint64_t id);
  size_t index_of(const Reactor& reactor) const;
  size_t place(uint64_t resume_cookie);  // the reactor for a new connection

  MessengerOptions options_;
  std::vector<Reactor*> reactors_;
  HostPort bound_;
  std::atomic<uint64_t> next_id_{1};  // connections made on any lcore take theirs from here
  uint64_t accepted_ = 0, refused_ = 0;
  // Server connections held: each holds a reference and counts itself out when destroyed.
  std::shared_ptr<std::atomic<size_t>> live_ = std::make_shared<std::atomic<size_t>>(0);
  size_t next_reactor_ = 0;
  uint32_t nonce_;
  std::shared_ptr<SessionDirectory> sessions_ = std::make_shared<SessionDirectory>();
};

}  // namespace pollmsgr
