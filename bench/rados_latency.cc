// rados_latency: librados (Ceph's own client, event-driven) writing as `rados bench write
// --no-hints` does (a new object per op, `concurrency` in flight), with every op's latency
// recorded in pollmsgr's histogram: the same percentiles as perf_msgr_client prints, which
// `rados bench` (an average, min and max) does not give. The reference for tools/compare --ceph.
//
//   rados_latency CEPH_CONF POOL SECONDS SIZE CONCURRENCY [--json FILE]
#include <rados/librados.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "dataplane/stats/latency_histogram.h"

namespace {

using Clock = std::chrono::steady_clock;
uint64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

[[noreturn]] void die(const std::string& what, int err = 0) {
  std::fprintf(stderr, "rados_latency: %s%s%s\n", what.c_str(), err ? ": " : "",
               err ? std::strerror(-err) : "");
  std::exit(1);
}

// One op in flight: librados calls back on its finisher thread when the write is safe.
struct Slot {
  rados_completion_t completion = nullptr;
  uint64_t sent_ns = 0;
  std::atomic<uint64_t> done_ns{0};
};

void on_complete(rados_completion_t, void* arg) {
  static_cast<Slot*>(arg)->done_ns.store(now_ns(), std::memory_order_release);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6 && argc != 8)
    die("usage: rados_latency CEPH_CONF POOL SECONDS SIZE CONCURRENCY [--json FILE]");
  const char* conf = argv[1];
  const char* pool = argv[2];
  const double seconds = std::atof(argv[3]);
  const size_t size = std::strtoull(argv[4], nullptr, 10);
  const unsigned concurrency = static_cast<unsigned>(std::atoi(argv[5]));
  const std::string json_path = argc == 8 ? argv[7] : "";
  if (seconds <= 0 || concurrency == 0) die("SECONDS and CONCURRENCY must be positive");

  rados_t cluster;
  rados_ioctx_t io;
  if (int r = rados_create(&cluster, "admin"); r < 0) die("rados_create", r);
  if (int r = rados_conf_read_file(cluster, conf); r < 0) die(std::string("reading ") + conf, r);
  if (int r = rados_connect(cluster); r < 0) die("rados_connect", r);
  if (int r = rados_ioctx_create(cluster, pool, &io); r < 0) die(std::string("pool ") + pool, r);

  std::vector<char> data(size);
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>(i * 7 + 1);
  const std::string prefix = "rados_latency." + std::to_string(getpid()) + ".";
  std::vector<Slot> slots(concurrency);
  pollmsgr::LatencyHistogram histogram;  // in nanoseconds
  uint64_t next = 0, completed = 0;
  const uint64_t start = now_ns();
  const uint64_t end = start + static_cast<uint64_t>(seconds * 1e9);

  auto submit = [&](Slot& s) {
    s.done_ns.store(0, std::memory_order_relaxed);
    if (int r = rados_aio_create_completion2(&s, on_complete, &s.completion); r < 0)
      die("rados_aio_create_completion2", r);
    const std::string oid = prefix + std::to_string(next++);
    s.sent_ns = now_ns();
    if (int r = rados_aio_write(io, oid.c_str(), s.completion, data.data(), size, 0); r < 0)
      die("rados_aio_write", r);
  };
  for (auto& s : slots) submit(s);
  // Oldest first, as rados bench waits; each op's latency is from its send to its callback.
  for (size_t i = 0;; i = (i + 1) % concurrency) {
    Slot& s = slots[i];
    if (!s.completion) break;
    rados_aio_wait_for_complete(s.completion);
    while (s.done_ns.load(std::memory_order_acquire) == 0) {
    }
    if (int r = rados_aio_get_return_value(s.completion); r < 0) die("a write failed", r);
    histogram.record(s.done_ns.load() - s.sent_ns);
    ++completed;
    rados_aio_release(s.completion);
    s.completion = nullptr;
    if (now_ns() < end) submit(s);
  }
  const double elapsed = double(now_ns() - start) / 1e9;
  for (uint64_t n = 0; n < next; ++n) rados_remove(io, (prefix + std::to_string(n)).c_str());
  rados_ioctx_destroy(io);
  rados_shutdown(cluster);

  auto us = [](uint64_t ns) { return double(ns) / 1e3; };
  std::printf("rados_latency: %llu writes of %zu B, %u in flight, %.0f ops/s\n",
              static_cast<unsigned long long>(completed), size, concurrency, completed / elapsed);
  std::printf("  round trip, us:  min %.3f  p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
              us(histogram.min()), us(histogram.percentile(50)), us(histogram.percentile(99)),
              us(histogram.percentile(99.9)), us(histogram.max()), histogram.mean() / 1e3);
  if (!json_path.empty()) {
    std::ofstream f(json_path);
    f << "{\"ops\": " << completed << ", \"iops\": " << completed / elapsed
      << ", \"latency_us\": {\"min\": " << us(histogram.min())
      << ", \"p50\": " << us(histogram.percentile(50)) << ", \"p99\": " << us(histogram.percentile(99))
      << ", \"p99.9\": " << us(histogram.percentile(99.9)) << ", \"max\": " << us(histogram.max())
      << ", \"mean\": " << histogram.mean() / 1e3 << "}, \"cdf\": [";
    uint64_t below = 0;
    bool first = true;
    histogram.for_each_bucket([&](uint64_t, uint64_t high, uint64_t count) {
      below += count;
      f << (first ? "" : ", ") << "[" << us(high) << ", " << double(below) / histogram.count() << "]";
      first = false;
    });
    f << "]}\n";
  }
  return 0;
}
