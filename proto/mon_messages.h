#pragma once
// The two monitor messages the interop test uses: MMonGetVersion ("what is the newest osdmap?")
// and its reply, as Ceph encodes them.
#include <cstdint>
#include <span>
#include <string_view>

#include "proto/errors.h"

namespace pollmsgr::proto {

inline constexpr uint16_t kMsgMonGetVersion = 19;       // CEPH_MSG_MON_GET_VERSION
inline constexpr uint16_t kMsgMonGetVersionReply = 20;  // CEPH_MSG_MON_GET_VERSION_REPLY

struct MonGetVersion {
  uint64_t handle = 0;
  std::string_view what;  // "osdmap", "mdsmap", ...
};
struct MonGetVersionReply {
  uint64_t handle = 0;
  uint64_t version = 0;
  uint64_t oldest_version = 0;
};

size_t encode_front(std::span<uint8_t> out, const MonGetVersion& m);  // 0 when out is too small
Result<MonGetVersionReply> decode_mon_get_version_reply(std::span<const uint8_t> front);

}  // namespace pollmsgr::proto
