#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "proto/crc32c.h"

namespace pollmsgr::proto {
namespace {

TEST(Crc32c, KnownVectorsWithoutInversion) {
  // The standard check value 0xE3069283 is for seed ~0 with final inversion; Ceph inverts
  // neither, so crc32c(~0, "123456789") is its complement.
  const std::string check = "123456789";
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(check.data()), check.size());
  EXPECT_EQ(~crc32c(0xFFFFFFFF, bytes), 0xE3069283u);
  EXPECT_EQ(crc32c(0xFFFFFFFF, {}), 0xFFFFFFFFu);
  EXPECT_EQ(crc32c(0, {}), 0u);
}

TEST(Crc32c, FastMatchesBytewiseAtEveryLengthAndAlignment) {
  std::vector<uint8_t> data(5000);
  std::mt19937 rng(7);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (size_t offset = 0; offset < 8; ++offset)
    for (size_t len = 0; len < 300; ++len)
      ASSERT_EQ(crc32c(0x1234, {data.data() + offset, len}),
                crc32c_bytewise(0x1234, {data.data() + offset, len}))
          << offset << "/" << len;
  EXPECT_EQ(crc32c(0xFFFFFFFF, data), crc32c_bytewise(0xFFFFFFFF, data));
}

TEST(Crc32c, ChainsAcrossPieces) {
  std::vector<uint8_t> data(1000, 0x5a);
  uint32_t whole = crc32c(0xFFFFFFFF, data);
  uint32_t part = crc32c(0xFFFFFFFF, std::span(data).first(333));
  EXPECT_EQ(crc32c(part, std::span(data).subspan(333)), whole);
}

}  // namespace
}  // namespace pollmsgr::proto
