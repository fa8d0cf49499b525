// libFuzzer: the rdma receive path's reading of what a peer sent (verbs/rdma_wire.h): any
// immediate data, any bytes, either state of our receive queue, any READ limit. What it decides
// must be something the sender was allowed to ask for.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "verbs/rdma_wire.h"

using namespace pollmsgr::verbs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
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
