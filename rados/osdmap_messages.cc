#include "rados/osdmap_messages.h"

#include "proto/wire.h"

namespace pollmsgr::rados {

std::vector<uint8_t> encode_mon_subscribe(const MonSubscribe& m) {
  std::vector<uint8_t> out(4 + 4 + m.what.size() + 9 + 4);
  proto::WireWriter w(out);
  w.u32(1);  // map<string, ceph_mon_subscribe_item>
  w.string(m.what);
  w.u64(m.start);
  w.u8(m.onetime ? 1 : 0);  // CEPH_SUBSCRIBE_ONETIME
  w.string("");  // our hostname: only daemons name theirs
  return out;
}

bool apply_osdmap_message(const proto::OsdMapMessage& m, OsdMap& map, std::string& error, bool* gap) {
  if (gap) *gap = false;
  const uint32_t last = m.last();
  if (last <= map.epoch) return true;  // nothing new
  // Without the next incremental, start from the newest full map (Ceph's Objecter does too).
  if (map.epoch == 0 || !m.incrementals.contains(map.epoch + 1)) {
    if (m.fulls.empty() || m.fulls.rbegin()->first <= map.epoch) {
      if (gap) *gap = true;
      return true;
    }
    OsdMap full;
    if (!decode_osdmap(m.fulls.rbegin()->second, full, error)) return false;
    if (map.epoch != 0 && full.fsid != map.fsid) {
      error = "OSDMap: a map of another cluster (fsid)";
      return false;
    }
    map = std::move(full);
  }
  for (uint32_t e = map.epoch + 1; e <= last; ++e) {
    if (auto inc = m.incrementals.find(e); inc != m.incrementals.end()) {
      if (!apply_incremental(inc->second, map, error)) return false;
    } else if (auto f = m.fulls.find(e); f != m.fulls.end()) {
      OsdMap full;
      if (!decode_osdmap(f->second, full, error)) return false;
      map = std::move(full);
    } else {
      if (gap) *gap = true;
      return true;
    }
  }
  return true;
}

}  // namespace pollmsgr::rados
