#pragma once
// tcp: non-blocking sockets, TCP_NODELAY; recv only on sockets the reactor's epoll set said were
// readable, send only what was committed. Plain msgr2 on the wire, so it reaches real Ceph
// daemons. An idle connection holds no buffer: an endpoint takes one from the transport's pool
// (hugepage memory) to receive or send into, and gives it back as soon as it is empty.
// Threads: as every Transport (transport.h); an endpoint is its connection's lcore's.
#include <memory>
#include <string>
#include <vector>

#include "dataplane/mem/buffer_pool.h"
#include "dataplane/transport/address.h"
#include "dataplane/transport/transport.h"
#include "dataplane/transport/unique_fd.h"

namespace pollmsgr {

struct TcpOptions {
  uint32_t buffer_bytes = 64u << 10;  // the most one recv takes, or one send window holds
  uint32_t buffers = 512;             // in the pool, for every endpoint of the transport
};

class TcpEndpoint final : public Endpoint {
 public:
  // `peer_name` ("IP:PORT") is for messages. Until a byte has gone either way (or
  // set_established()), a failure reads as a failed connect.
  TcpEndpoint(UniqueFd fd, BufferPool& buffers, std::string peer_name = {});
  ~TcpEndpoint() override;
  std::span<const uint8_t> rx_window() override;
  void rx_release(size_t n) override;
  std::span<uint8_t> tx_window(size_t want) override;
  void tx_commit(size_t n) override { tx_end_ += n; }
  EndpointStatus tx_flush() override;
  bool tx_idle() const override { return !tx_ || tx_begin_ == tx_end_; }
  EndpointStatus check_peer() override { return status_; }
  EndpointStatus status() const override { return status_; }
  const char* failure() const override { return failure_.c_str(); }
  proto::EntityAddr peer_addr() const override;
  int wait_fd() const override { return fd_.get(); }
  // Edge-triggered: idle only once the socket has said EAGAIN and nothing waits in our buffer.
  bool enter_idle() override { return drained_ && !rx_; }
  void set_established() { established_ = true; }

 private:
  void fail(EndpointStatus s, int err);

  UniqueFd fd_;
  BufferPool& pool_;
  std::string peer_name_;  // for messages: "127.0.0.1:6800"
  Buffer* rx_ = nullptr;  // held only while it holds something
  Buffer* tx_ = nullptr;
  size_t rx_begin_ = 0, rx_end_ = 0;  // unreleased received bytes
  size_t tx_begin_ = 0, tx_end_ = 0;  // committed bytes not yet sent
  EndpointStatus status_ = EndpointStatus::kOk;
  std::string failure_;
  bool established_ = false;  // a byte went either way: the connect (if ours) succeeded
  bool drained_ = false;      // the last recv found the socket empty
};

// A non-blocking TCP socket toward `server`. wait: block (up to a few seconds: start-up only)
// until connected, or throw StartupError naming the reason; `what` says what the peer should be
// running. Without wait the connect is under way when this returns.
UniqueFd tcp_connect(const HostPort& server, const char* what, bool wait = true);

class TcpListener {
 public:
  explicit TcpListener(const HostPort& bind);
  UniqueFd accept_socket();  // a non-blocking socket, invalid when nobody is waiting
  int fd() const { return listen_.get(); }
  uint16_t port() const;  // the bound port (useful with port 0)

 private:
  UniqueFd listen_;
};

class TcpTransport final : public Transport {
 public:
  explicit TcpTransport(TcpOptions options = {});  // throws StartupError (the pool's memory)
  ~TcpTransport() override;
  const char* name() const override { return "tcp"; }
  std::unique_ptr<Endpoint> connect(const HostPort& server, size_t reactor_index,
                                    uint64_t resume_cookie, bool wait) override;
  void listen(const HostPort& bind) override;
  int listen_fd() const override { return listener_ ? listener_->fd() : -1; }
  Accepted accept(const Placement& place) override;
  std::vector<PoolCensus> pools() const override;

 private:
  TcpOptions options_;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<TcpListener> listener_;
};

}  // namespace pollmsgr
