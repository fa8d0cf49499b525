// bad_osd_server PORT MODE: an OSD-shaped msgr2 server that answers perf_msgr_client's ops
// correctly (it keeps what is written, so reads return it) except for one lie, chosen by MODE,
// told on the third op. The client must notice, say what was wrong and exit 1; with MODE honest
// it must finish and exit 0 (so the lies, not the server, are what fails it).
//   wrong-tid   the third reply carries the fourth op's tid
//   twice       the third reply is sent twice
//   reorder     the third and fourth replies are swapped
//   stranger    a reply to a tid never sent comes first
//   wrong-type  the third reply is a message of type 44
//   wrong-object  the third reply names another object
//   error       the third op fails with -EIO
//   no-version  the third write is acknowledged without a version
//   bad-data    the third read returns bytes other than those written
//   short-read  the third read returns only the first half of what was written
//   silent      the third op is never answered
#include <map>
#include <string>

#include "proto/osd_messages.h"
#include "tests/hostile/msgr2_peer.h"

using namespace pollmsgr;
using namespace pollmsgr::proto;

namespace {

constexpr const char* kWho = "bad_osd_server";

struct Reply {
  MsgHeader2 header;
  std::vector<uint8_t> front, data;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) test::die(kWho, "usage: bad_osd_server PORT MODE");
  const std::string mode = argv[2];
  const int fd = test::accept_one_client(kWho, static_cast<uint16_t>(std::atoi(argv[1])), mode);
  test::Msgr2Peer peer(kWho, fd, test::server_config(EntityType::kOsd, 4242));
  peer.handshake();

  std::map<std::string, std::vector<uint8_t>> store;
  uint64_t ops = 0, version = 0;
  std::vector<Reply> held;  // reorder: the third reply waits for the fourth
  auto send = [&](const Reply& r) { peer.send_message(r.header, r.front, r.data); };
  if (mode == "stranger") {
    MsgHeader2 h;
    h.type = kMsgOsdOpReply;
    h.tid = 999999;
    std::vector<uint8_t> front(256);
    OsdOpReply r;
    r.object = "nobody-asked";
    front.resize(encode_front(front, r));
    peer.send_message(h, front);
  }
  while (!peer.peer_closed()) {
    peer.pump_until([&] { return peer.has_received(); }, 1.0);
    for (auto& m : peer.take()) {
      if (m.header.type != kMsgOsdOp) continue;
      OsdOpRequest op;
      if (decode_osd_op(m.front, m.header.version, m.data.size(), op) != ProtoError::kOk)
        test::die(kWho, "a malformed op from the client");
      ++ops;
      const bool lie = ops == 3;
      const OsdOp& o = op.ops.items[0];
      std::string object(op.object);
      OsdOpReply r;
      reply_to(op, 0, op.osdmap_epoch, r);
      r.replay_version = r.bad_replay_version = {++version, op.osdmap_epoch};
      r.user_version = version;
      Reply out;
      out.header.type = kMsgOsdOpReply;
      out.header.tid = m.header.tid;
      out.header.version = kOsdOpReplyHeadVersion;
      if (o.code == osd_op::kWrite || o.code == osd_op::kWriteFull) {
        auto& bytes = store[object];
        if (o.code == osd_op::kWriteFull) bytes.clear();
        bytes.resize(std::max<size_t>(bytes.size(), o.offset + m.data.size()));
        std::copy(m.data.begin(), m.data.end(), bytes.begin() + static_cast<long>(o.offset));
      } else if (o.code == osd_op::kRead) {
        out.data = store[object];
        out.data.resize(std::min<size_t>(out.data.size(), o.length));
        r.ops.items[0].payload_len = static_cast<uint32_t>(out.data.size());
        r.ops.items[0].length = out.data.size();
        r.user_version = 0;
      }
      if (lie && mode == "wrong-tid") out.header.tid += 1;
      if (lie && mode == "wrong-type") out.header.type = 44;
      if (lie && mode == "wrong-object") r.object = "someone-elses-object";
      if (lie && mode == "error") r.result = r.ops.items[0].rval = -5;
      if (lie && mode == "no-version") r.user_version = 0;
      if (lie && mode == "bad-data" && !out.data.empty()) out.data[out.data.size() / 2] ^= 0xff;
      if (lie && mode == "short-read" && !out.data.empty()) {  // the start of what was written
        out.data.resize(out.data.size() / 2);
        r.ops.items[0].payload_len = static_cast<uint32_t>(out.data.size());
        r.ops.items[0].length = out.data.size();
      }
      if (lie && mode == "silent") continue;  // never answered
      out.front.resize(osd_op_reply_front_size(r));
      encode_front(out.front, r);
      if (lie && mode == "reorder") {
        held.push_back(std::move(out));
        continue;
      }
      send(out);
      if (lie && mode == "twice") send(out);
      for (auto& h : held) send(h);
      held.clear();
    }
  }
  std::printf("bad_osd_server: the client closed after %llu ops\n",
              static_cast<unsigned long long>(ops));
  return 0;
}
