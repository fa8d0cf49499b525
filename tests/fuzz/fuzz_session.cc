// libFuzzer targets: arbitrary bytes into a msgr2 session (both roles), fed whole and in the
// chunk sizes the input's first byte picks; every message delivered goes through the message
// decoders (OSD ops and replies, osdmap epochs, mon command acks). The session must never
// crash, read out of bounds or allocate beyond its limits; faults are expected and fine.
//
// fuzz_session_fixed_crc first rewrites every crc in the input (preambles, segments, epilogues)
// to match the bytes as mutated, so that mutations reach the parsing behind the crc checks
// instead of dying at them.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "proto/crc32c.h"
#include "proto/mon_messages.h"
#include "proto/osd_messages.h"
#include "proto/session.h"
#include "proto/wire.h"

using namespace pollmsgr::proto;

namespace {

struct DecodingHandler : SessionHandler {
  size_t bytes = 0;
  OsdOpRequest op;
  OsdOpReply reply;
  void on_message(const MessageView& m) override {
    bytes += m.front.size() + m.middle.size() + m.data.size();
    if (!m.data.empty()) bytes += m.data.back();  // touch the last byte: ASan checks the span
    const uint16_t v = m.header.version;
    if (decode_osd_op(m.front, v, m.data.size(), op) == ProtoError::kOk) bytes += op.ops.count;
    if (decode_osd_op_reply(m.front, v, m.data.size(), reply) == ProtoError::kOk)
      bytes += reply.object.size();
    if (auto e = decode_osd_map(m.front)) bytes += e->newest_known();
    if (auto a = decode_mon_command_ack(m.front)) bytes += a->status.size();
    if (auto f = decode_mon_map_fsid(m.front)) bytes += (*f)[0];
  }
};

void run(Role role, std::span<const uint8_t> data, size_t chunk) {
  SessionConfig cfg;
  cfg.role = role;
  cfg.lossy = role == Role::kServer;
  cfg.limits = {1u << 20, 4u << 20};  // keep reassembly bounded for the fuzzer
  Session session(cfg);
  VectorSink out;
  DecodingHandler h;
  session.start(out);
  while (!data.empty()) {
    const size_t n = std::min(chunk, data.size());
    session.on_bytes(data.first(n), out, h);
    data = data.subspan(n);
    out.bytes.clear();
  }
}

#ifdef POLLMSGR_FUZZ_FIX_CRCS
// Walks the stream as frames (after a banner, if one is there) and makes every crc right.
void fix_crcs(std::vector<uint8_t>& s) {
  size_t pos = s.size() >= kBannerSize && std::memcmp(s.data(), "ceph v2\n", 8) == 0 ? kBannerSize : 0;
  while (pos + kPreambleSize <= s.size()) {
    uint8_t* p = s.data() + pos;
    const uint8_t n = p[1];
    if (n == 0 || n > kMaxSegments) return;
    uint32_t len[kMaxSegments] = {};
    size_t total = kPreambleSize;
    for (size_t i = 0; i < n; ++i) total += len[i] = load_le<uint32_t>(p + 2 + 6 * i);
    total += (len[0] ? kCrcSize : 0) + (n > 1 ? kEpilogueSize : 0);
    store_le<uint32_t>(p + 28, crc32c(0, {p, 28}));
    if (total > s.size() - pos) return;
    uint8_t* seg = p + kPreambleSize;
    if (len[0]) store_le<uint32_t>(seg + len[0], crc32c(0xFFFFFFFFu, {seg, len[0]}));
    seg += len[0] + (len[0] ? kCrcSize : 0);
    uint8_t* epilogue = p + total - kEpilogueSize;
    for (size_t i = 1; i < n; ++i) {
      store_le<uint32_t>(epilogue + 1 + 4 * (i - 1), crc32c(0xFFFFFFFFu, {seg, len[i]}));
      seg += len[i];
    }
    pos += total;
  }
}
#endif

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
#ifdef POLLMSGR_FUZZ_FIX_CRCS
  std::vector<uint8_t> fixed(data + 1, data + size);
  fix_crcs(fixed);
  std::span<const uint8_t> rest(fixed);
#else
  std::span<const uint8_t> rest(data + 1, size - 1);
#endif
  run(Role::kClient, rest, rest.size() ? rest.size() : 1);
  run(Role::kServer, rest, chunk);
  return 0;
}
