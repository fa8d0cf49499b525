#include "proto/mon_messages.h"

#include "proto/wire.h"

namespace pollmsgr::proto {

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

}  // namespace pollmsgr::proto
