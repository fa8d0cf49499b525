#include "dataplane/transport/tcp_transport.h"

#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"

namespace pollmsgr {
namespace {

constexpr int kConnectTimeoutMs = 3000;

void tune(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

TcpEndpoint::TcpEndpoint(UniqueFd fd, const TcpOptions& o)
    : fd_(std::move(fd)), rx_(o.rx_buffer), tx_(o.tx_buffer) {
  tune(fd_.get());
}

std::span<const uint8_t> TcpEndpoint::rx_burst() {
  if (rx_end_ < rx_.size() && status_ == EndpointStatus::kOk) {
    ssize_t n = recv(fd_.get(), rx_.data() + rx_end_, rx_.size() - rx_end_, MSG_DONTWAIT);
    if (n > 0) {
      rx_end_ += static_cast<size_t>(n);
    } else if (n == 0) {
      status_ = EndpointStatus::kPeerClosed;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      status_ = EndpointStatus::kPeerClosed;
    }
  }
  return {rx_.data() + rx_begin_, rx_end_ - rx_begin_};
}

void TcpEndpoint::rx_release(size_t n) {
  rx_begin_ += n;
  if (rx_begin_ == rx_end_) rx_begin_ = rx_end_ = 0;
}

std::span<uint8_t> TcpEndpoint::tx_window(size_t want) {
  if (tx_.size() - tx_end_ < want && tx_begin_ > 0) {  // slide unsent bytes to the front
    std::memmove(tx_.data(), tx_.data() + tx_begin_, tx_end_ - tx_begin_);
    tx_end_ -= tx_begin_;
    tx_begin_ = 0;
  }
  return {tx_.data() + tx_end_, tx_.size() - tx_end_};
}

EndpointStatus TcpEndpoint::tx_flush() {
  while (tx_begin_ < tx_end_ && status_ == EndpointStatus::kOk) {
    ssize_t n = send(fd_.get(), tx_.data() + tx_begin_, tx_end_ - tx_begin_,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      tx_begin_ += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;  // the socket buffer is full: the rest goes next iteration
    } else if (n < 0 && errno != EINTR) {
      status_ = EndpointStatus::kPeerClosed;
    }
  }
  if (tx_begin_ == tx_end_) tx_begin_ = tx_end_ = 0;
  return status_;
}

sockaddr_in TcpEndpoint::peer_address() const {
  sockaddr_in sa{};
  socklen_t len = sizeof(sa);
  getpeername(fd_.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  return sa;
}

UniqueFd tcp_connect(const HostPort& server, const char* what) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in sa = server.sockaddr();
  int rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  if (rc != 0 && errno != EINPROGRESS)
    throw StartupError(fmt::format("cannot connect to {}: {}", server.to_string(),
                                   std::strerror(errno)), 1);
  pollfd p{fd.get(), POLLOUT, 0};
  if (rc != 0 && poll(&p, 1, kConnectTimeoutMs) != 1)
    throw StartupError(fmt::format("cannot connect to {}: no answer within {} s", server.to_string(),
                                   kConnectTimeoutMs / 1000), 1);
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0)
    throw StartupError(fmt::format("cannot connect to {}: {} (is {} running there?)",
                                   server.to_string(), std::strerror(err), what), 1);
  return fd;
}

std::unique_ptr<TcpEndpoint> TcpEndpoint::connect(const HostPort& server, const TcpOptions& o) {
  return std::make_unique<TcpEndpoint>(
      tcp_connect(server, "perf_msgr_server with --transport tcp"), o);
}

TcpListener::TcpListener(const HostPort& bind) {
  listen_.reset(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa = bind.sockaddr();
  if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      listen(listen_.get(), 512) != 0)
    throw StartupError(fmt::format("cannot listen on {}: {}", bind.to_string(), std::strerror(errno)));
}

UniqueFd TcpListener::accept_socket() {
  return UniqueFd(accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

std::unique_ptr<TcpEndpoint> TcpListener::accept(const TcpOptions& options) {
  UniqueFd fd = accept_socket();
  if (!fd) return nullptr;
  return std::make_unique<TcpEndpoint>(std::move(fd), options);
}

uint16_t TcpListener::port() const {
  sockaddr_in sa{};
  socklen_t len = sizeof(sa);
  getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);
}

}  // namespace pollmsgr
