// hostile_client PORT MODE: a client that misbehaves toward a perf_msgr_server on tcp, in MODE:
//   bad-crc   completes the handshake, then sends an MOSDOp with one byte of its front changed
//             (its crc no longer matches): the server must close this connection, and only it.
// Exits 0 when the server did what it must (and says so), 1 when it did not.
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
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) test::die(kWho, "usage: hostile_client PORT MODE");
  const auto port = static_cast<uint16_t>(std::atoi(argv[1]));
  const std::string mode = argv[2];
  test::Msgr2Peer peer(kWho, test::Msgr2Peer::connect_to(kWho, port), client_config(port));
  peer.handshake();
  std::vector<uint8_t> data(4096, 0x5a);
  if (mode == "bad-crc") {
    auto frame = write_op(peer, data);
    frame[proto::kMessageFrontOffset + 10] ^= 0x40;  // inside the front: its crc fails
    peer.send_raw(frame);
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
