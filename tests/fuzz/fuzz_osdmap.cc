// fuzz_osdmap: bytes from a hostile mon or OSD as an OSDMap, with the crc made right first (so
// that what is past the crc check is reached): the first byte chooses a full map or an
// incremental applied to a real epoch-40 map; whatever decodes is then used to place every PG.
// Nothing may crash, hang (CRUSH bounds its tries), or allocate by a count it was sent.
#include <cstdint>
#include <cstdio>
#include <vector>

#include "proto/crc32c.h"
#include "proto/wire.h"
#include "rados/osdmap.h"

using namespace pollmsgr;

namespace {

const rados::OsdMap& base_map() {
  static const rados::OsdMap map = [] {
    rados::OsdMap m;
    std::FILE* f = std::fopen(POLLMSGR_FUZZ_DATA_DIR "/osdmap/full_40.bin", "rb");
    std::vector<uint8_t> bytes(1 << 16);
    bytes.resize(f ? std::fread(bytes.data(), 1, bytes.size(), f) : 0);
    if (f) std::fclose(f);
    std::string error;
    if (!rados::decode_osdmap(bytes, m, error)) std::abort();  // the seed itself must decode
    return m;
  }();
  return map;
}

void place_everything(const rados::OsdMap& m) {
  for (const auto& [id, pool] : m.pools)
    for (uint32_t ps = 0; ps < pool.pg_num && ps < 256; ++ps) m.map_pg({id, ps});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  const bool incremental = data[0] & 1;
  std::vector<uint8_t> bytes(data + 1, data + size);
  const size_t n = bytes.size();
  std::string error;
  if (!incremental) {
    proto::store_le<uint32_t>(&bytes[n - 4], proto::crc32c(0xffffffff, std::span(bytes).first(n - 4)));
    rados::OsdMap m;
    if (rados::decode_osdmap(bytes, m, error)) place_everything(m);
  } else {  // inc_crc, then full_crc: the first covers everything else
    const uint32_t crc = proto::crc32c(proto::crc32c(0xffffffff, std::span(bytes).first(n - 8)),
                                       std::span(bytes).subspan(n - 4));
    proto::store_le<uint32_t>(&bytes[n - 8], crc);
    rados::OsdMap m = base_map();
    if (rados::apply_incremental(bytes, m, error)) place_everything(m);
  }
  return 0;
}
