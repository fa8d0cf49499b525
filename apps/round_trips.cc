#include "apps/round_trips.h"

#include <fmt/format.h>
#include <rte_cycles.h>

namespace pollmsgr::perf {

void RoundTrips::merge(const RoundTrips& o) {
  histogram_.merge(o.histogram_);
  if (o.measured()) {
    first_ = first_ == 0 ? o.first_ : std::min(first_, o.first_);
    last_ = std::max(last_, o.last_);
  }
  completed_.fetch_add(o.completed(), std::memory_order_relaxed);
}

double to_us(uint64_t cycles) { return double(cycles) * 1e6 / double(rte_get_tsc_hz()); }

std::string latency_line(const LatencyHistogram& h) {
  return fmt::format("min {:.3f}  p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}  p99.99 {:.3f}  "
                     "max {:.3f}",
                     to_us(h.min()), to_us(h.percentile(50)), to_us(h.percentile(90)),
                     to_us(h.percentile(99)), to_us(h.percentile(99.9)),
                     to_us(h.percentile(99.99)), to_us(h.max()));
}

nlohmann::json latency_json(const LatencyHistogram& h) {
  return {{"min", to_us(h.min())},          {"p50", to_us(h.percentile(50))},
          {"p90", to_us(h.percentile(90))}, {"p99", to_us(h.percentile(99))},
          {"p99.9", to_us(h.percentile(99.9))}, {"p99.99", to_us(h.percentile(99.99))},
          {"max", to_us(h.max())},          {"mean", to_us(uint64_t(h.mean()))}};
}

nlohmann::json cdf_json(const LatencyHistogram& h) {
  nlohmann::json cdf = nlohmann::json::array();
  uint64_t below = 0;
  h.for_each_bucket([&](uint64_t, uint64_t high, uint64_t count) {
    below += count;
    cdf.push_back({to_us(high), double(below) / double(h.count())});
  });
  return cdf;
}

}  // namespace pollmsgr::perf
