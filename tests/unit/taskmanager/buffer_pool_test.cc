#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <set>
#include <thread>
#include <vector>

#include "taskmanager/network/buffer.h"

namespace eddy::net {
namespace {

using std::chrono::milliseconds;

TEST(BufferPoolTest, HandsOutAtMostTotalBuffers) {
  BufferPool pool(4, 1024);
  EXPECT_EQ(pool.total(), 4u);
  EXPECT_EQ(pool.buffer_size(), 1024u);
  std::vector<Buffer> taken;
  std::set<const char*> segments;
  for (int i = 0; i < 4; ++i) {
    Buffer b = pool.TryRequest();
    ASSERT_TRUE(b);
    EXPECT_EQ(b.capacity(), 1024u);
    EXPECT_EQ(b.size(), 0u);
    EXPECT_EQ(b.kind(), BufferKind::kData);
    segments.insert(b.data());
    taken.push_back(std::move(b));
  }
  EXPECT_EQ(segments.size(), 4u);
  EXPECT_EQ(pool.available(), 0u);
  EXPECT_FALSE(pool.TryRequest());
  // Segments do not overlap: fill each with its own byte and read back.
  for (size_t i = 0; i < taken.size(); ++i) std::memset(taken[i].data(), int(i), 1024);
  for (size_t i = 0; i < taken.size(); ++i) {
    for (size_t j = 0; j < 1024; ++j) ASSERT_EQ(taken[i].data()[j], char(i));
  }
  taken.clear();
  EXPECT_EQ(pool.available(), 4u);
}

TEST(BufferPoolTest, RequestTimesOutWhenExhausted) {
  BufferPool pool(1, 64);
  Buffer held = pool.TryRequest();
  ASSERT_TRUE(held);
  auto start = std::chrono::steady_clock::now();
  Buffer none = pool.Request(milliseconds(50));
  EXPECT_FALSE(none);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(50));
}

TEST(BufferPoolTest, BlockedRequestGetsRecycledBuffer) {
  BufferPool pool(1, 64);
  Buffer held = pool.TryRequest();
  ASSERT_TRUE(held);
  char* segment = held.data();
  auto waiter = std::async(std::launch::async, [&] { return pool.Request(milliseconds(30000)); });
  // Whether the waiter already blocks or not, dropping the buffer must hand it over.
  held = Buffer();
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  Buffer got = waiter.get();
  ASSERT_TRUE(got);
  EXPECT_EQ(got.data(), segment);
  EXPECT_EQ(pool.available(), 0u);
}

TEST(BufferPoolTest, DestructionRecyclesSegment) {
  BufferPool pool(2, 64);
  {
    Buffer a = pool.TryRequest();
    Buffer b = pool.TryRequest();
    EXPECT_EQ(pool.available(), 0u);
  }
  EXPECT_EQ(pool.available(), 2u);
  Buffer c = pool.TryRequest();
  c.Reset();
  EXPECT_FALSE(c);
  EXPECT_EQ(pool.available(), 2u);
}

TEST(BufferPoolTest, MoveTransfersOwnership) {
  BufferPool pool(2, 64);
  Buffer a = pool.TryRequest();
  std::memcpy(a.data(), "hello", 5);
  a.set_size(5);
  a.set_kind(BufferKind::kEvent);
  char* segment = a.data();

  Buffer b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.data(), segment);
  EXPECT_EQ(b.view(), "hello");
  EXPECT_EQ(b.kind(), BufferKind::kEvent);
  EXPECT_EQ(pool.available(), 1u);

  // Move-assigning over a buffer returns the overwritten one's segment.
  Buffer c = pool.TryRequest();
  EXPECT_EQ(pool.available(), 0u);
  c = std::move(b);
  EXPECT_EQ(pool.available(), 1u);
  EXPECT_EQ(c.data(), segment);
  EXPECT_EQ(c.view(), "hello");

  // Self-move leaves the buffer intact.
  Buffer& alias = c;
  c = std::move(alias);
  EXPECT_EQ(c.data(), segment);
  EXPECT_EQ(pool.available(), 1u);
}

TEST(BufferPoolTest, EndOfPartitionOwnsNoMemory) {
  BufferPool pool(1, 64);
  Buffer eop = Buffer::EndOfPartition();
  EXPECT_TRUE(eop);
  EXPECT_EQ(eop.kind(), BufferKind::kEndOfPartition);
  EXPECT_EQ(eop.data(), nullptr);
  EXPECT_EQ(eop.size(), 0u);
  EXPECT_EQ(pool.available(), 1u);
  Buffer empty;
  EXPECT_FALSE(empty);
}

class CountingRecycler final : public BufferRecycler {
 public:
  void Recycle(Buffer segment) override {
    ++calls;
    last_size = segment.size();
    kept.push_back(std::move(segment));
  }
  int calls = 0;
  size_t last_size = 99;
  std::vector<Buffer> kept;
};

TEST(BufferPoolTest, RecyclerGetsSegmentInsteadOfPool) {
  BufferPool pool(2, 64);
  auto recycler = std::make_shared<CountingRecycler>();
  {
    Buffer b = pool.TryRequest();
    b.set_size(10);
    b.AttachRecycler(recycler);
    EXPECT_TRUE(b.has_recycler());
    Buffer moved = std::move(b);     // the recycler travels with the memory
    EXPECT_FALSE(b.has_recycler());  // NOLINT(bugprone-use-after-move)
  }
  EXPECT_EQ(recycler->calls, 1);
  EXPECT_EQ(recycler->last_size, 0u);  // a segment comes back blank
  EXPECT_EQ(pool.available(), 1u);     // kept by the recycler
  ASSERT_EQ(recycler->kept.size(), 1u);
  EXPECT_FALSE(recycler->kept[0].has_recycler());
  recycler->kept.clear();
  EXPECT_EQ(pool.available(), 2u);
}

TEST(BufferPoolTest, CancelledRequestWakesUp) {
  BufferPool pool(1, 64);
  Buffer held = pool.TryRequest();
  std::atomic<bool> cancelled{false};
  auto waiter =
      std::async(std::launch::async, [&] { return pool.RequestUntil(std::nullopt, &cancelled); });
  cancelled = true;
  pool.WakeWaiters();
  ASSERT_EQ(waiter.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_FALSE(waiter.get());
  EXPECT_EQ(pool.available(), 0u);  // still held by `held`
}

TEST(BufferPoolTest, ManyThreadsShareTheBound) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  BufferPool pool(3, 128);
  std::atomic<int> in_use{0};
  std::atomic<int> max_in_use{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int r = 0; r < kRounds; ++r) {
        Buffer b = pool.Request(milliseconds(30000));
        ASSERT_TRUE(b);
        int now = ++in_use;
        int prev = max_in_use.load();
        while (now > prev && !max_in_use.compare_exchange_weak(prev, now)) {
        }
        --in_use;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(max_in_use.load(), 3);
  EXPECT_EQ(pool.available(), 3u);
}

}  // namespace
}  // namespace eddy::net
