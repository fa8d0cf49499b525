#pragma once
// The monitor messages a benchmark client needs, as Ceph encodes them:
//   MMonGetVersion / reply  "what is the newest osdmap?"
//   MMonGetMap / MMonMap    the monmap, for the cluster's fsid (every command must name it)
//   MMonCommand / ack       a JSON command ("osd dump", "pg map") and its answer, whose output
//                           travels in the ack's data segment
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "proto/errors.h"

namespace pollmsgr::proto {

inline constexpr uint16_t kMsgMonMap = 4;               // CEPH_MSG_MON_MAP
inline constexpr uint16_t kMsgMonGetMap = 5;            // CEPH_MSG_MON_GET_MAP (empty front)
inline constexpr uint16_t kMsgMonGetVersion = 19;       // CEPH_MSG_MON_GET_VERSION
inline constexpr uint16_t kMsgMonGetVersionReply = 20;  // CEPH_MSG_MON_GET_VERSION_REPLY
inline constexpr uint16_t kMsgMonCommand = 50;          // MSG_MON_COMMAND
inline constexpr uint16_t kMsgMonCommandAck = 51;       // MSG_MON_COMMAND_ACK

using Fsid = std::array<uint8_t, 16>;
std::string to_string(const Fsid& fsid);  // 8-4-4-4-12 hex, as Ceph prints it

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

// MMonMap's front is the encoded monmap as a bufferlist; its fsid comes first.
Result<Fsid> decode_mon_map_fsid(std::span<const uint8_t> front);

struct MonCommand {
  Fsid fsid{};
  std::string_view command;  // one JSON object, e.g. {"prefix": "osd dump", "format": "json"}
};
size_t mon_command_front_size(const MonCommand& m);
size_t encode_front(std::span<uint8_t> out, const MonCommand& m);
struct MonCommandAck {
  int32_t result = 0;     // 0 or -errno
  std::string_view status;  // "rs": a line of text
};
Result<MonCommandAck> decode_mon_command_ack(std::span<const uint8_t> front);

}  // namespace pollmsgr::proto
