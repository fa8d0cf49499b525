// The floor every pollmsgr round trip is held against: a raw cache-line ping-pong between two
// pinned lcores (the main lcore and the first worker). Needs two lcores: -- --lcores 0-1.
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include <atomic>

#include "bench/bench_runtime.h"

namespace pollmsgr::bench {
namespace {

struct alignas(64) Line {
  std::atomic<uint64_t> value{0};
};
Line ping, pong;
std::atomic<bool> stop_echo{false};

int echo(void*) {
  uint64_t last = pong.value.load();
  while (!stop_echo.load(std::memory_order_relaxed)) {
    const uint64_t v = ping.value.load(std::memory_order_acquire);
    if (v != last) {
      pong.value.store(v, std::memory_order_release);
      last = v;
    } else {
      rte_pause();
    }
  }
  return 0;
}

void BM_CacheLinePingPong(benchmark::State& state) {
  const unsigned worker = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);
  if (worker >= RTE_MAX_LCORE) {
    state.SkipWithError("needs two lcores: pollmsgr_bench ... -- --lcores 0-1");
    return;
  }
  stop_echo = false;
  rte_eal_remote_launch(echo, nullptr, worker);
  uint64_t seq = pong.value.load();
  for (auto _ : state) {
    ping.value.store(++seq, std::memory_order_release);
    while (pong.value.load(std::memory_order_acquire) != seq) rte_pause();
  }
  stop_echo = true;
  rte_eal_wait_lcore(worker);
  state.counters["rtt_ns"] = benchmark::Counter(
      static_cast<double>(state.iterations()), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_CacheLinePingPong)->UseRealTime();

}  // namespace
}  // namespace pollmsgr::bench
