#include "connectors/datagen/datagen.h"
#include "tests/support/source_runner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <numeric>
#include <thread>
#include <vector>

namespace eddy::connectors::datagen {
namespace {

using testing::RunSubtask;

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> v;
  for (int64_t x = from; x <= to; ++x) v.push_back(x);
  return v;
}

TEST(DatagenTest, SequenceSplitsIntoContiguousRangesForEveryParallelism) {
  for (auto [from, to] : {std::pair<int64_t, int64_t>{1, 100}, {-7, 5}, {0, 0}, {10, 12}}) {
    SourceDef<int64_t> def = sequence(from, to);
    EXPECT_TRUE(def.bounded);
    for (int p = 1; p <= 17; ++p) {
      std::vector<int64_t> all;
      size_t min_size = SIZE_MAX, max_size = 0;
      for (int i = 0; i < p; ++i) {
        std::vector<int64_t> part = RunSubtask(def, i, p);
        // Contiguous and increasing within a subtask.
        for (size_t k = 1; k < part.size(); ++k) ASSERT_EQ(part[k], part[k - 1] + 1);
        min_size = std::min(min_size, part.size());
        max_size = std::max(max_size, part.size());
        all.insert(all.end(), part.begin(), part.end());
      }
      // Concatenated in subtask order: exactly the range, no duplicates, no gaps.
      EXPECT_EQ(all, Range(from, to)) << "from=" << from << " to=" << to << " p=" << p;
      EXPECT_LE(max_size - min_size, 1u) << "uneven split for p=" << p;
    }
  }
}

TEST(DatagenTest, SequenceHandlesEmptyRangeAndInt64Limits) {
  EXPECT_TRUE(RunSubtask(sequence(5, 4), 0, 1).empty());
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  std::vector<int64_t> top;
  for (int i = 0; i < 3; ++i) {
    auto part = RunSubtask(sequence(kMax - 9, kMax), i, 3);
    top.insert(top.end(), part.begin(), part.end());
  }
  std::vector<int64_t> expected;
  for (int64_t k = 9; k >= 0; --k) expected.push_back(kMax - k);  // Range() would overflow
  EXPECT_EQ(top, expected);
  std::vector<int64_t> bottom = RunSubtask(sequence(kMin, kMin + 4), 0, 1);
  EXPECT_EQ(bottom, Range(kMin, kMin + 4));
}

TEST(DatagenTest, SequenceStopsWhenCancelled) {
  std::atomic<bool> cancel{true};
  EXPECT_TRUE(RunSubtask(sequence(1, 1'000'000), 0, 1, &cancel).empty());
}

TEST(DatagenTest, BoundedGeneratorCoversEveryIndexOnce) {
  GeneratorOptions opts;
  opts.count = 1000;
  auto def = generator<int64_t>([](int64_t index, std::mt19937_64&) { return index; }, opts);
  EXPECT_TRUE(def.bounded);
  EXPECT_EQ(def.name, "DataGen");
  for (int p : {1, 2, 3, 7, 16, 1001, 1500}) {
    std::vector<int64_t> all;
    for (int i = 0; i < p; ++i) {
      std::vector<int64_t> part = RunSubtask(def, i, p);
      for (int64_t index : part) ASSERT_EQ(index % p, i) << "p=" << p;
      ASSERT_TRUE(std::is_sorted(part.begin(), part.end()));
      all.insert(all.end(), part.begin(), part.end());
    }
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, Range(0, 999)) << "p=" << p;
  }
  opts.count = 0;
  EXPECT_TRUE(RunSubtask(generator<int64_t>([](int64_t i, std::mt19937_64&) { return i; }, opts), 0, 1)
                  .empty());
}

