#pragma once
// What a client lcore measures: round trips after the warm-up into a histogram, the span of
// time they cover, and a count of every completion for the progress line (read on another
// lcore). The perf client merges one per lcore at the end and prints or writes the result.
#include <atomic>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "dataplane/messenger/dispatcher.h"
#include "dataplane/stats/latency_histogram.h"

namespace pollmsgr::perf {

class RoundTrips {
 public:
  // `warmup_end` (TSC: what completes before it is not measured) is read at each record, so
  // that it can be set once the connections are up, just before the loops start.
  explicit RoundTrips(const uint64_t& warmup_end) : warmup_end_(warmup_end) {}
  void record(uint64_t sent_at, uint64_t now) {
    if (now >= warmup_end_) {
      histogram_.record(now - sent_at);
      last_ = std::max(last_, now);
      if (first_ == 0 || sent_at < first_) first_ = sent_at;
    }
    completed_.store(completed_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // An op that is not measured (set-up or clean-up) but counts for progress and CPU per op.
  void count_unmeasured() {
    completed_.store(completed_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void merge(const RoundTrips& other);
  uint64_t completed() const { return completed_.load(std::memory_order_relaxed); }
  const LatencyHistogram& histogram() const { return histogram_; }
  uint64_t measured() const { return histogram_.count(); }
  // The measured ops' span: from the first one's send to the last one's completion (TSC).
  uint64_t span_cycles() const { return measured() ? last_ - first_ : 0; }

 private:
  const uint64_t& warmup_end_;
  LatencyHistogram histogram_;
  uint64_t first_ = 0, last_ = 0;
  std::atomic<uint64_t> completed_{0};
};

// A client lcore's workload: the dispatcher that sends, checks and measures.
class ClientWorkload : public Dispatcher {
 public:
  virtual const RoundTrips& round_trips() const = 0;
  virtual uint64_t errors() const = 0;
  // No new ops from now (SIGINT): the jobs end once what is in flight is answered.
  void stop_sending() { stopping_ = true; }
  // Lossless: one outage per session resumed.
  void on_resumed(Connection&, uint64_t outage) override { outages_.record(outage); }
  const LatencyHistogram& outages() const { return outages_; }

 protected:
  bool stopping_ = false;
  LatencyHistogram outages_;
};

double to_us(uint64_t cycles);
// "round trip, us:  min ... p50 ... max ..." for a histogram of TSC cycles.
std::string latency_line(const LatencyHistogram& h);
nlohmann::json latency_json(const LatencyHistogram& h);
// [upper bound in us, fraction at or below], one point per histogram bucket.
nlohmann::json cdf_json(const LatencyHistogram& h);

}  // namespace pollmsgr::perf
