// Sources with a watermark strategy (JobBuilder::source(def, extractor, strategy) and
// source(def, strategy)): timestamps from an inlined extractor or the reader, one watermark
// generator per split (ReaderOutput::ForSplit / ReleaseSplit), the minimum over active
// splits, idle splits and an idle source, the final MAX watermark; and the generator the
// timestamp assigner shares. Driven by a scripted reader through the source harness.
#include "api/watermark_generator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "api/datastream.h"
#include "tests/support/source_runner.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using testing::SourceHarness;

constexpr int kDefaultSplit = -1;

struct Reading {
  int64_t ts;
  int split;  // kDefaultSplit: collected without a split
};
EDDY_FIELDS(Reading, ts, split);

/// The reader's own timestamps differ from Reading::ts by this, to tell which one a
/// record got.
constexpr int64_t kReaderSkew = 1'000'000;

/// One record a scripted poll emits: Reading{ts, split}, in `split` (or the default split),
/// with the reader's timestamp ts + kReaderSkew.
struct Emit {
  int split;
  int64_t ts;
};

/// What the next PollNext() of the scripted reader does.
struct Script {
  std::vector<Emit> records;
  std::vector<int> release;  // splits released after the records
  InputStatus status = InputStatus::kNothingAvailable;
  std::vector<int> open;     // splits opened (ForSplit) before the records, emitting nothing
};

/// A reader that plays the script the test sets before each poll (then nothing).
SourceDef<Reading> ScriptedSource(std::shared_ptr<Script> script, bool bounded) {
  struct Scripted final : SourceReader<Reading> {
    explicit Scripted(std::shared_ptr<Script> s) : script(std::move(s)) {}
    InputStatus PollNext(ReaderOutput<Reading>& out) override {
      for (int s : script->open) out.ForSplit(SplitIndex(static_cast<uint32_t>(s)));
      for (const Emit& e : script->records) {
        const Reading r{e.ts, e.split};
        if (e.split == kDefaultSplit) {
          out.Collect(r, e.ts + kReaderSkew);
        } else {
          out.ForSplit(SplitIndex(static_cast<uint32_t>(e.split))).Collect(r, e.ts + kReaderSkew);
        }
      }
      for (int s : script->release) out.ReleaseSplit(SplitIndex(static_cast<uint32_t>(s)));
      InputStatus status = script->status;
      *script = Script{};
      return status;
    }
    std::shared_ptr<Script> script;
  };
  return SourceDef<Reading>{"Scripted", bounded, [script] { return std::make_unique<Scripted>(script); }};
}

class SourceWatermarksTest : public ::testing::Test {
 protected:
  /// Opens the scripted source with timestamps from Reading::ts and `strategy`.
  SourceHarness<Reading>& OpenWithExtractor(WatermarkStrategy strategy, bool bounded = false) {
    return Open(job_.source(ScriptedSource(script_, bounded), &Reading::ts, strategy).node_index());
  }
  SourceHarness<Reading>& Open(int node) {
    harness_ = std::make_unique<SourceHarness<Reading>>(job_.node(node));
    harness_->Open();
    return *harness_;
  }
  /// Polls once: emits `records`, then releases the splits `release`.
  InputStatus Poll(std::vector<Emit> records, std::vector<int> release = {},
                   InputStatus status = InputStatus::kMoreAvailable, std::vector<int> open = {}) {
    *script_ = Script{std::move(records), std::move(release), status, std::move(open)};
    return harness_->Poll();
  }
  static Emit At(int split, int64_t ts) { return Emit{split, ts}; }

  std::shared_ptr<Script> script_ = std::make_shared<Script>();
  JobBuilder job_{"source-watermarks", 1};
  std::unique_ptr<SourceHarness<Reading>> harness_;
};

