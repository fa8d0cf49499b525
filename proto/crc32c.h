#pragma once
#include <cstdint>
#include <span>

namespace pollmsgr::proto {

// CRC-32C as Ceph computes it: the reflected Castagnoli polynomial (0x82F63B78) with no pre- or
// post-inversion; the caller supplies the seed (msgr2: 0 for preambles, 0xFFFFFFFF for segments).
// Backed by ISA-L's crc32_iscsi (SSE4.2/PCLMUL), Ceph's own choice.
uint32_t crc32c(uint32_t seed, std::span<const uint8_t> bytes);

// The same function one byte at a time with a lookup table: the reference the fast one is
// tested and benchmarked against.
uint32_t crc32c_bytewise(uint32_t seed, std::span<const uint8_t> bytes);

}  // namespace pollmsgr::proto
