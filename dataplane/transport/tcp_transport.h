#pragma once
// tcp: non-blocking sockets busy-polled with recv/send (MSG_DONTWAIT), TCP_NODELAY, no epoll.
// Plain msgr2 on the wire, so it can reach real Ceph daemons.
#include <memory>
#include <vector>

#include "dataplane/transport/address.h"
#include "dataplane/transport/endpoint.h"
#include "dataplane/transport/unique_fd.h"

namespace pollmsgr {

struct TcpOptions {
  size_t rx_buffer = 256u << 10;
  size_t tx_buffer = 512u << 10;
};

class TcpEndpoint final : public Endpoint {
 public:
  TcpEndpoint(UniqueFd fd, const TcpOptions& options);
  std::span<const uint8_t> rx_burst() override;
  void rx_release(size_t n) override;
  std::span<uint8_t> tx_window(size_t want) override;
  void tx_commit(size_t n) override { tx_end_ += n; }
  EndpointStatus tx_flush() override;
  bool tx_idle() const override { return tx_begin_ == tx_end_; }
  EndpointStatus check_peer() override { return status_; }
  int wait_fd() const override { return fd_.get(); }
  bool arm_wait() override { return rx_begin_ == rx_end_; }  // unread bytes: do not block
  const char* kind() const override { return "tcp"; }

  // Connects (blocking, with a timeout: start-up only). Throws StartupError naming the fix.
  static std::unique_ptr<TcpEndpoint> connect(const HostPort& server, const TcpOptions& options);
  sockaddr_in peer_address() const;

 private:
  UniqueFd fd_;
  std::vector<uint8_t> rx_, tx_;
  size_t rx_begin_ = 0, rx_end_ = 0;  // unreleased received bytes
  size_t tx_begin_ = 0, tx_end_ = 0;  // committed bytes not yet sent
  EndpointStatus status_ = EndpointStatus::kOk;
};

// A connected, non-blocking TCP socket (blocking up to a few seconds for the connect: start-up
// only). Throws StartupError naming the reason; `what` says what the peer should be running.
UniqueFd tcp_connect(const HostPort& server, const char* what);

class TcpListener {
 public:
  explicit TcpListener(const HostPort& bind);
  // nullptr when nobody is waiting (never blocks).
  std::unique_ptr<TcpEndpoint> accept(const TcpOptions& options);
  UniqueFd accept_socket();  // the same, as a bare non-blocking socket (invalid when none)
  int fd() const { return listen_.get(); }
  uint16_t port() const;  // the bound port (useful with port 0)

 private:
  UniqueFd listen_;
};

}  // namespace pollmsgr
