#include "proto/crc32c.h"

#include <isa-l/crc.h>
#include <nmmintrin.h>

#include <array>
#include <cstring>

namespace pollmsgr::proto {

namespace {

// Short inputs (preambles, headers, fronts) with the SSE4.2 instruction: ISA-L's folding
// kernel pays a set-up cost that dominates below a few hundred bytes.
constexpr size_t kSmallInput = 256;

uint32_t crc32c_small(uint32_t c, const uint8_t* p, size_t n) {
  uint64_t c64 = c;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c64 = _mm_crc32_u64(c64, v);
  }
  c = static_cast<uint32_t>(c64);
  for (; n > 0; --n, ++p) c = _mm_crc32_u8(c, *p);
  return c;
}

}  // namespace

uint32_t crc32c(uint32_t seed, std::span<const uint8_t> bytes) {
  if (bytes.size() < kSmallInput) return crc32c_small(seed, bytes.data(), bytes.size());
  // crc32_iscsi takes an int length; split larger inputs.
  constexpr size_t kMaxChunk = 1u << 30;
  while (bytes.size() > kMaxChunk) {
    seed = crc32_iscsi(const_cast<uint8_t*>(bytes.data()), static_cast<int>(kMaxChunk), seed);
    bytes = bytes.subspan(kMaxChunk);
  }
  return crc32_iscsi(const_cast<uint8_t*>(bytes.data()), static_cast<int>(bytes.size()), seed);
}

namespace {

constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr auto kTable = make_table();

}  // namespace

uint32_t crc32c_bytewise(uint32_t seed, std::span<const uint8_t> bytes) {
  uint32_t c = seed;
  for (uint8_t b : bytes) c = kTable[(c ^ b) & 0xFF] ^ (c >> 8);
  return c;
}

}  // namespace pollmsgr::proto
