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

bool decode_osdmap_message(std::span<const uint8_t> front, OsdMapMessage& out, std::string& error) {
  proto::WireReader r(front);
  out = OsdMapMessage{};
  auto fsid = r.bytes(16);
  if (r.ok()) std::copy(fsid.begin(), fsid.end(), out.fsid.begin());
  for (auto* maps : {&out.incrementals, &out.fulls}) {  // incrementals come first
    for (uint32_t i = 0, n = r.count(8); i < n && r.ok(); ++i) {
      const uint32_t epoch = r.u32();
      (*maps)[epoch] = r.blob();
    }
  }
  if (r.remaining() >= 8) {  // v2 on
    out.oldest = r.u32();
    out.newest = r.u32();
  }
  if (!r.ok()) error = "MOSDMap: it ends before its last map";
  return r.ok();
}

bool apply_osdmap_message(const OsdMapMessage& m, OsdMap& map, std::string& error, bool* gap) {
  if (gap) *gap = false;
  const uint32_t last = std::max(m.incrementals.empty() ? 0 : m.incrementals.rbegin()->first,
                                 m.fulls.empty() ? 0 : m.fulls.rbegin()->first);
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
