#include "dataplane/stats/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace pollmsgr {

size_t LatencyHistogram::bucket_of(uint64_t v) {
  if (v < 2 * kSub) return static_cast<size_t>(v);
  const int exponent = 63 - std::countl_zero(v);  // >= kSubBits + 1
  const int shift = exponent - kSubBits;
  const uint64_t sub = v >> shift;  // kSub .. 2*kSub-1
  return static_cast<size_t>(exponent - kSubBits + 1) * kSub + static_cast<size_t>(sub - kSub);
}

uint64_t LatencyHistogram::bucket_low(size_t b) {
  if (b < 2 * kSub) return b;
  const int shift = static_cast<int>(b / kSub) - 1;
  return (kSub + b % kSub) << shift;
}

uint64_t LatencyHistogram::bucket_high(size_t b) {
  if (b < 2 * kSub) return b;
  const int shift = static_cast<int>(b / kSub) - 1;
  return bucket_low(b) + (uint64_t{1} << shift) - 1;
}

void LatencyHistogram::record(uint64_t v) {
  ++counts_[bucket_of(v)];
  ++count_;
  sum_ += v;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
}

void LatencyHistogram::merge(const LatencyHistogram& o) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
  count_ += o.count_;
  sum_ += o.sum_;
  min_ = std::min(min_, o.min_);
  max_ = std::max(max_, o.max_);
}

uint64_t LatencyHistogram::percentile(double percent) const {
  if (count_ == 0) return 0;
  const auto rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(percent / 100.0 * static_cast<double>(count_))));
  if (rank >= count_) return max_;  // the largest value is known exactly
  uint64_t seen = 0;
  for (size_t b = 0; b < kBuckets; ++b) {
    seen += counts_[b];
    if (seen >= rank) {
      const uint64_t mid = bucket_low(b) + (bucket_high(b) - bucket_low(b)) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace pollmsgr
