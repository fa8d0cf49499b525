// hostile_client PORT MODE: a client that misbehaves toward a perf_msgr_server on tcp, in MODE:
//   bad-crc   completes the handshake, then sends an MOSDOp with one byte of its front changed
//             (its crc no longer matches): the server must close this connection, and only it.
//   hijack    (server --lossless) opens a lossless session and has a write answered, drops
//             its socket, then, as a thief, names that session's cookies in a SESSION_RECONNECT
//             under another identity: the server must refuse the thief, and the owner must then
//             resume its session and have another write answered.
//   dribble   completes the handshake, then sends a write a byte every half second (a slow
//             loris): the server must drop it once its peer timeout passes without progress.
//   no-read   completes the handshake, then sends 64 B writes and never reads a reply: the
//             server must close this connection (its backlog full), answering others meanwhile.
//   silent    connects, reads the server's banner (so it is accepted), says "holding", then sends
//             nothing: the server must drop it (its handshake timeout).
//   hog       (server --rx-budget-mb 64) six stallers each send all but the last 4 KiB of an
//             8 MiB write and stop; then a mover sends a whole 24 MiB write, which takes the
//             lcore's partial frames past the budget: the server must close stallers (not the
//             mover) and answer the mover.
// Exits 0 when the server did what it must (and says so), 1 when it did not.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <memory>
#include <thread>
#include <vector>

#include "proto/osd_messages.h"
#include "tests/hostile/msgr2_peer.h"

using namespace pollmsgr;
using namespace pollmsgr::proto;

namespace {
constexpr const char* kWho = "hostile_client";

SessionConfig client_config(uint16_t port) {
  SessionConfig c;
  c.my_addr = EntityAddr::ipv4(EntityAddr::kAny, "127.0.0.1", 0, static_cast<uint32_t>(getpid()));
  c.peer_addr = EntityAddr::ipv4(EntityAddr::kMsgr2, "127.0.0.1", port);
  c.lossy = true;
  return c;
}

// An honest 4 KiB write, encoded.
std::vector<uint8_t> write_op(test::Msgr2Peer& peer, const std::vector<uint8_t>& data) {
  OsdOpRequest op;
  op.object = "hostile";
  op.ops.add(OsdOp::extent(osd_op::kWrite, 0, data.size(), static_cast<uint32_t>(data.size())));
  std::vector<uint8_t> front(osd_op_front_size(op));
  encode_front(front, op);
  MsgHeader2 h;
  h.type = kMsgOsdOp;
  h.tid = 1;
  h.version = kOsdOpHeadVersion;
  return peer.encode(h, front, data);
}
// Writes what a session writes, except that its CLIENT_IDENT is replaced by `forged`.
class ForgingSink final : public FrameSink {
 public:
  explicit ForgingSink(ReconnectFrame forged) : forged_(std::move(forged)) {}
  std::span<uint8_t> reserve(size_t n) override {
    at_ = inner_.bytes.size();
    return inner_.reserve(n);
  }
  void commit(size_t n) override {
    inner_.commit(n);
    if (n == 0 || inner_.bytes[at_] != static_cast<uint8_t>(Tag::kClientIdent)) return;
    inner_.bytes.resize(at_);
    std::vector<uint8_t> frame(4096);
    frame.resize(encode_frame(frame, forged_));
    inner_.bytes.insert(inner_.bytes.end(), frame.begin(), frame.end());
  }
  std::vector<uint8_t> take() { return std::exchange(inner_.bytes, {}); }

