#pragma once
// Connections for a set of reactors: connect_to() for clients, bind() for servers. The server's
// listener is polled on a timer by the first reactor, never blocking; each accepted connection
// goes to the next reactor in turn and stays on that lcore for life.
#include <memory>
#include <string>
#include <vector>

#include "dataplane/messenger/connection.h"
#include "dataplane/reactor/reactor.h"
#include "dataplane/transport/address.h"
#include "dataplane/transport/shm_transport.h"
#include "dataplane/transport/tcp_transport.h"
#include "dataplane/transport/transport_factory.h"
#include "proto/session.h"

namespace pollmsgr {

enum class TransportKind : uint8_t { kShm, kTcp, kRdma };
// "shm" | "tcp" | "rdma"; throws StartupError for anything else.
TransportKind parse_transport(const std::string& name);
const char* to_string(TransportKind kind);

struct MessengerOptions {
  TransportKind transport = TransportKind::kShm;
  proto::EntityType my_type = proto::EntityType::kClient;
  // Lossy: a fault drops the connection. Lossless (when both sides ask): the session survives a
  // failed transport; the client reconnects and nothing sent is lost or delivered twice.
  bool lossy = true;
  uint32_t reconnect_window_ms = 10000;  // lossless: how long a client redials / a server waits
  // A peer silent this long (KEEPALIVE2 is sent after a quarter of it) has failed; 0: never.
  uint32_t peer_timeout_ms = 30000;
  bool data_crc = true;  // Ceph's ms_crc_data
  // Who a client says it is (auth none): client.<auth_name>, with the global_id a monitor gave
  // it (0: none; a server then assigns one). A Ceph OSD needs the mon's.
  std::string auth_name = "admin";
  uint64_t global_id = 0;
  ShmOptions shm;
  TcpOptions tcp;
  proto::FrameLimits limits;
  // kRdma: the verbs transport (verbs/RdmaTransport), made by the application, outliving the
  // Messenger and its connections.
  TransportFactory* rdma = nullptr;
};

class Messenger {
 public:
  Messenger(MessengerOptions options, std::vector<Reactor*> reactors);
  ~Messenger();
  Messenger(const Messenger&) = delete;
  Messenger& operator=(const Messenger&) = delete;

  void bind(const HostPort& address);  // throws StartupError
  // Connects the transport now (start-up path, may block briefly; throws StartupError with the
  // reason); the msgr2 handshake then runs in `reactor`'s loop.
  Connection* connect_to(const HostPort& server, Reactor& reactor);

  const MessengerOptions& options() const { return options_; }
  uint64_t accepted() const { return accepted_; }

 private:
  void accept_ready();
  proto::SessionConfig session_config(proto::Role role, const proto::EntityAddr& peer);
  // A new transport to `server` for `reactor`; a redial names the session it resumes.
  Connection::Redial dialer(const HostPort& server, Reactor& reactor, uint64_t resume_cookie) const;
  size_t index_of(const Reactor& reactor) const;
  uint64_t peer_timeout_tsc() const;
  size_t place(uint64_t resume_cookie);  // the reactor for a new connection

  MessengerOptions options_;
  std::vector<Reactor*> reactors_;
  HostPort bound_;
  std::unique_ptr<ShmListener> shm_listener_;
  std::unique_ptr<TcpListener> tcp_listener_;
  uint64_t next_id_ = 1;
  uint64_t accepted_ = 0;
  size_t next_reactor_ = 0;
  uint32_t nonce_;
  std::shared_ptr<SessionDirectory> sessions_ = std::make_shared<SessionDirectory>();
};

}  // namespace pollmsgr
