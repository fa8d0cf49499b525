#include "proto/mon_messages.h"

#include <cstdio>

#include "proto/wire.h"

namespace pollmsgr::proto {
namespace {

// PaxosServiceMessage's head: u64 version, s16 session mon, u64 session mon tid (unused).
constexpr size_t kPaxosHeadSize = 8 + 2 + 8;
void encode_paxos_head(WireWriter& w) {
  w.u64(0);
  w.u16(0xffff);  // -1
  w.u64(0);
}

}  // namespace

std::string to_string(const Fsid& fsid) {
  char out[37];
  char* p = out;
  for (size_t i = 0; i < fsid.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    p += std::snprintf(p, 3, "%02x", fsid[i]);
  }
  return {out, 36};
}

size_t encode_front(std::span<uint8_t> out, const MonGetVersion& m) {
  WireWriter w(out);
  w.u64(m.handle);
  w.string(m.what);
  return w.ok() ? w.size() : 0;
}

Result<MonGetVersionReply> decode_mon_get_version_reply(std::span<const uint8_t> front) {
  WireReader r(front);
  MonGetVersionReply m;
  m.handle = r.u64();
  m.version = r.u64();
  m.oldest_version = r.u64();  // added in v2 of the reply; Pacific sends it
  if (!r.ok()) return ProtoError::kMalformedPayload;
  return m;
}

Result<Fsid> decode_mon_map_fsid(std::span<const uint8_t> front) {
  WireReader r(front);
  auto monmap = r.blob();
  WireReader m(monmap);
  m.u8();  // struct version
  m.u8();  // compat
  m.u32();  // length
  auto raw = m.bytes(16);
  if (!r.ok() || !m.ok()) return ProtoError::kMalformedPayload;
  Fsid fsid;
  std::copy(raw.begin(), raw.end(), fsid.begin());
  return fsid;
}

size_t mon_command_front_size(const MonCommand& m) {
  return kPaxosHeadSize + 16 + 4 + 4 + m.command.size();
}

size_t encode_front(std::span<uint8_t> out, const MonCommand& m) {
  WireWriter w(out);
  encode_paxos_head(w);
  w.bytes(m.fsid);
  w.u32(1);  // vector<string> of one
  w.string(m.command);
  return w.ok() ? w.size() : 0;
}

Result<MonCommandAck> decode_mon_command_ack(std::span<const uint8_t> front) {
  WireReader r(front);
  r.bytes(kPaxosHeadSize);
  MonCommandAck a;
  a.result = r.s32();
  a.status = r.string();
  const uint32_t n = r.u32();  // the command, echoed
  for (uint32_t i = 0; i < n && r.ok(); ++i) r.string();
  if (!r.ok()) return ProtoError::kMalformedPayload;
  return a;
}

}  // namespace pollmsgr::proto
