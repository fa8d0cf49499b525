#include "dataplane/transport/tcp_transport.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"

namespace pollmsgr {
namespace {

constexpr int kConnectTimeoutMs = 3000;

sockaddr_in peer_of(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof(sa);
  getpeername(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return sa;
}

}  // namespace

TcpEndpoint::TcpEndpoint(UniqueFd fd, BufferPool& buffers, std::string peer_name)
    : fd_(std::move(fd)), pool_(buffers), peer_name_(std::move(peer_name)) {
  int one = 1;
  setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

TcpEndpoint::~TcpEndpoint() {
  if (rx_) rx_->release();
  if (tx_) tx_->release();
}

void TcpEndpoint::fail(EndpointStatus s, int err) {
  if (status_ != EndpointStatus::kOk) return;
  status_ = s;
  if (err == 0) return;  // an orderly close: the connection says so itself
  failure_ = established_ ? fmt::format("{}{}{}", peer_name_, peer_name_.empty() ? "" : ": ",
                                        std::strerror(err))
                          : fmt::format("cannot connect to {}: {}", peer_name_, std::strerror(err));
}

std::span<const uint8_t> TcpEndpoint::rx_window() {
  if (status_ != EndpointStatus::kOk) return {};
  if (!rx_) {
    rx_ = pool_.get();
    if (!rx_) {  // the pool is empty: what the socket holds waits (we stay polled)
      drained_ = false;
      return {};
    }
    rx_begin_ = rx_end_ = 0;
  }
  if (rx_end_ < rx_->capacity) {
    ssize_t n = recv(fd_.get(), rx_->data() + rx_end_, rx_->capacity - rx_end_, MSG_DONTWAIT);
    drained_ = false;
    if (n > 0) {
      rx_end_ += static_cast<size_t>(n);
      established_ = true;
    } else if (n == 0) {
      fail(EndpointStatus::kPeerClosed, 0);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      drained_ = true;
    } else if (errno != EINTR) {
      fail(EndpointStatus::kPeerClosed, errno);  // e.g. a connect refused, a reset
    }
  }
  if (rx_begin_ == rx_end_) {  // nothing: the buffer goes back at once
    rx_->release();
    rx_ = nullptr;
    return {};
  }
  return {rx_->data() + rx_begin_, rx_end_ - rx_begin_};
}

void TcpEndpoint::rx_release(size_t n) {
  rx_begin_ += n;
  if (rx_ && rx_begin_ == rx_end_) {
    rx_->release();
    rx_ = nullptr;
  }
}

std::span<uint8_t> TcpEndpoint::tx_window(size_t want) {
  if (!tx_) {
    tx_ = pool_.get();
    if (!tx_) return {};  // the pool is empty: backpressure
    tx_begin_ = tx_end_ = 0;
  }
  if (tx_->capacity - tx_end_ < want && tx_begin_ > 0) {  // slide unsent bytes to the front
    std::memmove(tx_->data(), tx_->data() + tx_begin_, tx_end_ - tx_begin_);
    tx_end_ -= tx_begin_;
    tx_begin_ = 0;
  }
  return {tx_->data() + tx_end_, tx_->capacity - tx_end_};
}

EndpointStatus TcpEndpoint::tx_flush() {
  while (tx_ && tx_begin_ < tx_end_ && status_ == EndpointStatus::kOk) {
    ssize_t n = send(fd_.get(), tx_->data() + tx_begin_, tx_end_ - tx_begin_,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      tx_begin_ += static_cast<size_t>(n);
      established_ = true;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;  // the socket buffer is full (or the connect is still under way): next iteration
    } else if (n < 0 && errno != EINTR) {
      fail(EndpointStatus::kPeerClosed, errno);
    }
  }
  if (tx_ && tx_begin_ == tx_end_) {  // all sent: the buffer goes back
    tx_->release();
    tx_ = nullptr;
  }
  return status_;
}

proto::EntityAddr TcpEndpoint::peer_addr() const {
  sockaddr_in sa = peer_of(fd_.get());
  char ip[INET_ADDRSTRLEN] = "";
  inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
  return proto::EntityAddr::ipv4(proto::EntityAddr::kAny, ip, ntohs(sa.sin_port));
}

UniqueFd tcp_connect(const HostPort& server, const char* what, bool wait) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in sa = server.sockaddr();
  int rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  if (rc != 0 && errno != EINPROGRESS)
    throw StartupError(fmt::format("cannot connect to {}: {}", server.to_string(),
                                   std::strerror(errno)), 1);
  if (!wait) return fd;
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

TcpListener::TcpListener(const HostPort& bind) {
  listen_.reset(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa = bind.sockaddr();
  if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      listen(listen_.get(), SOMAXCONN) != 0)
    throw StartupError(fmt::format("cannot listen on {}: {}", bind.to_string(), std::strerror(errno)));
}

UniqueFd TcpListener::accept_socket() {
  return UniqueFd(accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

uint16_t TcpListener::port() const {
  sockaddr_in sa{};
  socklen_t len = sizeof(sa);
  getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);
}

TcpTransport::TcpTransport(TcpOptions options) : options_(options) {
  static std::atomic<unsigned> instances{0};  // pool names are unique in the process
  pool_ = std::make_unique<BufferPool>(fmt::format("tcp_buffers{}", instances++),
                                       options_.buffer_bytes, options_.buffers);
}

TcpTransport::~TcpTransport() = default;

std::unique_ptr<Endpoint> TcpTransport::connect(const HostPort& server, size_t, uint64_t,
                                                bool wait) {
  return std::make_unique<TcpEndpoint>(
      tcp_connect(server, "perf_msgr_server with --transport tcp", wait), *pool_,
      server.to_string());
}

void TcpTransport::listen(const HostPort& bind) { listener_ = std::make_unique<TcpListener>(bind); }

std::vector<Transport::PoolCensus> TcpTransport::pools() const {
  return {{pool_->name(), pool_->count(), pool_->available(), 0}};
}

Transport::Accepted TcpTransport::accept(const Placement& place) {
  UniqueFd fd = listener_->accept_socket();
  if (!fd) return {};
  const sockaddr_in sa = peer_of(fd.get());
  char ip[INET_ADDRSTRLEN] = "";
  inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
  auto ep = std::make_unique<TcpEndpoint>(std::move(fd), *pool_,
                                          fmt::format("{}:{}", ip, ntohs(sa.sin_port)));
  ep->set_established();  // accepted: connected already
  return {std::move(ep), place(0)};
}

}  // namespace pollmsgr
