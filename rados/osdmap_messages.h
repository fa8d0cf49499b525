#pragma once
// The two messages that keep a client's OSDMap current, as Ceph 16.2.15 encodes them:
//   MMonSubscribe  "send me osdmaps from epoch N on" (start 0: the newest full map)
//   MOSDMap        full and incremental maps, from the mon or from any OSD (proto::decode_osd_map)
// and bringing an OsdMap up to date from an MOSDMap. Sans-I/O.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proto/osd_messages.h"
#include "rados/osdmap.h"

namespace pollmsgr::rados {

inline constexpr uint16_t kMsgMonSubscribe = 15;  // CEPH_MSG_MON_SUBSCRIBE
inline constexpr uint16_t kMonSubscribeHeadVersion = 3, kMonSubscribeCompatVersion = 1;

struct MonSubscribe {
  std::string_view what = "osdmap";
  uint64_t start = 0;  // the first epoch wanted; 0: the newest full map
  bool onetime = false;  // false: and every map after it, as it is made
};
std::vector<uint8_t> encode_mon_subscribe(const MonSubscribe& m);

// Moves `map` to the newest epoch the message makes reachable: an incremental for each next
// epoch, or a full map (the newest, when the map is empty or the message skips epochs). Returns
// false with `error` when a map in it does not decode; the map is then at the last good epoch.
// Maps older than `map` are ignored. `gap` is set when the message starts past map.epoch + 1
// with no full map to bridge it: the client must ask for the missing epochs.
bool apply_osdmap_message(const proto::OsdMapMessage& m, OsdMap& map, std::string& error, bool* gap = nullptr);

}  // namespace pollmsgr::rados
