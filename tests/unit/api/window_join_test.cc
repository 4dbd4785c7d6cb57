// The window join through the operator harness: tumbling and sliding (size a multiple of the
// slide and not) equal a nested-loop join grouped by key and window, in order and shuffled
// within the out-of-orderness bound, on the heap and the RocksDB backend; pairs carry the
// window's max_timestamp; a window's state and timers are gone once it fires; late records
// are dropped and counted; allowed lateness joins a late record with its window's other side
// once; apply() with a join or flat-join function, Flink's join().where().equal_to() spelling,
// processing-time windows, and a record without a timestamp failing the task.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "api/windows.h"
#include "taskmanager/state/snapshot_format.h"
#include "tests/support/operator_harness.h"

namespace eddy {
namespace {

using testing::NullSource;
using testing::OperatorHarness;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using namespace std::chrono_literals;

struct Click {
  int64_t ts = 0;
  std::string user;
  int64_t id = 0;
};
struct Buy {
  int64_t ts = 0;
  std::string user;
  int64_t id = 0;
};
EDDY_FIELDS(Click, ts, user, id);
EDDY_FIELDS(Buy, ts, user, id);

/// One joined pair: (user, window start, click id, buy id).
using Pair = std::tuple<std::string, int64_t, int64_t, int64_t>;

struct PairUp {
  void process_element(const Click& c, const Buy& b, WindowJoinContext<std::string>& ctx,
                       Collector<Pair>& out) {
    EXPECT_EQ(ctx.current_key(), c.user);
    EXPECT_EQ(ctx.timestamp(), ctx.window().max_timestamp());
    EXPECT_GE(c.ts, ctx.window().start);
    EXPECT_LT(b.ts, ctx.window().end);
    out.collect({c.user, ctx.window().start, c.id, b.id});
  }
};

using JoinOperator = KeyedOperator<TwoInputStreamOperator<Click, Buy>>;

/// Returns the number of state entries and timers the backend holds (its snapshot's).
size_t StateAndTimers(KeyedStateBackend& backend) {
  struct Counter final : state::SnapshotVisitor {
    absl::Status OnHeader(int32_t, KeyGroupRange) override { return absl::OkStatus(); }
    absl::Status OnState(const StateMeta&) override { return absl::OkStatus(); }
    absl::Status OnEntry(int32_t, std::string_view, std::string_view, std::string_view) override {
      ++count;
      return absl::OkStatus();
    }
    absl::Status OnTimerService(std::string_view) override { return absl::OkStatus(); }
    absl::Status OnTimer(TimeDomain, const InternalTimer&) override {
      ++count;
      return absl::OkStatus();
    }
    size_t count = 0;
  };
  std::string snapshot;
  const absl::Status written = backend.SnapshotKeyGroups(backend.key_group_range(), &snapshot);
  EXPECT_TRUE(written.ok()) << written;
  Counter counter;
  const absl::Status read = state::ReadSnapshot(snapshot, counter);
  EXPECT_TRUE(read.ok()) << read;
  return counter.count;
}

/// A window join of clicks and buys keyed by user, driven by the harness on `backend`
/// ("hashmap" or "rocksdb").
class JoinHarness {
 public:
  template <typename Assigner>
  JoinHarness(Assigner assigner, const std::string& backend, int64_t lateness_ms = 0) {
    auto clicks = job_.source(NullSource<Click>()).key_by(&Click::user);
    auto buys = job_.source(NullSource<Buy>()).key_by(&Buy::user);
    node_ = clicks.window_join(buys, assigner)
                .allowed_lateness(std::chrono::milliseconds(lateness_ms))
                .process(PairUp())
                .node_index();
    h_ = std::make_unique<OperatorHarness<Pair>>(job_.node(node_), std::vector<int>{1, 1});
    if (backend == "rocksdb") h_->context().keyed_state = &rocksdb_;
    h_->Open();
  }
  OperatorHarness<Pair>& h() { return *h_; }
  JoinOperator& op() { return dynamic_cast<JoinOperator&>(h_->op()); }
  const WindowOperatorStats& stats() { return dynamic_cast<WindowOperatorStats&>(h_->op()); }
  /// Returns the state entries and timers left in the operator's backend.
  size_t Left() { return StateAndTimers(op().backend()); }
  void AddClick(int64_t ts, const std::string& user, int64_t id) {
    h_->ProcessElement(Click{ts, user, id}, ts, 0);
  }
  void AddBuy(int64_t ts, const std::string& user, int64_t id) {
    h_->ProcessElement(Buy{ts, user, id}, ts, 1);
  }
  /// Moves the watermark of both inputs to `wm`.
  void Watermark(int64_t wm) {
    h_->ProcessWatermark(wm, 0, 0);
    h_->ProcessWatermark(wm, 0, 1);
  }

