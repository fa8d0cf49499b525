#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <set>
#include <vector>

#include "dataplane/mem/buffer_pool.h"
#include "tests/unit/eal_environment.h"

namespace pollmsgr {
namespace {

TEST(BufferPool, GetGivesAnEmptyBufferThatKnowsItsPool) {
  BufferPool pool("t_basic", 4096, 64);
  Buffer* b = pool.get();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->pool, &pool);
  EXPECT_EQ(b->capacity, 4096u);
  EXPECT_EQ(b->length, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b->data()) % 64, 0u);
  b->data()[4095] = 0x5a;  // the whole capacity is ours
  b->length = 4096;
  b->release();
  EXPECT_EQ(pool.available(), 64u);
}

TEST(BufferPool, EmptyPoolAnswersNullAndRecovers) {
  BufferPool pool("t_exhaust", 1024, 16);
  std::vector<Buffer*> taken;
  while (Buffer* b = pool.get()) taken.push_back(b);
  EXPECT_EQ(taken.size(), 16u);
  EXPECT_EQ(pool.get(), nullptr);
  EXPECT_EQ(pool.get(), nullptr);  // still backpressure, no abort
  std::set<Buffer*> distinct(taken.begin(), taken.end());
  EXPECT_EQ(distinct.size(), 16u);
  taken.back()->release();
  taken.pop_back();
  Buffer* again = pool.get();
  ASSERT_NE(again, nullptr);
  taken.push_back(again);
  for (Buffer* b : taken) b->release();
  EXPECT_EQ(pool.available(), 16u);
}

TEST(BufferPool, BulkGetIsAllOrNothing) {
  BufferPool pool("t_bulk", 512, 8);
  Buffer* bufs[8];
  ASSERT_TRUE(pool.get_bulk(bufs, 6));
  Buffer* more[4];
  EXPECT_FALSE(pool.get_bulk(more, 4));
  EXPECT_EQ(pool.available(), 2u);
  for (Buffer* b : std::span(bufs, 6)) b->release();
}

TEST(BufferPool, ReleaseReturnsToTheOwningPool) {
  BufferPool small("t_own_s", 256, 8);
  BufferPool big("t_own_b", 8192, 8);
  Buffer* a = small.get();
  Buffer* b = big.get();
  EXPECT_EQ(small.available(), 7u);
  EXPECT_EQ(big.available(), 7u);
  b->release();
  a->release();
  EXPECT_EQ(small.available(), 8u);
  EXPECT_EQ(big.available(), 8u);
}

TEST(BufferPool, MemoryChunksCoverEveryBufferAndLkeysAreSet) {
  BufferPool pool("t_chunks", 4096, 32);
  std::vector<std::pair<uintptr_t, size_t>> chunks;
  pool.for_each_memory_chunk([&](void* addr, size_t len) {
    chunks.emplace_back(reinterpret_cast<uintptr_t>(addr), len);
  });
  ASSERT_FALSE(chunks.empty());
  pool.set_keys([&](const void* addr) -> BufferPool::Keys {
    auto a = reinterpret_cast<uintptr_t>(addr);
    for (size_t i = 0; i < chunks.size(); ++i)
      if (a >= chunks[i].first && a + 4096 <= chunks[i].first + chunks[i].second)
        return {static_cast<uint32_t>(100 + i), static_cast<uint32_t>(200 + i)};
    return {0, 0};
  });
  std::vector<Buffer*> all(32);
  ASSERT_TRUE(pool.get_bulk(all.data(), 32));
  for (Buffer* b : all) {
    EXPECT_GE(b->lkey, 100u);
    EXPECT_EQ(b->rkey, b->lkey + 100);
  }
  for (Buffer* b : all) b->release();
}


TEST(BufferPool, SharedAcrossLcoresWithoutLoss) {
  BufferPool pool("t_lcores", 2048, 512);
  std::atomic<int> errors{0};
  int rc = test::EalEnvironment::runtime().run_on_all_lcores([&](unsigned) {
    Buffer* held[32];
    for (int round = 0; round < 20000; ++round) {
      if (!pool.get_bulk(held, 32)) continue;  // the other lcore holds some: back off
      for (Buffer* b : held)
        if (b->pool != &pool) ++errors;
      for (Buffer* b : held) b->release();
    }
    return 0;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(pool.available(), 512u);
}

TEST(Runtime, EachLcoreRunsPinnedToItsCpu) {
  auto& rt = test::EalEnvironment::runtime();
  std::atomic<int> mismatches{0}, ran{0};
  rt.run_on_all_lcores([&](unsigned lcore) {
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof(set), &set);
    if (CPU_COUNT(&set) != 1 || !CPU_ISSET(rt.cpu_of(lcore), &set)) ++mismatches;
    ++ran;
    return 0;
  });
  EXPECT_EQ(ran.load(), static_cast<int>(rt.lcores().size()));
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace pollmsgr
