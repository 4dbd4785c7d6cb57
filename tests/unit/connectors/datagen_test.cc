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
TEST(DatagenTest, RateLimitedReaderAsksToBeWokenInsteadOfSleeping) {
  GeneratorOptions opts;
  opts.records_per_second = 2;  // one record every 500 ms
  auto def = generator<int64_t>([](int64_t index, std::mt19937_64&) { return index; }, opts);
  EXPECT_FALSE(def.bounded);
  auto reader = def.factory();
  RuntimeContext rt;
  eddy::testing::RecordingWaker waker;
  reader->Open(rt, &waker);
  Output<int64_t> out;  // no targets: drops records
  ReaderOutput<int64_t> reader_out(&out);
  const auto start = Clock::now();
  EXPECT_EQ(reader->PollNext(reader_out), InputStatus::kNothingAvailable);
  EXPECT_EQ(reader_out.emitted(), 1u);  // the first record is due at once
  EXPECT_EQ(reader->PollNext(reader_out), InputStatus::kNothingAvailable);
  EXPECT_EQ(reader_out.emitted(), 1u);
  // It returned at once (the task's mailbox keeps running) and asked to be woken ~500 ms on.
  EXPECT_LT(Clock::now() - start, milliseconds(100));
  EXPECT_GT(waker.wake_at - start, milliseconds(400));
  EXPECT_LT(waker.wake_at - start, milliseconds(600));
}

TEST(DatagenTest, RateScheduleForgetsDebtAfterLongStall) {
  RateSchedule schedule(1000);
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
