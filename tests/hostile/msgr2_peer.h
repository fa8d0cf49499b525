#pragma once
// A msgr2 peer on pollmsgr's proto/ over one blocking TCP socket, for the hostile and broken
// peers the tests play: it completes the handshake honestly, then lets the test send whatever
// it likes (valid messages, or bytes no honest peer would send) and read what comes back.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "proto/session.h"

namespace pollmsgr::test {

[[noreturn]] inline void die(const std::string& who, const std::string& why) {
  std::fprintf(stderr, "%s: FAILED: %s\n", who.c_str(), why.c_str());
  std::exit(2);
}

// For the peers that play servers: listens on 127.0.0.1:port, says "WHO: listening, mode
// MODE", and returns the first client's socket.
inline int accept_one_client(const std::string& who, uint16_t port, const std::string& mode) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || listen(fd, 4) != 0)
    die(who, "cannot listen on 127.0.0.1:" + std::to_string(port));
  std::printf("%s: listening, mode %s\n", who.c_str(), mode.c_str());
  std::fflush(stdout);
  const int client = accept(fd, nullptr, nullptr);
  if (client < 0) die(who, "accept failed");
  return client;
}

// The session of a server of `type` at 127.0.0.1, handing out `global_id`.
inline proto::SessionConfig server_config(proto::EntityType type, uint64_t global_id) {
  proto::SessionConfig c;
  c.role = proto::Role::kServer;
  c.my_type = type;
  c.my_addr = proto::EntityAddr::ipv4(proto::EntityAddr::kMsgr2, "127.0.0.1", 1);
  c.global_id = global_id;
  return c;
}

class Msgr2Peer : public proto::SessionHandler {
 public:
  // Adopts a connected socket and starts the handshake in `role`.
  Msgr2Peer(std::string who, int fd, proto::SessionConfig config)
      : who_(std::move(who)), fd_(fd), session_(std::move(config)) {
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    session_.start(out_);
    flush();
  }
  ~Msgr2Peer() override { ::close(fd_); }

  static int connect_to(const std::string& who, uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
      die(who, "cannot connect to 127.0.0.1:" + std::to_string(port));
    return fd;
  }

  proto::Session& session() { return session_; }
  int fd() const { return fd_; }

  // A lossless client whose transport failed: the socket goes (the session stays)...
  void drop_transport() { ::shutdown(fd_, SHUT_RDWR); }
  // ... and a new one carries on: the handshake starts over and asks to resume the session.
  void reconnect(int fd) {
    ::close(fd_);
    fd_ = fd;
    closed_ = false;
    if (session_.restart(out_) != proto::ProtoError::kOk) die(who_, "cannot restart the session");
    flush();
  }

  // Reads until `done` holds; false when the peer closed first (or `seconds` passed).
  bool pump_until(const std::function<bool()>& done, double seconds = 20) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    std::vector<uint8_t> buf(1 << 16);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
      if (n <= 0) {
        closed_ = true;
        return false;
      }
      if (session_.on_bytes({buf.data(), static_cast<size_t>(n)}, out_, *this) != proto::ProtoError::kOk)
        die(who_, std::string("protocol fault: ") + std::string(to_string(session_.fault())));
      flush();
    }
    return true;
  }
  void handshake() {
    if (!pump_until([&] { return session_.ready(); }))
      die(who_, std::string("the handshake did not complete (state ") +
                    proto::to_string(session_.state()) + ")");
  }
  // True when the peer has closed the connection (waits up to `seconds` for it).
  bool closed_by_peer(double seconds) {
    pump_until([&] { return closed_; }, seconds);
    return closed_;
  }
  bool peer_closed() const { return closed_; }
  // True when the peer closes within `seconds`; what it sends meanwhile is read and ignored
  // (not answered: nothing gets into the middle of a frame we are sending).
  bool closes_within(double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    char buf[4096];
    while (!closed_ && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) == 1 && recv(fd_, buf, sizeof(buf), 0) <= 0) closed_ = true;
    }
    return closed_;
  }
  bool has_received() const { return !received_.empty(); }

  // A whole message frame, as the session encodes it (seq and ack filled in).
  std::vector<uint8_t> encode(proto::MsgHeader2 h, std::span<const uint8_t> front,
                              std::span<const uint8_t> data = {}) {
    std::vector<uint8_t> frame(proto::message_head_size(front.size(), 0) + data.size() +
                               proto::kEpilogueSize);
    auto head = session_.encode_message(frame, h, front, {}, data);
    if (!head) die(who_, "cannot encode a message");
    std::copy(data.begin(), data.end(), frame.begin() + head->head_size);
    std::copy(head->epilogue.begin(), head->epilogue.begin() + head->epilogue_size,
              frame.begin() + head->head_size + data.size());
    frame.resize(head->frame_size(data.size()));
    return frame;
  }
  // False when the peer has closed on us (as it may well).
  bool send_raw(std::span<const uint8_t> bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  void send_message(proto::MsgHeader2 h, std::span<const uint8_t> front,
                    std::span<const uint8_t> data = {}) {
    send_raw(encode(h, front, data));
  }

  // Messages received since the last take.
  struct Received {
    proto::MsgHeader2 header;
    std::vector<uint8_t> front, data;
  };
  std::vector<Received> take() { return std::exchange(received_, {}); }
  void on_message(const proto::MessageView& m) override {
    received_.push_back({m.header, {m.front.begin(), m.front.end()}, {m.data.begin(), m.data.end()}});
  }

 private:
  void flush() {
    send_raw(out_.bytes);
    out_.bytes.clear();
  }

  std::string who_;
  int fd_;
  proto::Session session_;
  proto::VectorSink out_;
  std::vector<Received> received_;
  bool closed_ = false;
};

}  // namespace pollmsgr::test
