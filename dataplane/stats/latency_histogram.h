#pragma once
// A log-linear (HDR-style) latency histogram: exact below 128, then 64 sub-buckets per power of
// two (at most 1.6% relative error), up to 2^63. Fixed size, no allocation: one per lcore,
// merged at the end.
#include <array>
#include <cstddef>
#include <cstdint>

namespace pollmsgr {

class LatencyHistogram {
 public:
  void record(uint64_t value);
  void merge(const LatencyHistogram& other);
  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0; }
  // The value at or below which `percent` of the recorded values lie (bucket midpoint, clamped
  // to the exact min and max).
  uint64_t percentile(double percent) const;
  void reset() { *this = LatencyHistogram{}; }
  // Calls f(low, high, count) for each bucket that holds values, in increasing order.
  template <class F>
  void for_each_bucket(F&& f) const {
    for (size_t b = 0; b < kBuckets; ++b)
      if (counts_[b]) f(bucket_low(b), bucket_high(b), counts_[b]);
  }

  static size_t bucket_of(uint64_t value);
  static uint64_t bucket_low(size_t bucket);
  static uint64_t bucket_high(size_t bucket);

 private:
  static constexpr int kSubBits = 6;
  static constexpr size_t kSub = size_t{1} << kSubBits;
  static constexpr size_t kBuckets = (63 - kSubBits + 2) * kSub;  // bucket_of(UINT64_MAX) + 1
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0, sum_ = 0, min_ = UINT64_MAX, max_ = 0;
};

}  // namespace pollmsgr