 private:
  JobBuilder job_{"window-join", 1};
  int node_ = 0;
  testing::RocksDbStateBackends rocksdb_;
  std::unique_ptr<OperatorHarness<Pair>> h_;
};

/// Nested loop: every (click, buy) of a user, once per window of `size` starting every
/// `slide` that holds both timestamps.
std::vector<Pair> NestedLoop(const std::vector<Click>& clicks, const std::vector<Buy>& buys,
                             int64_t size, int64_t slide) {
  std::vector<Pair> out;
  for (const Click& l : clicks) {
    for (const Buy& r : buys) {
      if (l.user != r.user) continue;
      const int64_t last = l.ts - (((l.ts % slide) + slide) % slide);
      for (int64_t s = last; s > l.ts - size; s -= slide) {
        if (r.ts >= s && r.ts < s + size) out.emplace_back(l.user, s, l.id, r.id);
      }
    }
  }
  return out;
}

std::vector<Pair> Sorted(std::vector<Pair> v) {
  std::sort(v.begin(), v.end());
  return v;
}

struct Arrival {
  int64_t at;
  bool left;
  size_t index;
};

class WindowJoinEqualsNestedLoop
    : public ::testing::TestWithParam<std::tuple<const char*, bool>> {
 protected:
  /// Joins random clicks and buys of 5 users (timestamps from -1000 on, so negative windows
  /// too) with `assigner`, each record arriving up to `disorder` ms late and each input's
  /// watermark at its largest timestamp - disorder - 1, then ends the input; checks the pairs,
  /// their timestamps, no late record and no state or timer left.
  template <typename Assigner>
  void Check(Assigner assigner, int64_t size, int64_t slide, uint64_t seed) {
    const std::string backend = std::get<0>(GetParam());
    const int64_t disorder = std::get<1>(GetParam()) ? 150 : 0;
    const std::vector<std::string> users = {"ann", "bob", "cy", "dee", "eve"};
    std::mt19937_64 rng(seed);
    std::vector<Click> clicks;
    std::vector<Buy> buys;
    for (int64_t i = 0; i < 300; ++i) {
      clicks.push_back({static_cast<int64_t>(rng() % 4000) - 1000, users[rng() % users.size()], i});
      buys.push_back({static_cast<int64_t>(rng() % 4000) - 1000, users[rng() % users.size()], i});
    }
    std::vector<Arrival> arrivals;
    auto delay = [&] { return disorder == 0 ? 0 : static_cast<int64_t>(rng() % (disorder + 1)); };
    for (size_t i = 0; i < clicks.size(); ++i) arrivals.push_back({clicks[i].ts + delay(), true, i});
    for (size_t i = 0; i < buys.size(); ++i) arrivals.push_back({buys[i].ts + delay(), false, i});
    std::stable_sort(arrivals.begin(), arrivals.end(),
                     [](const Arrival& a, const Arrival& b) { return a.at < b.at; });

    JoinHarness join(assigner, backend);
    int64_t max_ts[2] = {kMinWatermark, kMinWatermark};
    int n = 0;
    bool state_shrank = false;
    size_t peak = 0;
    for (const Arrival& a : arrivals) {
      const int input = a.left ? 0 : 1;
      if (a.left) {
        join.AddClick(clicks[a.index].ts, clicks[a.index].user, clicks[a.index].id);
      } else {
        join.AddBuy(buys[a.index].ts, buys[a.index].user, buys[a.index].id);
      }
      max_ts[input] = std::max(max_ts[input], a.left ? clicks[a.index].ts : buys[a.index].ts);
      if (++n % 7 == 0) {
        for (int i = 0; i < 2; ++i) {
          if (max_ts[i] != kMinWatermark) join.h().ProcessWatermark(max_ts[i] - disorder - 1, 0, i);
        }
        const size_t now = join.Left();
        state_shrank = state_shrank || now < peak;
        peak = std::max(peak, now);
      }
    }
    EXPECT_TRUE(state_shrank) << "fired windows should have left the state before the end";
    join.h().EndInput();
    const std::vector<Pair> want = Sorted(NestedLoop(clicks, buys, size, slide));
    EXPECT_GT(want.size(), 200u);
    EXPECT_EQ(Sorted(join.h().values()), want);
    for (const auto& r : join.h().output()) {
      EXPECT_EQ(r.timestamp, std::get<1>(r.value) + size - 1);
    }
    EXPECT_EQ(join.stats().late_records(), 0u);
    EXPECT_EQ(join.Left(), 0u);
    EXPECT_EQ(join.op().timers().num_timers(TimeDomain::kEventTime), 0u);
  }
};

TEST_P(WindowJoinEqualsNestedLoop, Tumbling) {
  Check(TumblingEventTimeWindows::of(100ms), 100, 100, 1);
}

TEST_P(WindowJoinEqualsNestedLoop, Sliding) {
  Check(SlidingEventTimeWindows::of(300ms, 100ms), 300, 100, 2);
}

TEST_P(WindowJoinEqualsNestedLoop, SlidingSizeNoMultipleOfSlide) {
  Check(SlidingEventTimeWindows::of(250ms, 100ms), 250, 100, 3);
}

INSTANTIATE_TEST_SUITE_P(
    BackendsAndOrder, WindowJoinEqualsNestedLoop,
    ::testing::Combine(::testing::Values("hashmap", "rocksdb"), ::testing::Bool()),
    [](const auto& info) {
      return std::string(std::get<0>(info.param)) +
             (std::get<1>(info.param) ? "Shuffled" : "InOrder");
    });

class WindowJoinTest : public ::testing::TestWithParam<const char*> {};

TEST_P(WindowJoinTest, AWindowFiresOnceWithEveryPairAndThenItsStateIsGone) {
  JoinHarness join(TumblingEventTimeWindows::of(100ms), GetParam());
  join.AddClick(10, "a", 1);
  join.AddClick(90, "a", 2);
  join.AddBuy(99, "a", 3);
  join.AddBuy(50, "b", 4);   // b has no click: no pair
  join.AddBuy(100, "a", 5);  // next window
  join.AddClick(150, "a", 6);
  EXPECT_EQ(join.op().timers().num_timers(TimeDomain::kEventTime), 3u);  // a@0, b@0, a@100
  join.Watermark(98);
  EXPECT_THAT(join.h().values(), IsEmpty());
  join.Watermark(99);
  EXPECT_THAT(join.h().values(), ElementsAre(Pair{"a", 0, 1, 3}, Pair{"a", 0, 2, 3}));
  EXPECT_EQ(join.h().output()[0].timestamp, 99);
  // Only the second window of a is left: its two records and its timer.
  EXPECT_EQ(join.Left(), 3u);
  join.Watermark(199);
  EXPECT_THAT(join.h().values(),
              ElementsAre(Pair{"a", 0, 1, 3}, Pair{"a", 0, 2, 3}, Pair{"a", 100, 6, 5}));
  EXPECT_EQ(join.h().output()[2].timestamp, 199);
  EXPECT_EQ(join.Left(), 0u);
}

TEST_P(WindowJoinTest, LateRecordsAreDroppedAndCounted) {
  JoinHarness join(SlidingEventTimeWindows::of(200ms, 100ms), GetParam());
  join.AddClick(150, "a", 1);  // windows [0, 200) and [100, 300)
  join.Watermark(199);       // [0, 200) fired (no buy yet)
  join.AddBuy(120, "a", 2);    // too late for [0, 200), in time for [100, 300)
  join.AddBuy(50, "a", 3);     // windows [-100, 100) and [0, 200): both gone
  EXPECT_EQ(join.stats().late_records_dropped(), 1u);
  join.Watermark(299);
  EXPECT_THAT(join.h().values(), ElementsAre(Pair{"a", 100, 1, 2}));
  EXPECT_EQ(join.stats().late_records_dropped(), 1u);
  EXPECT_EQ(join.Left(), 0u);
}

TEST_P(WindowJoinTest, AllowedLatenessJoinsALateRecordOnceThenCleansUp) {
  JoinHarness join(TumblingEventTimeWindows::of(100ms), GetParam(), /*lateness_ms=*/50);
  join.AddClick(10, "a", 1);
  join.AddBuy(20, "a", 2);
  join.Watermark(99);
  EXPECT_THAT(join.h().values(), ElementsAre(Pair{"a", 0, 1, 2}));
  EXPECT_GT(join.Left(), 0u);  // kept for the lateness
  join.AddBuy(30, "a", 3);       // late but within lateness: only its new pair
  join.AddClick(40, "a", 4);     // pairs with both buys
  EXPECT_THAT(join.h().values(),
              ElementsAre(Pair{"a", 0, 1, 2}, Pair{"a", 0, 1, 3}, Pair{"a", 0, 4, 2},
                          Pair{"a", 0, 4, 3}));
  EXPECT_EQ(join.h().output()[3].timestamp, 99);
  join.Watermark(149);  // cleanup time 99 + 50
  EXPECT_EQ(join.Left(), 0u);
  join.AddBuy(50, "a", 5);
  EXPECT_EQ(join.h().values().size(), 4u);
  EXPECT_EQ(join.stats().late_records_dropped(), 1u);
  EXPECT_EQ(join.Left(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, WindowJoinTest, ::testing::Values("hashmap", "rocksdb"),
                         [](const auto& info) { return std::string(info.param); });

TEST(WindowJoinApiTest, ApplyTakesAJoinOrAFlatJoinFunctionAndFlinksSpelling) {
  JobBuilder job("window-join", 1);
  auto clicks = job.source(NullSource<Click>());
  auto buys = job.source(NullSource<Buy>());
  auto joined = clicks.join(buys)
                    .where(&Click::user)
                    .equal_to(&Buy::user)
                    .window(TumblingEventTimeWindows::of(100ms))
                    .apply([](const Click& c, const Buy& b) { return c.id * 100 + b.id; });
  auto flat = clicks.key_by(&Click::user)
                  .window_join(buys.key_by(&Buy::user), TumblingEventTimeWindows::of(100ms))
                  .apply([](const Click& c, const Buy& b, Collector<std::string>& out) {
                    if (c.id != b.id) out.collect(c.user + ":" + std::to_string(c.id));
                  });
  const OperatorNode& node = job.node(joined.node_index());
  ASSERT_EQ(node.inputs.size(), 2u);
  EXPECT_TRUE(node.inputs[0].partitioning == job::HASH);
  EXPECT_TRUE(node.inputs[1].partitioning == job::HASH);
  EXPECT_EQ(node.inputs[1].logical_input, 1);

  OperatorHarness<int64_t> h1(node, {1, 1});
  h1.Open();
  h1.ProcessElement(Click{5, "a", 1}, 5, 0);
  h1.ProcessElement(Buy{7, "a", 2}, 7, 1);
  h1.ProcessElement(Buy{8, "a", 3}, 8, 1);
  h1.EndInput();
  EXPECT_THAT(h1.values(), UnorderedElementsAre(102, 103));

  OperatorHarness<std::string> h2(job.node(flat.node_index()), {1, 1});
  h2.Open();
  h2.ProcessElement(Click{5, "a", 1}, 5, 0);
  h2.ProcessElement(Click{6, "a", 2}, 6, 0);
  h2.ProcessElement(Buy{7, "a", 2}, 7, 1);
  h2.EndInput();
  EXPECT_THAT(h2.values(), ElementsAre("a:1"));
  EXPECT_EQ(h2.output()[0].timestamp, 99);
}

TEST(WindowJoinApiTest, ProcessingTimeWindowsFireByTheClock) {
  JobBuilder job("window-join", 1);
  auto s = job.source(NullSource<Click>())
               .key_by(&Click::user)
               .window_join(job.source(NullSource<Buy>()).key_by(&Buy::user),
                            TumblingProcessingTimeWindows::of(100ms))
               .process(PairUp());
  OperatorHarness<Pair> h(job.node(s.node_index()), {1, 1});
  h.Open();
  h.SetProcessingTime(10);
  h.ProcessElement(Click{0, "a", 1}, kNoTimestamp, 0);
  h.SetProcessingTime(60);
  h.ProcessElement(Buy{0, "a", 2}, kNoTimestamp, 1);
  h.SetProcessingTime(98);
  EXPECT_THAT(h.values(), IsEmpty());
  h.SetProcessingTime(99);
  EXPECT_THAT(h.values(), ElementsAre(Pair{"a", 0, 1, 2}));
  h.SetProcessingTime(120);
  h.ProcessElement(Buy{0, "a", 3}, kNoTimestamp, 1);  // next window: no click there
  h.SetProcessingTime(250);
  EXPECT_EQ(h.values().size(), 1u);
  auto& op = dynamic_cast<JoinOperator&>(h.op());
  EXPECT_EQ(StateAndTimers(op.backend()), 0u);
}

TEST(WindowJoinApiTest, ARecordWithoutATimestampFailsTheTask) {
  JoinHarness join(TumblingEventTimeWindows::of(100ms), "hashmap");
  EXPECT_THROW(join.h().ProcessElement(Click{0, "a", 1}, kNoTimestamp, 0), std::invalid_argument);
}

}  // namespace
}  // namespace eddy
