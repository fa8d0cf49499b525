// bad_mon_server PORT MODE: a monitor-shaped msgr2 server that lies to perf_msgr_client
// --ceph-pool. It completes the handshake honestly, then answers MMonSubscribe with an MOSDMap
// carrying a real cluster's map (tests/data/osdmap), altered by MODE, its crc made valid again:
//   pg-num-zero  pool 1 ("bench") of pg_num 0
//   pg-num-huge  ... of pg_num 4294967295
//   bad-crc      a byte of the map changed, the crc left as it was
//   cut-map      the map cut short, its length saying so (a well-formed MOSDMap of a bad map)
//   all-down     unaltered: the epoch in which every OSD is down
//   flood        streams KEEPALIVE2 frames as fast as it can and reads nothing more
// The client must say what was wrong and exit 1, never crash, hang or grow without bound.
#include <chrono>
#include <string>

#include <cstdio>

#include "proto/crc32c.h"
#include "proto/osd_messages.h"
#include "proto/wire.h"
#include "rados/osdmap_messages.h"
#include "tests/hostile/msgr2_peer.h"

using namespace pollmsgr;
using namespace pollmsgr::proto;

namespace {

constexpr const char* kWho = "bad_mon_server";

// A real full map (epoch 41: OSDs up; 48: all down), altered as `mode` says.
std::vector<uint8_t> osdmap(const std::string& mode) {
  const std::string path = std::string(POLLMSGR_TEST_DATA_DIR) + "/osdmap/full_" +
                           (mode == "all-down" ? "48" : "41") + ".bin";
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) test::die(kWho, "cannot read " + path);
  std::vector<uint8_t> map(1 << 16);
  map.resize(std::fread(map.data(), 1, map.size(), f));
  std::fclose(f);
  // Pool 1's pg_num: after the two headers, fsid, epoch, two stamps, the pool count, the pool's
  // id and its own header, and four one-byte fields.
  constexpr size_t kPgNumAt = 6 + 6 + 16 + 4 + 8 + 8 + 4 + 8 + 6 + 4;
  if (mode == "pg-num-zero") store_le<uint32_t>(&map[kPgNumAt], 0);
  if (mode == "pg-num-huge") store_le<uint32_t>(&map[kPgNumAt], 0xffffffff);
  const uint32_t crc = crc32c(0xffffffff, std::span(map).first(map.size() - 4));
  store_le<uint32_t>(&map[map.size() - 4], crc);
  if (mode == "bad-crc") map[map.size() / 2] ^= 0x40;
  if (mode == "cut-map") map.resize(map.size() / 2);
  return map;
}

// MOSDMap: the map's fsid, no incrementals, one full map, the sender's range of epochs.
std::vector<uint8_t> osdmap_front(const std::vector<uint8_t>& map) {
  std::vector<uint8_t> front(16 + 4 + 4 + 4 + 4 + map.size() + 8);
  WireWriter w(front);
  w.bytes(std::span(map).subspan(12, 16));
  w.u32(0);
  w.u32(1);
  const uint32_t epoch = load_le<uint32_t>(&map[28]);
  w.u32(epoch);
  w.blob(map);
  w.u32(1);
  w.u32(epoch);
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
  const std::vector<uint8_t> front = osdmap_front(osdmap(mode));
  while (!peer.peer_closed()) {
    peer.pump_until([&] { return peer.has_received(); }, 1.0);
    for (auto& m : peer.take()) {
      if (m.header.type != rados::kMsgMonSubscribe) continue;
      MsgHeader2 h;
      h.type = kMsgOsdMap;
      h.version = 4;
      h.compat_version = 3;
      peer.send_message(h, front);
    }
  }
  std::printf("%s: the client closed\n", kWho);
  return 0;
}
