// msgr2 costs on the data path: a 4 KiB write op encoded and decoded as a whole frame (with and
// without the data crc), and crc32c (ISA-L) against a byte-at-a-time table implementation.
#include <benchmark/benchmark.h>

#include <vector>

#include "proto/crc32c.h"
#include "proto/message.h"
#include "proto/osd_messages.h"

namespace pollmsgr::bench {
namespace {

using namespace proto;

void BM_WriteOpEncodeDecode(benchmark::State& state) {
  const bool data_crc = state.range(1) != 0;
  std::vector<uint8_t> payload(static_cast<size_t>(state.range(0)), 0xab);
  OsdOpRequest op;
  op.object = "rbd_data.1234.0000000000000001";
  op.ops.add(OsdOp::extent(osd_op::kWrite, 0, payload.size(), static_cast<uint32_t>(payload.size())));
  std::vector<uint8_t> wire(message_head_size(osd_op_front_size(op), 0) + payload.size() +
                            kEpilogueSize);
  FrameDecoder decoder({}, data_crc);
  OsdOpRequest decoded;
  uint64_t tid = 0;
  for (auto _ : state) {
    // Encode: front straight into the frame buffer, then the data, then the epilogue.
    op.ops.items[0].offset = (++tid * payload.size()) % (4u << 20);
    std::span<uint8_t> front_space(wire.data() + kMessageFrontOffset,
                                   wire.size() - kMessageFrontOffset);
    const size_t front_len = encode_front(front_space, op);
    MsgHeader2 h;
    h.type = kMsgOsdOp;
    h.tid = tid;
    auto head = encode_message_head(wire, h, front_space.first(front_len), {}, payload, data_crc);
    std::memcpy(wire.data() + head->head_size, payload.data(), payload.size());
    std::memcpy(wire.data() + head->head_size + payload.size(), head->epilogue.data(),
                head->epilogue_size);
    // Decode it back, in place.
    std::span<const uint8_t> in(wire.data(), head->frame_size(payload.size()));
    Frame f;
    auto step = decoder.next(in, f);
    auto m = decode_message(f);
    const ProtoError e = decode_osd_op(m->front, 8, m->data.size(), decoded);
    if (!step.ok() || e != ProtoError::kOk || decoded.ops.items[0].offset != op.ops.items[0].offset)
      state.SkipWithError("round trip failed");
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_WriteOpEncodeDecode)
    ->ArgNames({"bytes", "data_crc"})
    ->Args({4096, 1})
    ->Args({4096, 0})
    ->Args({64, 1});

template <uint32_t (*Crc)(uint32_t, std::span<const uint8_t>)>
void BM_Crc32c(benchmark::State& state) {
  std::vector<uint8_t> data(static_cast<size_t>(state.range(0)), 0x5a);
  uint32_t crc = 0xFFFFFFFF;
  for (auto _ : state) {
    crc = Crc(crc, data);
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Crc32c<crc32c>)->Name("BM_Crc32c_isal")->Arg(64)->Arg(4096)->Arg(1 << 20);
BENCHMARK(BM_Crc32c<crc32c_bytewise>)->Name("BM_Crc32c_bytewise")->Arg(64)->Arg(4096)->Arg(1 << 20);

}  // namespace
}  // namespace pollmsgr::bench