TEST_F(SourceWatermarksTest, WatermarkIsTheMinimumOverSplitsAndNeverRegresses) {
  constexpr int64_t kDisorder = 50;
  auto& h = OpenWithExtractor(bounded_out_of_orderness(std::chrono::milliseconds(kDisorder)));
  // Split 0 advances 100 ms per round, split 1 only 30 ms; each is out of order by < 50 ms.
  // The reference is a plain loop over the same records: the largest timestamp per split.
  int64_t max_ts[2] = {kNoTimestamp, kNoTimestamp};
  std::vector<EventTime> expected;
  for (int round = 1; round <= 20; ++round) {
    std::vector<Emit> records = {At(0, round * 100), At(1, round * 30), At(0, round * 100 - 40),
                                 At(1, round * 30 - 20), At(0, round * 100 - 10)};
    for (const Emit& e : records) max_ts[e.split] = std::max(max_ts[e.split], e.ts);
    Poll(records);
    h.AdvanceProcessingTime(200);
    const EventTime wm = std::min(max_ts[0], max_ts[1]) - kDisorder - 1;
    if (expected.empty() || wm > expected.back()) expected.push_back(wm);
    ASSERT_EQ(h.watermarks(), expected) << "round " << round;
  }
  EXPECT_EQ(h.watermarks().back(), 20 * 30 - kDisorder - 1);  // held by the slow split
  EXPECT_TRUE(std::is_sorted(h.watermarks().begin(), h.watermarks().end()));
  EXPECT_EQ(std::adjacent_find(h.watermarks().begin(), h.watermarks().end()), h.watermarks().end());
  // Timestamps come from the extractor (Reading::ts), not from the reader.
  ASSERT_EQ(h.records().size(), 100u);
  for (const auto& r : h.records()) EXPECT_EQ(r.timestamp, r.value.ts);
  EXPECT_TRUE(h.statuses().empty());
}