TEST(DatagenTest, GeneratorIsDeterministicPerSeed) {
  auto make = [](uint64_t seed) {
    GeneratorOptions opts;
    opts.count = 500;
    opts.seed = seed;
    return generator<uint64_t>(
        [](int64_t index, std::mt19937_64& rng) { return rng() ^ static_cast<uint64_t>(index); },
        opts);
  };
  for (int p : {1, 4}) {
    for (int i = 0; i < p; ++i) {
      EXPECT_EQ(RunSubtask(make(7), i, p), RunSubtask(make(7), i, p));
      EXPECT_NE(RunSubtask(make(7), i, p), RunSubtask(make(8), i, p));
    }
  }
  // Subtasks draw from different rng streams.
  GeneratorOptions opts;
  opts.count = 200;
  auto draws = generator<uint64_t>([](int64_t, std::mt19937_64& rng) { return rng(); }, opts);
  EXPECT_NE(RunSubtask(draws, 0, 2), RunSubtask(draws, 1, 2));
}

TEST(DatagenTest, RateLimitIsHonoured) {
  GeneratorOptions opts;
  opts.count = 200;
  opts.records_per_second = 1000;
  auto def = generator<int64_t>([](int64_t index, std::mt19937_64&) { return index; }, opts);
  int polls = 0;
  Clock::time_point start = Clock::now();
  std::vector<int64_t> records = RunSubtask(def, 0, 1, nullptr, &polls);
  Clock::duration took = Clock::now() - start;
  EXPECT_EQ(records.size(), 200u);
  EXPECT_GE(took, milliseconds(150));
  EXPECT_GT(polls, 0) << "a waiting source must let the task flush";

  // The rate is over all subtasks: each of 2 subtasks emits 100 records at 500/s.
  start = Clock::now();
  std::vector<int64_t> half = RunSubtask(def, 1, 2);
  took = Clock::now() - start;
  EXPECT_EQ(half.size(), 100u);
  EXPECT_GE(took, milliseconds(150));
}

/// Runs an unbounded generator on a thread, cancels it once it has produced two records
/// (a rate-limited one is then waiting for the third), and returns how long Run() took to
/// return after the cancel.
Clock::duration CancelLatency(double records_per_second) {
  GeneratorOptions opts;
  opts.records_per_second = records_per_second;
  auto def = generator<int64_t>([](int64_t index, std::mt19937_64&) { return index; }, opts);
  EXPECT_FALSE(def.bounded);
  std::atomic<bool> cancel{false};
  std::atomic<int64_t> emitted{0};
  std::atomic<bool> returned{false};
  std::thread runner([&] {
    struct CountingOutput final : Output<int64_t> {
      std::atomic<int64_t>* emitted;
      void Emit(const int64_t&) override { emitted->fetch_add(1); }
    } out;
    out.emitted = &emitted;
    auto source = def.factory();
    RuntimeContext rt;
    rt.cancel_flag = &cancel;
    source->Open(rt);
    SourceContext<int64_t> ctx(&out, &rt);
    source->Run(ctx);
    source->Close();
    returned = true;
  });
  Clock::time_point deadline = Clock::now() + std::chrono::seconds(10);
  while (emitted.load() < 2 && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(1));
  EXPECT_GE(emitted.load(), 2);
  Clock::time_point cancelled_at = Clock::now();
  cancel = true;
  while (!returned.load() && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(1));
  Clock::duration latency = Clock::now() - cancelled_at;
  EXPECT_TRUE(returned.load()) << "source did not stop after cancel";
  runner.join();
  return latency;
}

TEST(DatagenTest, UnboundedGeneratorStopsPromptlyWhenCancelled) {
  EXPECT_LT(CancelLatency(0), milliseconds(500));
  // At 2 records/s the source sleeps ~500 ms between records; it must not finish the sleep.
  EXPECT_LT(CancelLatency(2), milliseconds(200));
}

TEST(DatagenTest, RateScheduleForgetsDebtAfterLongStall) {
  internal::RateSchedule schedule(1000);
  Clock::time_point now = Clock::now();
  for (int i = 0; i < 10; ++i) schedule.Advance();
  Clock::time_point due = schedule.NextDue(now);
  EXPECT_GE(due - now, milliseconds(8));
  // Five seconds later (a stall): the next record is due now, not 5000 records in a burst.
  Clock::time_point later = now + std::chrono::seconds(5);
  EXPECT_EQ(schedule.NextDue(later), later);
  schedule.Advance();
  EXPECT_GE(schedule.NextDue(later) - later, std::chrono::microseconds(900));
}

}  // namespace
}  // namespace eddy::connectors::datagen
