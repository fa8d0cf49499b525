#pragma once
// Payloads of msgr2's control frames (segment 0), as Ceph's frames_v2 defines them.
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "proto/entity_addr.h"
#include "proto/errors.h"
#include "proto/frame.h"
#include "proto/wire.h"

namespace pollmsgr::proto {

inline constexpr uint32_t kAuthMethodNone = 1;  // CEPH_AUTH_NONE
inline constexpr uint32_t kConModeCrc = 1;      // ms_mode crc
inline constexpr uint64_t kFeatureMsgAddr2 = 1ull << 59;  // required to encode entity_addrvec_t
inline constexpr uint64_t kConnectLossy = 1;    // CEPH_MSG_CONNECT_LOSSY in ident flags

struct HelloFrame {
  static constexpr Tag kTag = Tag::kHello;
  EntityType entity_type{};
  EntityAddr peer_addr;  // the peer's address as the sender sees it
};
struct AuthRequestFrame {
  static constexpr Tag kTag = Tag::kAuthRequest;
  uint32_t method = kAuthMethodNone;
  std::vector<uint32_t> preferred_modes;
  std::span<const uint8_t> auth_payload;
};
struct AuthBadMethodFrame {
  static constexpr Tag kTag = Tag::kAuthBadMethod;
  uint32_t method = 0;
  int32_t result = 0;
  std::vector<uint32_t> allowed_methods;
  std::vector<uint32_t> allowed_modes;
};
struct AuthReplyMoreFrame {  // a further auth round, server to client (not used by auth none)
  static constexpr Tag kTag = Tag::kAuthReplyMore;
  std::span<const uint8_t> auth_payload;
};
struct AuthRequestMoreFrame {
  static constexpr Tag kTag = Tag::kAuthRequestMore;
  std::span<const uint8_t> auth_payload;
};
struct AuthDoneFrame {
  static constexpr Tag kTag = Tag::kAuthDone;
  uint64_t global_id = 0;
  uint32_t con_mode = kConModeCrc;
  std::span<const uint8_t> auth_payload;
};
struct AuthSignatureFrame {
  static constexpr Tag kTag = Tag::kAuthSignature;
  std::array<uint8_t, 32> sha256{};  // all zero when the session key is empty (auth none)
};
struct ClientIdentFrame {
  static constexpr Tag kTag = Tag::kClientIdent;
  EntityAddrVec addrs;
  EntityAddr target_addr;
  int64_t gid = -1;
  uint64_t global_seq = 0;
  uint64_t supported_features = 0;
  uint64_t required_features = 0;
  uint64_t flags = 0;
  uint64_t cookie = 0;
};
struct ServerIdentFrame {
  static constexpr Tag kTag = Tag::kServerIdent;
  EntityAddrVec addrs;
  int64_t gid = 0;
  uint64_t global_seq = 0;
  uint64_t supported_features = 0;
  uint64_t required_features = 0;
  uint64_t flags = 0;
  uint64_t cookie = 0;
};
struct IdentMissingFeaturesFrame {
  static constexpr Tag kTag = Tag::kIdentMissingFeatures;
  uint64_t features = 0;
};
struct Timestamp {  // utime_t / ceph_timespec
  uint32_t sec = 0;
  uint32_t nsec = 0;
  bool operator==(const Timestamp&) const = default;
};
struct Keepalive2Frame {
  static constexpr Tag kTag = Tag::kKeepalive2;
  Timestamp stamp;
};
struct Keepalive2AckFrame {
  static constexpr Tag kTag = Tag::kKeepalive2Ack;
  Timestamp stamp;  // echoed from the KEEPALIVE2
};
struct AckFrame {
  static constexpr Tag kTag = Tag::kAck;
  uint64_t seq = 0;
};
struct SessionResetFrame {
  static constexpr Tag kTag = Tag::kSessionReset;
  bool full = false;
};
struct ReconnectFrame {
  static constexpr Tag kTag = Tag::kSessionReconnect;
  EntityAddrVec addrs;
  uint64_t client_cookie = 0, server_cookie = 0, global_seq = 0, connect_seq = 0, msg_seq = 0;
};
struct RetryFrame {
  static constexpr Tag kTag = Tag::kSessionRetry;
  uint64_t connect_seq = 0;
};
struct RetryGlobalFrame {
  static constexpr Tag kTag = Tag::kSessionRetryGlobal;
  uint64_t global_seq = 0;
};
struct ReconnectOkFrame {
  static constexpr Tag kTag = Tag::kSessionReconnectOk;
  uint64_t msg_seq = 0;
};
struct WaitFrame {
  static constexpr Tag kTag = Tag::kWait;
};
struct CompressionRequestFrame {  // pollmsgr never compresses; decoded to answer "no"
  static constexpr Tag kTag = Tag::kCompressionRequest;
  bool is_compress = false;
  std::vector<uint32_t> preferred_methods;
};
struct CompressionDoneFrame {
  static constexpr Tag kTag = Tag::kCompressionDone;
  bool is_compress = false;
  uint32_t method = 0;
};

#define POLLMSGR_CONTROL_FRAME(F)                 \
  void encode(WireWriter& w, const F& f);         \
  bool decode(std::span<const uint8_t> seg, F& f);
POLLMSGR_CONTROL_FRAME(HelloFrame)
POLLMSGR_CONTROL_FRAME(AuthRequestFrame)
POLLMSGR_CONTROL_FRAME(AuthBadMethodFrame)
POLLMSGR_CONTROL_FRAME(AuthReplyMoreFrame)
POLLMSGR_CONTROL_FRAME(AuthRequestMoreFrame)
POLLMSGR_CONTROL_FRAME(AuthDoneFrame)
POLLMSGR_CONTROL_FRAME(AuthSignatureFrame)
POLLMSGR_CONTROL_FRAME(ClientIdentFrame)
POLLMSGR_CONTROL_FRAME(ServerIdentFrame)
POLLMSGR_CONTROL_FRAME(IdentMissingFeaturesFrame)
POLLMSGR_CONTROL_FRAME(Keepalive2Frame)
POLLMSGR_CONTROL_FRAME(Keepalive2AckFrame)
POLLMSGR_CONTROL_FRAME(AckFrame)
POLLMSGR_CONTROL_FRAME(SessionResetFrame)
POLLMSGR_CONTROL_FRAME(ReconnectFrame)
POLLMSGR_CONTROL_FRAME(RetryFrame)
POLLMSGR_CONTROL_FRAME(RetryGlobalFrame)
POLLMSGR_CONTROL_FRAME(ReconnectOkFrame)
POLLMSGR_CONTROL_FRAME(WaitFrame)
POLLMSGR_CONTROL_FRAME(CompressionRequestFrame)
POLLMSGR_CONTROL_FRAME(CompressionDoneFrame)
#undef POLLMSGR_CONTROL_FRAME

// A whole control frame (preamble, payload, crc) into `out`; 0 when `out` is too small.
template <class F>
size_t encode_frame(std::span<uint8_t> out, const F& f) {
  return encode_control_frame(out, F::kTag, [&](WireWriter& w) { encode(w, f); });
}

// Who a client says it is with auth method none. A monitor takes the "mon" form (mode byte 10,
// with the global_id the client had, 0 for none yet) and assigns a global_id in AUTH_DONE; every
// other daemon takes the authorizer form (version byte 1) with the global_id the mon gave, and
// answers `_auth_bad_method` to the mon form.
inline constexpr uint8_t kAuthNoneModeMon = 10, kAuthNoneAuthorizerVersion = 1;
inline constexpr size_t kMaxEntityName = 256;
struct AuthNoneIdentity {
  EntityType type = EntityType::kClient;
  std::string_view name;  // "admin" in client.admin
  uint64_t global_id = 0;
  bool mon_form = false;
};
std::vector<uint8_t> encode_auth_none_payload(const AuthNoneIdentity& id);
Result<AuthNoneIdentity> decode_auth_none_payload(std::span<const uint8_t> payload);

}  // namespace pollmsgr::proto
