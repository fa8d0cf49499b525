// mon_client PORT: a msgr2 client built on proto/ over a plain blocking TCP socket. Against a
// real ceph-mon on 127.0.0.1:PORT (auth none, crc mode) it must complete the handshake, get a
// KEEPALIVE2_ACK for its KEEPALIVE2, and get an MMonGetVersionReply for "osdmap". Prints each
// step; exits 0 only when all happened.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "proto/mon_messages.h"
#include "proto/session.h"

using namespace pollmsgr::proto;

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "mon_client: FAILED: %s\n", why.c_str());
  std::exit(1);
}

struct Handler : SessionHandler {
  bool ready = false, keepalive_acked = false, got_reply = false;
  MonGetVersionReply reply;
  Timestamp sent_stamp{1234, 5678};
  void on_ready() override { ready = true; }
  void on_keepalive_ack(Timestamp t) override {
    if (!(t == sent_stamp)) die("KEEPALIVE2_ACK echoed a different stamp");
    keepalive_acked = true;
  }
  void on_message(const MessageView& m) override {
    std::printf("message: type %u seq %llu front %zu data %zu\n", m.header.type,
                static_cast<unsigned long long>(m.header.seq), m.front.size(), m.data.size());
    if (m.header.type != kMsgMonGetVersionReply) return;  // e.g. a monmap the mon pushes
    auto r = decode_mon_get_version_reply(m.front);
    if (!r) die("MMonGetVersionReply did not decode");
    reply = *r;
    got_reply = true;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) die("usage: mon_client PORT");
  const int port = std::atoi(argv[1]);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    die("cannot connect to 127.0.0.1:" + std::to_string(port));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  SessionConfig cfg;
  cfg.role = Role::kClient;
  cfg.my_type = EntityType::kClient;
  cfg.my_addr = EntityAddr::ipv4(EntityAddr::kAny, "127.0.0.1", 0, static_cast<uint32_t>(getpid()));
  cfg.peer_addr = EntityAddr::ipv4(EntityAddr::kMsgr2, "127.0.0.1", static_cast<uint16_t>(port));
  cfg.lossy = true;  // as Ceph's MonClient
  Session session(cfg);
  VectorSink out;
  Handler h;
  auto flush = [&] {
    size_t off = 0;
    while (off < out.bytes.size()) {
      ssize_t n = send(fd, out.bytes.data() + off, out.bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) die("send failed");
      off += static_cast<size_t>(n);
    }
    out.bytes.clear();
  };
  if (session.start(out) != ProtoError::kOk) die("start");
  flush();

  enum { kHandshake, kKeepalive, kVersion, kDone } step = kHandshake;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::vector<uint8_t> buf(1 << 16);
  while (step != kDone) {
    if (std::chrono::steady_clock::now() > deadline)
      die(std::string("timed out in state ") + to_string(session.state()));
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) die(std::string("the mon closed the connection in state ") + to_string(session.state()));
    if (ProtoError e = session.on_bytes({buf.data(), static_cast<size_t>(n)}, out, h);
        e != ProtoError::kOk)
      die(std::string("protocol fault: ") + std::string(to_string(e)));
    if (step == kHandshake && h.ready) {
      std::printf("handshake complete: global_id %llu, peer features %#llx\n",
                  static_cast<unsigned long long>(session.global_id()),
                  static_cast<unsigned long long>(session.peer_features()));
      session.send_keepalive(out, h.sent_stamp);
      step = kKeepalive;
    }
    if (step == kKeepalive && h.keepalive_acked) {
      std::printf("keepalive acknowledged\n");
      std::vector<uint8_t> front(64);
      front.resize(encode_front(front, MonGetVersion{7, "osdmap"}));
      MsgHeader2 hdr;
      hdr.type = kMsgMonGetVersion;
      auto space = out.reserve(message_head_size(front.size(), 0));
      auto head = session.encode_message(space, hdr, front, {}, {});
      if (!head) die("encode MMonGetVersion");
      out.commit(head->head_size);
      out.bytes.insert(out.bytes.end(), head->epilogue.begin(),
                       head->epilogue.begin() + head->epilogue_size);
      step = kVersion;
    }
    if (step == kVersion && h.got_reply) {
      if (h.reply.handle != 7) die("reply handle does not match the request");
      std::printf("MMonGetVersionReply: handle %llu osdmap version %llu oldest %llu\n",
                  static_cast<unsigned long long>(h.reply.handle),
                  static_cast<unsigned long long>(h.reply.version),
                  static_cast<unsigned long long>(h.reply.oldest_version));
      step = kDone;
    }
    flush();
  }
  close(fd);
  std::printf("mon_client: OK\n");
  return 0;
}
