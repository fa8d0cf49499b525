#include "proto/control_frames.h"

namespace pollmsgr::proto {
namespace {

constexpr uint32_t kMaxListEntries = 64;  // auth method and mode lists are a handful long

void encode_list(WireWriter& w, const std::vector<uint32_t>& v) {
  w.u32(static_cast<uint32_t>(v.size()));
  for (uint32_t x : v) w.u32(x);
}
std::vector<uint32_t> decode_list(WireReader& r) {
  std::vector<uint32_t> v;
  const uint32_t n = r.u32();
  if (n > kMaxListEntries) {
    r.fail();
    return v;
  }
  for (uint32_t i = 0; i < n && r.ok(); ++i) v.push_back(r.u32());
  return v;
}

}  // namespace

void encode(WireWriter& w, const HelloFrame& f) {
  w.u8(static_cast<uint8_t>(f.entity_type));
  encode(w, f.peer_addr);
}
bool decode(std::span<const uint8_t> seg, HelloFrame& f) {
  WireReader r(seg);
  f.entity_type = static_cast<EntityType>(r.u8());
  f.peer_addr = decode_entity_addr(r);
  return r.ok();
}

void encode(WireWriter& w, const AuthRequestFrame& f) {
  w.u32(f.method);
  encode_list(w, f.preferred_modes);
  w.blob(f.auth_payload);
}
bool decode(std::span<const uint8_t> seg, AuthRequestFrame& f) {
  WireReader r(seg);
  f.method = r.u32();
  f.preferred_modes = decode_list(r);
  f.auth_payload = r.blob();
  return r.ok();
}

void encode(WireWriter& w, const AuthBadMethodFrame& f) {
  w.u32(f.method);
  w.s32(f.result);
  encode_list(w, f.allowed_methods);
  encode_list(w, f.allowed_modes);
}
bool decode(std::span<const uint8_t> seg, AuthBadMethodFrame& f) {
  WireReader r(seg);
  f.method = r.u32();
  f.result = r.s32();
  f.allowed_methods = decode_list(r);
  f.allowed_modes = decode_list(r);
  return r.ok();
}

// Frames made of one bufferlist.
#define POLLMSGR_BLOB_FRAME(F)                                           \
  void encode(WireWriter& w, const F& f) { w.blob(f.auth_payload); }   \
  bool decode(std::span<const uint8_t> seg, F& f) {                   \
    WireReader r(seg);                                                \
    f.auth_payload = r.blob();                                        \
    return r.ok();                                                    \
  }
POLLMSGR_BLOB_FRAME(AuthReplyMoreFrame)
POLLMSGR_BLOB_FRAME(AuthRequestMoreFrame)
#undef POLLMSGR_BLOB_FRAME

void encode(WireWriter& w, const AuthDoneFrame& f) {
  w.u64(f.global_id);
  w.u32(f.con_mode);
  w.blob(f.auth_payload);
}
bool decode(std::span<const uint8_t> seg, AuthDoneFrame& f) {
  WireReader r(seg);
  f.global_id = r.u64();
  f.con_mode = r.u32();
  f.auth_payload = r.blob();
  return r.ok();
}

void encode(WireWriter& w, const AuthSignatureFrame& f) { w.bytes(f.sha256); }
bool decode(std::span<const uint8_t> seg, AuthSignatureFrame& f) {
  WireReader r(seg);
  auto b = r.bytes(f.sha256.size());
  if (r.ok()) std::copy(b.begin(), b.end(), f.sha256.begin());
  return r.ok();
}

void encode(WireWriter& w, const ClientIdentFrame& f) {
  encode(w, f.addrs);
  encode(w, f.target_addr);
  w.s64(f.gid);
  for (uint64_t v : {f.global_seq, f.supported_features, f.required_features, f.flags, f.cookie})
    w.u64(v);
}
bool decode(std::span<const uint8_t> seg, ClientIdentFrame& f) {
  WireReader r(seg);
  f.addrs = decode_entity_addrvec(r);
  f.target_addr = decode_entity_addr(r);
  f.gid = r.s64();
  for (uint64_t* v : {&f.global_seq, &f.supported_features, &f.required_features, &f.flags,
                      &f.cookie})
    *v = r.u64();
  return r.ok();
}

void encode(WireWriter& w, const ServerIdentFrame& f) {
  encode(w, f.addrs);
  w.s64(f.gid);
  for (uint64_t v : {f.global_seq, f.supported_features, f.required_features, f.flags, f.cookie})
    w.u64(v);
}
bool decode(std::span<const uint8_t> seg, ServerIdentFrame& f) {
  WireReader r(seg);
  f.addrs = decode_entity_addrvec(r);
  f.gid = r.s64();
  for (uint64_t* v : {&f.global_seq, &f.supported_features, &f.required_features, &f.flags,
                      &f.cookie})
    *v = r.u64();
  return r.ok();
}

// Frames made of one le64.
#define POLLMSGR_U64_FRAME(F, field)                      \
  void encode(WireWriter& w, const F& f) { w.u64(f.field); } \
  bool decode(std::span<const uint8_t> seg, F& f) {        \
    WireReader r(seg);                                     \
    f.field = r.u64();                                     \
    return r.ok();                                         \
  }
POLLMSGR_U64_FRAME(IdentMissingFeaturesFrame, features)
POLLMSGR_U64_FRAME(AckFrame, seq)
POLLMSGR_U64_FRAME(RetryFrame, connect_seq)
POLLMSGR_U64_FRAME(RetryGlobalFrame, global_seq)
POLLMSGR_U64_FRAME(ReconnectOkFrame, msg_seq)
#undef POLLMSGR_U64_FRAME

void encode(WireWriter& w, const Keepalive2Frame& f) {
  w.u32(f.stamp.sec);
  w.u32(f.stamp.nsec);
}
bool decode(std::span<const uint8_t> seg, Keepalive2Frame& f) {
  WireReader r(seg);
  f.stamp = {r.u32(), r.u32()};
  return r.ok();
}
void encode(WireWriter& w, const Keepalive2AckFrame& f) { encode(w, Keepalive2Frame{f.stamp}); }
bool decode(std::span<const uint8_t> seg, Keepalive2AckFrame& f) {
  Keepalive2Frame k;
  if (!decode(seg, k)) return false;
  f.stamp = k.stamp;
  return true;
}

void encode(WireWriter& w, const SessionResetFrame& f) { w.u8(f.full ? 1 : 0); }
bool decode(std::span<const uint8_t> seg, SessionResetFrame& f) {
  WireReader r(seg);
  f.full = r.u8() != 0;
  return r.ok();
}

void encode(WireWriter& w, const ReconnectFrame& f) {
  encode(w, f.addrs);
  for (uint64_t v : {f.client_cookie, f.server_cookie, f.global_seq, f.connect_seq, f.msg_seq})
    w.u64(v);
}
bool decode(std::span<const uint8_t> seg, ReconnectFrame& f) {
  WireReader r(seg);
  f.addrs = decode_entity_addrvec(r);
  for (uint64_t* v : {&f.client_cookie, &f.server_cookie, &f.global_seq, &f.connect_seq,
                      &f.msg_seq})
    *v = r.u64();
  return r.ok();
}

void encode(WireWriter&, const WaitFrame&) {}
bool decode(std::span<const uint8_t>, WaitFrame&) { return true; }

void encode(WireWriter& w, const CompressionRequestFrame& f) {
  w.u8(f.is_compress ? 1 : 0);
  encode_list(w, f.preferred_methods);
}
bool decode(std::span<const uint8_t> seg, CompressionRequestFrame& f) {
  WireReader r(seg);
  f.is_compress = r.u8() != 0;
  f.preferred_methods = decode_list(r);
  return r.ok();
}
void encode(WireWriter& w, const CompressionDoneFrame& f) {
  w.u8(f.is_compress ? 1 : 0);
  w.u32(f.method);
}
bool decode(std::span<const uint8_t> seg, CompressionDoneFrame& f) {
  WireReader r(seg);
  f.is_compress = r.u8() != 0;
  f.method = r.u32();
  return r.ok();
}

std::vector<uint8_t> encode_auth_none_payload(const AuthNoneIdentity& id) {
  std::vector<uint8_t> out(1 + 4 + 4 + id.name.size() + 8);
  WireWriter w(out);
  w.u8(id.mon_form ? kAuthNoneModeMon : kAuthNoneAuthorizerVersion);
  w.u32(static_cast<uint32_t>(id.type));  // EntityName: type, then the id string
  w.string(id.name);
  w.u64(id.global_id);
  return out;
}

Result<AuthNoneIdentity> decode_auth_none_payload(std::span<const uint8_t> payload) {
  WireReader r(payload);
  AuthNoneIdentity id;
  const uint8_t mode = r.u8();
  if (mode != kAuthNoneModeMon && mode != kAuthNoneAuthorizerVersion)
    return ProtoError::kMalformedPayload;
  id.mon_form = mode == kAuthNoneModeMon;
  id.type = static_cast<EntityType>(r.u32());
  id.name = r.string();
  id.global_id = r.u64();
  if (!r.ok() || id.name.size() > kMaxEntityName) return ProtoError::kMalformedPayload;
  return id;
}

}  // namespace pollmsgr::proto
