// libFuzzer: the rdma receive path's reading of what a peer sent (verbs/rdma_wire.h): any
// immediate data, any bytes, either state of our receive queue, any READ limit. What it decides
// must be something the sender was allowed to ask for. And the same bytes as a record on Ceph's
// side channel (verbs/ceph_wire.h): one that parses is exactly what Ceph would have written.
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "verbs/ceph_wire.h"
#include "verbs/rdma_wire.h"

using namespace pollmsgr::verbs;

namespace {

void check_ceph_record(std::span<const uint8_t> bytes) {
  const auto r = parse_ceph_record(bytes);
  if (!r) return;
  if (!looks_like_ceph_record(bytes.first(5)) || r->qpn > 0xffffff || r->psn > 0xffffff ||
      r->peer_qpn > 0xffffff)
    std::abort();
  const auto text = format_ceph_record(*r);  // lower-case hex; a peer may have used upper
  for (size_t i = 0; i < kCephRecordSize; ++i)
    if (std::tolower(bytes[i]) != text[i]) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == kCephRecordSize) check_ceph_record({data, size});
  if (size < 9) return 0;
  uint32_t imm_bits, max_read;
  std::memcpy(&imm_bits, data, 4);
  std::memcpy(&max_read, data + 4, 4);
  const bool rx_full = data[8] & 1;
  const Imm imm = decode_imm(imm_bits);
  if (encode_imm(imm) != imm_bits) std::abort();  // the layout holds every bit
  const std::span<const uint8_t> bytes(data + 9, size - 9);
  const Received r = classify_receive(imm, bytes, rx_full, max_read);
  switch (r.kind) {
    case Received::kStream:
      if (imm.descriptor || bytes.empty() || rx_full) std::abort();
      break;
    case Received::kCreditsOnly:
      if (imm.descriptor || !bytes.empty()) std::abort();
      break;
    case Received::kRead:
      if (!imm.descriptor || rx_full || r.read.length == 0 || r.read.length > max_read ||
          bytes.size() != sizeof(ReadDescriptor))
        std::abort();
      break;
    case Received::kFault:
      break;
    default:
      std::abort();
  }
  return 0;
}
