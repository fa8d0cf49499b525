#include "dataplane/messenger/messenger.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <fmt/format.h>
#include <rte_cycles.h>
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
  c.auth_name = options_.auth_name;
  c.limits = options_.limits;
  c.global_seq = next_id_;
  c.cookie = (uint64_t{nonce_} << 32) | next_id_;
  if (role == proto::Role::kServer) {
    c.my_addr = bound_.entity_addr(proto::EntityAddr::kMsgr2);
    c.global_id = next_id_;
  } else {
    // One nonce per connection: a Ceph daemon takes a second connection from the same address
    // for a replacement of the first, and closes that one.
    c.my_addr = proto::EntityAddr::ipv4(proto::EntityAddr::kAny, "127.0.0.1", 0,
                                        nonce_ + static_cast<uint32_t>(next_id_));
    c.global_id = options_.global_id;
  }
  return c;
}

void Messenger::bind(const HostPort& address) {
  bound_ = address;
  bound_.nonce = nonce_;
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

uint64_t Messenger::peer_timeout_tsc() const {
  return rte_get_tsc_hz() / 1000 * options_.peer_timeout_ms;
}

size_t Messenger::index_of(const Reactor& reactor) const {
  size_t index = 0;
  while (index < reactors_.size() && reactors_[index] != &reactor) ++index;
  return index;
}

size_t Messenger::place(uint64_t resume_cookie) {
  if (resume_cookie)  // straight to the lcore that owns the session, if there is one
    if (Reactor* owner = sessions_->owner(resume_cookie)) return index_of(*owner);
  return next_reactor_++ % reactors_.size();
}

void Messenger::accept_ready() {
  // Runs on the first reactor's lcore only.
  for (;;) {
    std::unique_ptr<Endpoint> ep;
    size_t reactor_index = 0;
    proto::EntityAddr peer = proto::EntityAddr::ipv4(proto::EntityAddr::kAny, "127.0.0.1", 0);
    if (options_.transport == TransportKind::kRdma) {
      // The queue pair is built on its reactor's resources: the transport asks where it goes.
      auto accepted = options_.rdma->accept([this](uint64_t cookie) { return place(cookie); });
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
    if (options_.transport != TransportKind::kRdma) reactor_index = place(0);
    auto conn = std::make_unique<Connection>(next_id_, std::move(ep),
                                             session_config(proto::Role::kServer, peer), nullptr);
    ++next_id_;
    ++accepted_;
    conn->set_peer_timeout(peer_timeout_tsc());
    conn->start();
    Reactor* target = reactors_[reactor_index % reactors_.size()];
    if (target == reactors_[0]) {
      target->adopt(std::move(conn));
    } else if (!target->hand_off(conn.get())) {
      continue;  // that lcore's inbox is full: refuse the connection (it closes)
    } else {
      conn.release();  // the target reactor owns it now
    }
  }
}

Connection::Redial Messenger::dialer(const HostPort& server, Reactor& reactor,
                                     uint64_t resume_cookie) const {
  // By value: a lossless connection dials again from its reactor, whatever outlives what.
  return [kind = options_.transport, shm = options_.shm, tcp = options_.tcp, rdma = options_.rdma,
          server, index = index_of(reactor), resume_cookie]() -> std::unique_ptr<Endpoint> {
    if (kind == TransportKind::kShm) return ShmEndpoint::connect(server, shm);
    if (kind == TransportKind::kTcp) return TcpEndpoint::connect(server, tcp);
    return rdma->connect(server, index, resume_cookie);
  };
}

Connection* Messenger::connect_to(const HostPort& server, Reactor& reactor) {
  proto::SessionConfig config =
      session_config(proto::Role::kClient, server.entity_addr(proto::EntityAddr::kMsgr2));
  const uint64_t cookie = config.cookie;
  auto conn = std::make_unique<Connection>(next_id_, dialer(server, reactor, 0)(),
                                           std::move(config), nullptr);
  ++next_id_;
  if (!options_.lossy) conn->set_redial(dialer(server, reactor, cookie));
  conn->set_peer_timeout(peer_timeout_tsc());
  conn->start();
  Connection* raw = conn.get();
  reactor.adopt(std::move(conn));
  return raw;
}

}  // namespace pollmsgr