TEST_F(SourceWatermarksTest, IdleSplitIsLeftOutAfterTheTimeoutAndRejoinsWhenItEmits) {
  auto& h = OpenWithExtractor(monotonous().with_idleness(std::chrono::seconds(1)));
  Poll({At(0, 100), At(1, 100)});
  h.SetProcessingTime(200);
  EXPECT_THAT(h.watermarks(), ElementsAre(99));
  // Split 0 falls silent; split 1 advances 100 ms per 200 ms of processing time. Split 0
  // holds the watermark until it has been silent for a second (last record seen at 200).
  int64_t b = 100;
  for (int64_t now = 400; now <= 1'000; now += 200) {
    Poll({At(1, b += 100)});
    h.SetProcessingTime(now);
    EXPECT_THAT(h.watermarks(), ElementsAre(99)) << now;
  }
  Poll({At(1, b += 100)});
  h.SetProcessingTime(1'200);  // split 0 idle: the watermark follows split 1
  EXPECT_THAT(h.watermarks(), ElementsAre(99, 599));
  Poll({At(1, 700)});
  h.SetProcessingTime(1'400);
  EXPECT_THAT(h.watermarks(), ElementsAre(99, 599, 699));
  EXPECT_TRUE(h.statuses().empty());  // split 1 is active, so the source is

  // Split 0 speaks again, a little ahead of the watermark: it rejoins the minimum and holds
  // the watermark while split 1 runs on.
  Poll({At(0, 750), At(1, 800)});
  h.SetProcessingTime(1'600);
  EXPECT_THAT(h.watermarks(), ElementsAre(99, 599, 699, 749));
  Poll({At(1, 900)});
  h.SetProcessingTime(1'800);
  Poll({At(1, 1'000)});
  h.SetProcessingTime(2'000);
  EXPECT_THAT(h.watermarks(), ElementsAre(99, 599, 699, 749));
  EXPECT_TRUE(h.statuses().empty());
}

TEST_F(SourceWatermarksTest, AllSplitsIdleMakesTheSourceIdleAndARecordMakesItActive) {
  auto& h = OpenWithExtractor(monotonous().with_idleness(std::chrono::milliseconds(500)));
  Poll({At(0, 1'000), At(1, 2'000)});
  h.SetProcessingTime(200);
  EXPECT_THAT(h.watermarks(), ElementsAre(999));
  h.SetProcessingTime(600);
  EXPECT_TRUE(h.statuses().empty());  // 400 ms without records: not yet
  h.SetProcessingTime(800);
  EXPECT_THAT(h.statuses(), ElementsAre(WatermarkStatus::kIdle));
  // No split holds the watermark back any more: it goes as far as split 1 got, then idle.
  EXPECT_THAT(h.watermarks(), ElementsAre(999, 1'999));
  h.SetProcessingTime(2'000);  // idle: no watermark, no second idle status
  EXPECT_EQ(h.trace(), "rrwwi");

  // A record of split 1: active before the record; split 0 stays idle, so split 1 alone
  // moves the watermark.
  Poll({At(1, 3'000)});
  EXPECT_EQ(h.trace(), "rrwwiar");
  h.SetProcessingTime(2'200);
  EXPECT_THAT(h.watermarks(), ElementsAre(999, 1'999, 2'999));
  EXPECT_THAT(h.statuses(), ElementsAre(WatermarkStatus::kIdle, WatermarkStatus::kActive));
}

TEST_F(SourceWatermarksTest, SplitReadAndReleasedBetweenEmissionsMovesTheWatermark) {
  // A small file read whole between two periodic emissions: its split is released before
  // any emission saw it live, and what it read must still move the watermark.
  auto& h = OpenWithExtractor(monotonous());
  Poll({At(0, 1'000), At(0, 2'000)}, {0});
  h.SetProcessingTime(200);
  EXPECT_THAT(h.watermarks(), ElementsAre(1'999));
  // The next file, also read whole, then one that stays open and holds the watermark.
  Poll({At(1, 3'000)}, {1});
  Poll({At(2, 1'500)});
  h.SetProcessingTime(400);
  EXPECT_THAT(h.watermarks(), ElementsAre(1'999));
  Poll({At(2, 4'000)}, {2});
  h.SetProcessingTime(600);
  EXPECT_THAT(h.watermarks(), ElementsAre(1'999, 3'999));
  EXPECT_TRUE(h.statuses().empty());  // no idleness without with_idleness()
}

TEST_F(SourceWatermarksTest, SourceWithoutRecordsGoesIdleAfterTheTimeout) {
  auto& h = OpenWithExtractor(monotonous().with_idleness(std::chrono::milliseconds(500)));
  Poll({});
  h.SetProcessingTime(400);
  EXPECT_TRUE(h.statuses().empty());
  h.SetProcessingTime(600);
  EXPECT_THAT(h.statuses(), ElementsAre(WatermarkStatus::kIdle));
  EXPECT_TRUE(h.watermarks().empty());
}

TEST_F(SourceWatermarksTest, ReleasedSplitNoLongerHoldsTheWatermark) {
  auto& h = OpenWithExtractor(monotonous());
  Poll({At(0, 100), At(1, 5'000)});
  h.SetProcessingTime(200);
  h.SetProcessingTime(400);
  EXPECT_THAT(h.watermarks(), ElementsAre(99));  // split 0 holds it back
  Poll({}, {0});
  h.SetProcessingTime(600);
  EXPECT_THAT(h.watermarks(), ElementsAre(99, 4'999));
  // Split 0 again: it starts afresh and joins the minimum.
  Poll({At(0, 6'000), At(1, 7'000)});
  h.SetProcessingTime(800);
  EXPECT_THAT(h.watermarks(), ElementsAre(99, 4'999, 5'999));
}

TEST_F(SourceWatermarksTest, OpenedSplitHoldsTheWatermarkBeforeItsFirstRecord) {
  auto& h = OpenWithExtractor(monotonous());
  Poll({At(1, 5'000)});
  h.SetProcessingTime(200);
  EXPECT_THAT(h.watermarks(), ElementsAre(4'999));
  // The reader opens split 2 without emitting yet (a file just opened): it holds the
  // watermark until its first record.
  Poll({At(1, 9'000)}, {}, InputStatus::kMoreAvailable, {2});
  h.SetProcessingTime(400);
  EXPECT_THAT(h.watermarks(), ElementsAre(4'999));
  Poll({At(2, 6'000)});
  h.SetProcessingTime(600);
  EXPECT_THAT(h.watermarks(), ElementsAre(4'999, 5'999));
}

TEST_F(SourceWatermarksTest, BoundedInputEndsWithOneMaxWatermarkAfterActive) {
  auto& h = OpenWithExtractor(monotonous().with_idleness(std::chrono::milliseconds(300)),
                              /*bounded=*/true);
  Poll({At(0, 10), At(0, 20)});
  h.SetProcessingTime(200);
  h.SetProcessingTime(600);  // idle
  EXPECT_EQ(h.trace(), "rrwi");
  EXPECT_EQ(Poll({}, {0}, InputStatus::kEndOfInput), InputStatus::kEndOfInput);
  // Active first, so that no downstream input drops the MAX watermark as idle.
  EXPECT_EQ(h.trace(), "rrwiaw");
  EXPECT_THAT(h.watermarks(), ElementsAre(19, kMaxWatermark));
  h.SetProcessingTime(5'000);  // no periodic emission after the end
  h.Close();
  EXPECT_THAT(h.watermarks(), ElementsAre(19, kMaxWatermark));
}

TEST_F(SourceWatermarksTest, ReaderTimestampsWithoutExtractorUseTheDefaultSplit) {
  auto& h = Open(job_.source(ScriptedSource(script_, true), monotonous()).node_index());
  Poll({At(kDefaultSplit, 100), At(kDefaultSplit, 300), At(kDefaultSplit, 200)});
  ASSERT_EQ(h.records().size(), 3u);
  for (const auto& r : h.records()) EXPECT_EQ(r.timestamp, r.value.ts + kReaderSkew);
  h.SetProcessingTime(200);
  EXPECT_THAT(h.watermarks(), ElementsAre(kReaderSkew + 300 - 1));
  // A split next to the default split: the minimum covers both.
  Poll({At(0, 50)});
  Poll({At(kDefaultSplit, 400)});
  h.SetProcessingTime(400);
  EXPECT_THAT(h.watermarks(), ElementsAre(kReaderSkew + 299));
  Poll({At(0, 1'000)});
  h.SetProcessingTime(600);
  EXPECT_THAT(h.watermarks(), ElementsAre(kReaderSkew + 299, kReaderSkew + 399));
}

TEST_F(SourceWatermarksTest, WithoutStrategyRecordsPassAsTheReaderGivesThem) {
  auto& h = Open(job_.source(ScriptedSource(script_, true)).node_index());
  Poll({At(0, 100), At(kDefaultSplit, 50)}, {0});
  h.SetProcessingTime(1'000);
  EXPECT_TRUE(h.watermarks().empty());  // no periodic watermarks
  ASSERT_EQ(h.records().size(), 2u);
  EXPECT_EQ(h.records()[0].timestamp, kReaderSkew + 100);
  EXPECT_EQ(h.records()[1].timestamp, kReaderSkew + 50);
  Poll({}, {}, InputStatus::kEndOfInput);
  EXPECT_THAT(h.watermarks(), ElementsAre(kMaxWatermark));
}

TEST(WatermarkGeneratorTest, TrailsTheLargestTimestampAndSaturates) {
  WatermarkGenerator g(bounded_out_of_orderness(std::chrono::milliseconds(10)), 0);
  EXPECT_EQ(g.watermark(), kMinWatermark);
  g.OnEvent(100);
  g.OnEvent(50);
  EXPECT_EQ(g.watermark(), 89);
  g.OnEvent(kMinWatermark + 5);  // would underflow: stays at the largest
  EXPECT_EQ(g.watermark(), 89);
  WatermarkGenerator low(bounded_out_of_orderness(std::chrono::milliseconds(10)), 0);
  low.OnEvent(kMinWatermark + 5);
  EXPECT_EQ(low.watermark(), kMinWatermark);
}

TEST(WatermarkGeneratorTest, IdleAfterTheTimeoutWithoutRecordsAndActiveOnARecord) {
  WatermarkGenerator g(monotonous().with_idleness(std::chrono::milliseconds(300)), 1'000);
  EXPECT_FALSE(g.OnPeriodicEmit(1'200));
  EXPECT_FALSE(g.idle());
  EXPECT_FALSE(g.OnPeriodicEmit(1'300));
  EXPECT_TRUE(g.idle());
  g.OnEvent(5);
  EXPECT_FALSE(g.idle());
  EXPECT_TRUE(g.OnPeriodicEmit(1'400));
  EXPECT_FALSE(g.OnPeriodicEmit(1'600));
  EXPECT_FALSE(g.idle());
  EXPECT_FALSE(g.OnPeriodicEmit(1'700));
  EXPECT_TRUE(g.idle());
  WatermarkGenerator never(monotonous(), 0);
  EXPECT_FALSE(never.OnPeriodicEmit(1'000'000));
  EXPECT_FALSE(never.idle());
}

}  // namespace
}  // namespace eddy
