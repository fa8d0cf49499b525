// bad_mon_server PORT MODE: a monitor-shaped msgr2 server that lies to perf_msgr_client
// --ceph-pool. It completes the handshake honestly, answers MMonGetMap with a monmap, then, by
// MODE:
//   pg-num-zero  answers `osd dump` with pool "p" of pg_num 0
//   pg-num-huge  ... of pg_num 4294967295
//   flood        streams KEEPALIVE2 frames as fast as it can and reads nothing more
// The client must say what was wrong and exit 1, never crash, hang or grow without bound.
#include <chrono>
#include <string>

#include "proto/mon_messages.h"
#include "proto/wire.h"
#include "tests/hostile/msgr2_peer.h"

using namespace pollmsgr;
using namespace pollmsgr::proto;

namespace {

constexpr const char* kWho = "bad_mon_server";

// A monmap front whose fsid decodes (all the client reads of it).
std::vector<uint8_t> monmap_front() {
  std::vector<uint8_t> map(4 + 1 + 1 + 4 + 16, 0), front(4 + map.size());
  WireWriter m(map);
  m.u8(9);
  m.u8(1);
  m.u32(16);
  WireWriter w(front);
  w.blob(map);
  return front;
}

// An MMonCommandAck: result 0, and `output` as its data.
std::vector<uint8_t> command_ack_front() {
  std::vector<uint8_t> front(8 + 2 + 8 + 4 + 4 + 4);
  WireWriter w(front);
  w.skip(8 + 2 + 8);  // paxos head
  w.s32(0);
  w.string("");
  w.u32(0);
  return front;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) test::die(kWho, "usage: bad_mon_server PORT MODE");
  const std::string mode = argv[2];
  const int fd = test::accept_one_client(kWho, static_cast<uint16_t>(std::atoi(argv[1])), mode);
  test::Msgr2Peer peer(kWho, fd, test::server_config(EntityType::kMon, 4343));
  peer.handshake();
  if (mode == "flood") {
    VectorSink frames;
    for (int i = 0; i < 1024; ++i) peer.session().send_keepalive(frames, {});
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    uint64_t sent = 0;
    while (std::chrono::steady_clock::now() < end && peer.send_raw(frames.bytes))
      sent += frames.bytes.size();
    std::printf("%s: flooded %llu MiB of KEEPALIVE2 until the client closed\n", kWho,
                static_cast<unsigned long long>(sent >> 20));
    return 0;
  }
  const std::string pg_num = mode == "pg-num-zero" ? "0" : "4294967295";
  while (!peer.peer_closed()) {
    peer.pump_until([&] { return peer.has_received(); }, 1.0);
    for (auto& m : peer.take()) {
      MsgHeader2 h;
      h.tid = m.header.tid;
      if (m.header.type == kMsgMonGetMap) {
        h.type = kMsgMonMap;
        peer.send_message(h, monmap_front());
      } else if (m.header.type == kMsgMonCommand) {
        h.type = kMsgMonCommandAck;
        const std::string dump = R"({"epoch":3,"pools":[{"pool_name":"p","pool":1,"pg_num":)" +
                                 pg_num + R"(}],"osds":[]})";
        peer.send_message(h, command_ack_front(),
                          {reinterpret_cast<const uint8_t*>(dump.data()), dump.size()});
      }
    }
  }
  std::printf("%s: the client closed\n", kWho);
  return 0;
}