 private:
  VectorSink inner_;
  size_t at_ = 0;
  ReconnectFrame forged_;
};

// Records the tags of the frames the server sends the thief.
struct TagRecorder final : SessionHandler {
  std::vector<Tag> tags;
  void on_message(const MessageView&) override {}
  void on_frame(const Frame& f) override { tags.push_back(f.tag()); }
};

// One write, answered: true.
bool write_answered(test::Msgr2Peer& peer) {
  std::vector<uint8_t> data(4096, 0x5a);
  peer.send_raw(write_op(peer, data));
  return peer.pump_until([&] { return peer.has_received(); }) &&
         peer.take().front().header.type == kMsgOsdOpReply;
}

int hijack(uint16_t port) {
  SessionConfig mine = client_config(port);
  mine.lossy = false;
  mine.cookie = 0x5eed000000000000ull | static_cast<uint64_t>(getpid());
  test::Msgr2Peer owner(kWho, test::Msgr2Peer::connect_to(kWho, port), mine);
  owner.handshake();
  if (!owner.session().lossless()) test::die(kWho, "the session is not lossless: run the server with --lossless");
  if (!write_answered(owner)) test::die(kWho, "the owner's first write was not answered");
  owner.drop_transport();

  // The thief knows both cookies but is someone else: a session of its own up to the ident.
  SessionConfig theirs = client_config(port);
  theirs.lossy = false;
  theirs.cookie = mine.cookie;
  const Session& s = owner.session();
  ForgingSink sink(ReconnectFrame{{theirs.my_addr}, mine.cookie, s.peer_cookie(), 1,
                                  s.connect_seq() + 1, s.in_seq()});
  Session thief(theirs);
  TagRecorder seen;
  const int fd = test::Msgr2Peer::connect_to(kWho, port);
  auto send_all = [&] {
    for (auto bytes = sink.take(); !bytes.empty();) {
      const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.erase(bytes.begin(), bytes.begin() + n);
    }
  };
  thief.start(sink);
  send_all();
  auto answered = [&] {
    for (Tag t : seen.tags)
      if (t == Tag::kSessionReconnectOk || t == Tag::kSessionReset || t == Tag::kServerIdent) return true;
    return false;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::vector<uint8_t> buf(1 << 16);
  bool closed = false;
  while (!answered() && !closed && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) {
      closed = true;
      break;
    }
    thief.on_bytes({buf.data(), static_cast<size_t>(n)}, sink, seen);  // it may well fault: fine
    send_all();
  }
  ::close(fd);
  for (Tag t : seen.tags)
    if (t == Tag::kSessionReconnectOk) {
      std::printf("hostile_client: the server let a stranger resume the session (SESSION_RECONNECT_OK)\n");
      return 1;
    }
  std::printf("hostile_client: the thief was refused (%s)\n",
              closed ? "connection closed" : answered() ? "SESSION_RESET" : "no answer in 20 s");

  // The owner comes back: its session is still there, and carries on.
  owner.reconnect(test::Msgr2Peer::connect_to(kWho, port));
  owner.handshake();
  if (owner.session().resumes() != 1) {
    std::printf("hostile_client: the owner's session was NOT resumed\n");
    return 1;
  }
  if (!write_answered(owner)) {
    std::printf("hostile_client: the owner's write after resuming was NOT answered\n");
    return 1;
  }
  std::printf("hostile_client: the owner resumed its session and was answered\n");
  return 0;
}

int silent(uint16_t port) {
  const int fd = test::Msgr2Peer::connect_to(kWho, port);
  uint8_t banner[proto::kBannerSize];
  size_t got = 0;
  while (got < sizeof(banner)) {
    const ssize_t n = recv(fd, banner + got, sizeof(banner) - got, 0);
    if (n <= 0) test::die(kWho, "the server closed before its banner");
    got += static_cast<size_t>(n);
  }
  std::printf("hostile_client: holding a connection, silent\n");
  std::fflush(stdout);
  const auto start = std::chrono::steady_clock::now();
  pollfd p{fd, POLLIN, 0};
  char byte;
  while (poll(&p, 1, 60000) == 1 && recv(fd, &byte, 1, 0) > 0) {
  }  // (nothing more comes before the close)
  const double held = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (held >= 60) {
    std::printf("hostile_client: the server did NOT drop the silent connection within 60 s\n");
    return 1;
  }
  std::printf("hostile_client: the server dropped the silent connection after %.1f s\n", held);
  return 0;
}
int hog(uint16_t port) {
  auto connect = [&] {
    auto p = std::make_unique<test::Msgr2Peer>(kWho, test::Msgr2Peer::connect_to(kWho, port),
                                               client_config(port));
    p->handshake();
    return p;
  };
  const std::vector<uint8_t> part(8u << 20, 0x5a), whole(24u << 20, 0xa5);
  std::vector<std::unique_ptr<test::Msgr2Peer>> stallers;
  for (int i = 0; i < 6; ++i) {
    stallers.push_back(connect());
    const std::vector<uint8_t> frame = write_op(*stallers.back(), part);
    stallers.back()->send_raw({frame.data(), frame.size() - 4096});
  }
  // The server has read them all when its census (kill -USR1, $SERVER_PID, printed to
  // $SERVER_LOG) holds their partial frames; from then on they are stalled, and after 300 ms
  // past its idea of a stall (100 ms without progress), whatever the load.
  const char* pid = std::getenv("SERVER_PID");
  const char* log = std::getenv("SERVER_LOG");
  if (!pid || !log) test::die(kWho, "hog needs SERVER_PID and SERVER_LOG (tests/hostile/with-bystander)");
  const size_t want = stallers.size() * (part.size() - 4096);
  size_t held = 0;
  for (int tries = 0; held < want; ++tries) {
    if (tries == 600)
      test::die(kWho, "the server's census never showed the stallers' " + std::to_string(want) +
                          " bytes of partial frames in 60 s (last: " + std::to_string(held) + ")");
    kill(std::atoi(pid), SIGUSR1);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);)
      if (auto at = line.find(" sessions waiting, "); at != std::string::npos)
        held = std::strtoull(line.c_str() + at + 19, nullptr, 10);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto mover = connect();
  const std::vector<uint8_t> frame = write_op(*mover, whole);
  if (!mover->send_raw(frame) || !mover->pump_until([&] { return mover->has_received(); })) {
    std::printf("hostile_client: the mover, past the budget, was NOT answered\n");
    return 1;
  }
  int closed = 0;
  for (auto& s : stallers) closed += s->closes_within(0.5);
  if (closed == 0) {
    std::printf("hostile_client: the server closed none of the stallers\n");
    return 1;
  }
  std::printf("hostile_client: the server closed %d of the stallers and answered the mover\n", closed);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) test::die(kWho, "usage: hostile_client PORT MODE");
  const auto port = static_cast<uint16_t>(std::atoi(argv[1]));
  const std::string mode = argv[2];
  if (mode == "silent") return silent(port);
  if (mode == "hijack") return hijack(port);
  if (mode == "hog") return hog(port);
  test::Msgr2Peer peer(kWho, test::Msgr2Peer::connect_to(kWho, port), client_config(port));
  peer.handshake();
  std::vector<uint8_t> data(4096, 0x5a);
  if (mode == "bad-crc") {
    auto frame = write_op(peer, data);
    frame[proto::kMessageFrontOffset + 10] ^= 0x40;  // inside the front: its crc fails
    peer.send_raw(frame);
  } else if (mode == "no-read") {
    std::vector<uint8_t> small(64, 0x5a);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 1000000 && peer.send_raw(write_op(peer, small)); ++i) {
    }
    if (!peer.closes_within(20)) {
      std::printf("hostile_client: the server did NOT close a peer that never reads\n");
      return 1;
    }
    std::printf("hostile_client: the server closed the peer that never reads after %.1f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return 0;
  } else if (mode == "dribble") {
    const auto frame = write_op(peer, data);
    const auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < frame.size() && !peer.closes_within(0.5); ++i)
      peer.send_raw({frame.data() + i, 1});
    if (!peer.peer_closed()) {
      std::printf("hostile_client: the server did NOT drop a peer sending a byte every 0.5 s\n");
      return 1;
    }
    std::printf("hostile_client: the server dropped the slow peer after %.1f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return 0;
  } else {
    test::die(kWho, "unknown mode " + mode);
  }
  if (!peer.closed_by_peer(20)) {
    std::printf("hostile_client: the server did NOT close the connection within 20 s\n");
    return 1;
  }
  std::printf("hostile_client: the server closed the connection (%s)\n", mode.c_str());
  return 0;
}
