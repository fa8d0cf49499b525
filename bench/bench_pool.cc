// Buffer pool get+put against the baseline it replaces, malloc+free, per buffer size.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fmt/format.h>
#include <map>
#include <memory>

#include "bench/bench_runtime.h"
#include "dataplane/mem/buffer_pool.h"

namespace pollmsgr::bench {
namespace {

BufferPool& pool_for(uint32_t size) {
  static std::map<uint32_t, std::unique_ptr<BufferPool>> pools;
  auto& p = pools[size];
  if (!p)
    p = std::make_unique<BufferPool>(fmt::format("bench_{}", size), size,
                                     size >= (1u << 20) ? 64 : 1024);
  return *p;
}

void BM_PoolGetPut(benchmark::State& state) {
  BufferPool& pool = pool_for(static_cast<uint32_t>(state.range(0)));
  for (auto _ : state) {
    Buffer* b = pool.get();
    benchmark::DoNotOptimize(b);
    b->data()[0] = 1;
    pool.put(b);
  }
}

void BM_MallocFree(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    auto* p = static_cast<uint8_t*>(std::malloc(size));
    benchmark::DoNotOptimize(p);
    p[0] = 1;
    std::free(p);
  }
}

BENCHMARK(BM_PoolGetPut)->Arg(4 << 10)->Arg(64 << 10)->Arg(1 << 20);
BENCHMARK(BM_MallocFree)->Arg(4 << 10)->Arg(64 << 10)->Arg(1 << 20);

}  // namespace
}  // namespace pollmsgr::bench
