#include "dataplane/messenger/messenger.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <fmt/format.h>
#include <random>

#include "dataplane/runtime/startup_error.h"

namespace pollmsgr {
namespace {
constexpr uint64_t kAcceptPollUs = 200;
}

TransportKind parse_transport(const std::string& name) {
  if (name == "shm") return TransportKind::kShm;
  if (name == "tcp") return TransportKind::kTcp;
  if (name == "rdma") return TransportKind::kRdma;
  throw StartupError(fmt::format("--transport '{}': expected shm, tcp or rdma", name));
}

const char* to_string(TransportKind kind) {
  switch (kind) {
    case TransportKind::kShm: return "shm";
    case TransportKind::kTcp: return "tcp";
    case TransportKind::kRdma: return "rdma";
  }
  return "?";
}

Messenger::Messenger(MessengerOptions options, std::vector<Reactor*> reactors)
    : options_(std::move(options)), reactors_(std::move(reactors)),
      nonce_(static_cast<uint32_t>(std::random_device{}())) {
  if (options_.transport == TransportKind::kRdma && !options_.rdma)
    throw StartupError("--transport rdma: no RDMA transport was set up", 1);
  for (Reactor* r : reactors_)
    r->enable_resume(sessions_, uint64_t{options_.reconnect_window_ms} * 1000);
}

Messenger::~Messenger() = default;

proto::SessionConfig Messenger::session_config(proto::Role role, const proto::EntityAddr& peer) {
  proto::SessionConfig c;
  c.role = role;
  c.my_type = options_.my_type;
  c.peer_addr = peer;
  c.lossy = options_.lossy;
  c.data_crc = options_.data_crc;
  c.limits = options_.limits;
  c.global_seq = next_id_;
  c.cookie = (uint64_t{nonce_} << 32) | next_id_;
  if (role == proto::Role::kServer) {
    c.my_addr = bound_.entity_addr(proto::EntityAddr::kMsgr2, nonce_);
    c.global_id = next_id_;
  } else {
    c.my_addr = proto::EntityAddr::ipv4(proto::EntityAddr::kAny, "127.0.0.1", 0, nonce_);
  }
  return c;
}

void Messenger::bind(const HostPort& address) {
  bound_ = address;
  int listen_fd;
  if (options_.transport == TransportKind::kShm) {
    shm_listener_ = std::make_unique<ShmListener>(address);
    listen_fd = shm_listener_->fd();
  } else if (options_.transport == TransportKind::kTcp) {
    tcp_listener_ = std::make_unique<TcpListener>(address);
    listen_fd = tcp_listener_->fd();
  } else {
    options_.rdma->listen(address);
    listen_fd = options_.rdma->listen_fd();
  }
  // Poll mode finds new clients on a timer; event mode wakes when the listener is readable (the
  // timer still finishes set-ups whose second half arrives after the connect).
  reactors_.at(0)->add_timer(kAcceptPollUs, [this](uint64_t) { accept_ready(); });
  reactors_.at(0)->watch_fd(listen_fd, [this] { accept_ready(); });
}

void Messenger::accept_ready() {
  // Runs on the first reactor's lcore only.
  for (;;) {
    std::unique_ptr<Endpoint> ep;
    size_t reactor_index = next_reactor_;
    proto::EntityAddr peer = proto::EntityAddr::ipv4(proto::EntityAddr::kAny, "127.0.0.1", 0);
    if (options_.transport == TransportKind::kRdma) {
      auto accepted = options_.rdma->accept();  // it chose the reactor when it built the QP
      ep = std::move(accepted.endpoint);
      reactor_index = accepted.reactor_index;
    } else if (shm_listener_) {
      ep = shm_listener_->accept();
    } else if (auto tcp = tcp_listener_->accept(options_.tcp)) {
      sockaddr_in sa = tcp->peer_address();
      char ip[INET_ADDRSTRLEN] = "";
      inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
      peer = proto::EntityAddr::ipv4(proto::EntityAddr::kAny, ip, ntohs(sa.sin_port));
      ep = std::move(tcp);
    }
    if (!ep) return;
    auto conn = std::make_unique<Connection>(next_id_, std::move(ep),
                                             session_config(proto::Role::kServer, peer), nullptr);
    ++next_id_;
    ++accepted_;
    conn->start();
    Reactor* target = reactors_[reactor_index % reactors_.size()];
    next_reactor_ = reactor_index + 1;
    if (target == reactors_[0]) {
      target->adopt(std::move(conn));
    } else if (!target->hand_off(conn.get())) {
      continue;  // that lcore's inbox is full: refuse the connection (it closes)
    } else {
      conn.release();  // the target reactor owns it now
    }
  }
}

Connection::Redial Messenger::dialer(const HostPort& server, Reactor& reactor) const {
  size_t index = 0;
  while (index < reactors_.size() && reactors_[index] != &reactor) ++index;
  // By value: a lossless connection dials again from its reactor, whatever outlives what.
  return [kind = options_.transport, shm = options_.shm, tcp = options_.tcp, rdma = options_.rdma,
          server, index]() -> std::unique_ptr<Endpoint> {
    if (kind == TransportKind::kShm) return ShmEndpoint::connect(server, shm);
    if (kind == TransportKind::kTcp) return TcpEndpoint::connect(server, tcp);
    return rdma->connect(server, index);
  };
}

Connection* Messenger::connect_to(const HostPort& server, Reactor& reactor) {
  Connection::Redial dial = dialer(server, reactor);
  auto conn = std::make_unique<Connection>(
      next_id_, dial(),
      session_config(proto::Role::kClient, server.entity_addr(proto::EntityAddr::kMsgr2)), nullptr);
  ++next_id_;
  if (!options_.lossy) conn->set_redial(std::move(dial));
  conn->start();
  Connection* raw = conn.get();
  reactor.adopt(std::move(conn));
  return raw;
}

}  // namespace pollmsgr
