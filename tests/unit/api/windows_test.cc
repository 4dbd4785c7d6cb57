// The window operator through the operator harness: tumbling, sliding, session and global
// (count trigger) windows equal a plain loop over the same records, in order and shuffled
// within the out-of-orderness bound; allowed lateness (updated firings, then the late side
// output); session merging (state and timers); timers fire once; processing-time windows;
// continuous and purging triggers; window_all; per-record session gaps.
#include "api/windows.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "tests/support/operator_harness.h"

namespace eddy {
namespace {

using testing::NullSource;

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::OperatorHarness;
using testing::RocksDbStateBackends;
using namespace std::chrono_literals;

struct Ev {
  int64_t key = 0;
  int64_t ts = 0;
  int64_t v = 0;
};
EDDY_FIELDS(Ev, key, ts, v);

/// One window's result: (key, start, end, count, sum).
using Res = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>;

/// Count and sum of v.
struct CountSum {
  using input_type = Ev;
  using accumulator_type = std::pair<int64_t, int64_t>;
  using output_type = std::pair<int64_t, int64_t>;
  accumulator_type create_accumulator() const { return {0, 0}; }
  void add(const Ev& e, accumulator_type& acc) const {
    acc.first += 1;
    acc.second += e.v;
  }
  output_type get_result(const accumulator_type& acc) const { return acc; }
  accumulator_type merge(const accumulator_type& a, const accumulator_type& b) const {
    return {a.first + b.first, a.second + b.second};
  }
};

/// Emits (key, start, end, count, sum) of a time window.
struct ToRes {
  void operator()(const int64_t& key, const TimeWindow& w, const std::pair<int64_t, int64_t>& cs,
                  Collector<Res>& out) const {
    out.collect({key, w.start, w.end, cs.first, cs.second});
  }
};

std::vector<Res> Sorted(std::vector<Res> v) {
  std::sort(v.begin(), v.end());
  return v;
}

template <typename W>
auto* TimersOf(OperatorHarness<Res>& h) {
  auto* op = dynamic_cast<KeyedOperator<OneInputStreamOperator<Ev>>*>(&h.op());
  EDDY_CHECK(op != nullptr);
  return &op->timers();
}

const WindowOperatorStats& StatsOf(StreamOperator& op) {
  auto* stats = dynamic_cast<WindowOperatorStats*>(&op);
  EDDY_CHECK(stats != nullptr);
  return *stats;
}

// ---- Assigners -----------------------------------------------------------------------------

TEST(WindowAssignerTest, StartFollowsFlinkAlsoForNegativeTimestamps) {
  EXPECT_EQ(WindowStart(0, 0, 10), 0);
  EXPECT_EQ(WindowStart(9, 0, 10), 0);
  EXPECT_EQ(WindowStart(10, 0, 10), 10);
  EXPECT_EQ(WindowStart(-1, 0, 10), -10);
  EXPECT_EQ(WindowStart(-10, 0, 10), -10);
  EXPECT_EQ(WindowStart(-15, 0, 10), -20);  // the naive (ts - offset + size) % size gives -10
  EXPECT_EQ(WindowStart(-25, 0, 10), -30);
  EXPECT_EQ(WindowStart(12, 3, 10), 3);
  EXPECT_EQ(WindowStart(2, 3, 10), -7);
}

TEST(WindowAssignerTest, TumblingSlidingSessionAndGlobalAssign) {
  std::vector<TimeWindow> got;
  auto collect = [&](const TimeWindow& w) { got.push_back(w); };
  TumblingEventTimeWindows::of(100ms).assign(0, -1, collect);
  EXPECT_THAT(got, ElementsAre(TimeWindow{-100, 0}));
  EXPECT_EQ(got[0].max_timestamp(), -1);
  got.clear();
  TumblingEventTimeWindows::of(100ms, 30ms).assign(0, 10, collect);
  EXPECT_THAT(got, ElementsAre(TimeWindow{-70, 30}));
  got.clear();
  SlidingEventTimeWindows::of(300ms, 100ms).assign(0, 250, collect);
  EXPECT_THAT(got, ElementsAre(TimeWindow{200, 500}, TimeWindow{100, 400}, TimeWindow{0, 300}));
  got.clear();
  SlidingEventTimeWindows::of(250ms, 100ms).assign(0, -60, collect);  // up to 250/100 rounded up
  EXPECT_THAT(got, ElementsAre(TimeWindow{-100, 150}, TimeWindow{-200, 50}, TimeWindow{-300, -50}));
  got.clear();
  SlidingEventTimeWindows::of(250ms, 100ms).assign(0, -50, collect);  // -50 is past [-300, -50)
  EXPECT_THAT(got, ElementsAre(TimeWindow{-100, 150}, TimeWindow{-200, 50}));
  got.clear();
  EventTimeSessionWindows::with_gap(30ms).assign(0, 7, collect);
  EXPECT_THAT(got, ElementsAre(TimeWindow{7, 37}));
  got.clear();
  EventTimeSessionWindows::with_dynamic_gap([](const Ev& e) {
    return e.v;
  }).assign(Ev{1, 5, 11}, 5, collect);
  EXPECT_THAT(got, ElementsAre(TimeWindow{5, 16}));
  int globals = 0;
  GlobalWindows::create().assign(0, 5, [&](const GlobalWindow&) { ++globals; });
  EXPECT_EQ(globals, 1);
  EXPECT_TRUE((TimeWindow{0, 10}.intersects(TimeWindow{10, 20})));  // touching sessions merge
  EXPECT_FALSE((TimeWindow{0, 10}.intersects(TimeWindow{11, 20})));
}

TEST(WindowAggregatesTest, CountSumMinMaxAvgTopN) {
  std::vector<Ev> evs = {{1, 0, 5}, {2, 0, -3}, {3, 0, 9}, {4, 0, 9}, {5, 0, 1}};
  auto run = [&](auto agg) {
    auto acc = agg.create_accumulator();
    for (const Ev& e : evs) agg.add(e, acc);
    return agg.get_result(acc);
  };
  EXPECT_EQ(run(aggregates::count<Ev>()), 5);
  EXPECT_EQ(run(aggregates::sum<Ev>(&Ev::v)), 21);
  EXPECT_EQ(run(aggregates::min<Ev>(&Ev::v)), -3);
  EXPECT_EQ(run(aggregates::max<Ev>(&Ev::v)), 9);
  EXPECT_DOUBLE_EQ(run(aggregates::avg<Ev>(&Ev::v)), 21.0 / 5);
  using P = std::pair<int64_t, int64_t>;
  // Score descending, ties by id ascending: 4 and 3 tie at 9, 3 first.
  EXPECT_THAT(run(aggregates::top_n<Ev>(3, &Ev::key, &Ev::v)),
              ElementsAre(P(3, 9), P(4, 9), P(1, 5)));
  // Merging two partial top-3s is the top-3 of everything.
  auto top = aggregates::top_n<Ev>(3, &Ev::key, &Ev::v);
  auto a = top.create_accumulator();
  auto b = top.create_accumulator();
  for (size_t i = 0; i < evs.size(); ++i) top.add(evs[i], i % 2 ? a : b);
  EXPECT_THAT(top.merge(a, b), ElementsAre(P(3, 9), P(4, 9), P(1, 5)));
}

// ---- Equal to a plain loop -----------------------------------------------------------------

constexpr int64_t kBound = 40;  // out-of-orderness of the shuffled input (ms)

/// Records of 7 keys with timestamps from -3000 on (negative windows too), 0-30 ms apart
/// (and now and then 200 ms more), so that sessions (gap 120) both continue and close.
std::vector<Ev> MakeEvents(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Ev> out;
  int64_t ts = -3000;
  for (int i = 0; i < n; ++i) {
    ts += static_cast<int64_t>(rng() % 31) + (rng() % 50 == 0 ? 200 : 0);
    out.push_back(Ev{static_cast<int64_t>(rng() % 7), ts, static_cast<int64_t>(rng() % 100)});
  }
  return out;
}

/// The arrival order: in order, or each record delayed by up to kBound - 1 ms of event time.
std::vector<Ev> Arrival(std::vector<Ev> evs, bool shuffled, uint32_t seed) {
  if (!shuffled) return evs;
  std::mt19937 rng(seed);
  std::vector<std::pair<int64_t, Ev>> keyed;
  for (const Ev& e : evs) keyed.emplace_back(e.ts + static_cast<int64_t>(rng() % kBound), e);
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Ev> out;
  for (auto& [k, e] : keyed) out.push_back(e);
  return out;
}

/// Feeds the records with a watermark of (largest timestamp - kBound) after each, as a
/// bounded-out-of-orderness source would, then ends the input (MAX watermark).
void Feed(OperatorHarness<Res>& h, const std::vector<Ev>& arrival) {
  int64_t max_ts = kMinWatermark;
  for (const Ev& e : arrival) {
    h.ProcessElement(e, e.ts);
    max_ts = std::max(max_ts, e.ts);
    h.ProcessWatermark(max_ts - kBound);
  }
  h.EndInput();
}

using Windows = std::map<std::tuple<int64_t, int64_t, int64_t>, std::pair<int64_t, int64_t>>;

std::vector<Res> Flatten(const Windows& windows) {
  std::vector<Res> out;
  for (const auto& [k, cs] : windows) {
    out.emplace_back(std::get<0>(k), std::get<1>(k), std::get<2>(k), cs.first, cs.second);
  }
  return out;
}

/// Plain loop: every window of `size` starting every `slide` (tumbling: slide = size).
std::vector<Res> AlignedReference(const std::vector<Ev>& evs, int64_t size, int64_t slide) {
  Windows w;
  for (const Ev& e : evs) {
    int64_t last = e.ts - (((e.ts % slide) + slide) % slide);
    for (int64_t s = last; s > e.ts - size; s -= slide) {
      auto& cs = w[{e.key, s, s + size}];
      cs.first += 1;
      cs.second += e.v;
    }
  }
  return Flatten(w);
}

/// Plain loop: per key, sort by time; a record within `gap` of the session's last record
/// (inclusive, as touching windows merge) extends it.
std::vector<Res> SessionReference(const std::vector<Ev>& evs, int64_t gap) {
  std::map<int64_t, std::vector<Ev>> by_key;
  for (const Ev& e : evs) by_key[e.key].push_back(e);
  std::vector<Res> out;
  for (auto& [key, list] : by_key) {
    std::stable_sort(list.begin(), list.end(),
                     [](const Ev& a, const Ev& b) { return a.ts < b.ts; });
    int64_t start = 0, end = 0, count = 0, sum = 0;
    for (const Ev& e : list) {
      if (count > 0 && e.ts <= end) {
        end = std::max(end, e.ts + gap);
      } else {
        if (count > 0) out.emplace_back(key, start, end, count, sum);
        start = e.ts;
        end = e.ts + gap;
        count = sum = 0;
      }
      ++count;
      sum += e.v;
    }
    if (count > 0) out.emplace_back(key, start, end, count, sum);
  }
  return Sorted(out);
}

template <typename Assigner>
std::vector<Res> RunWindows(Assigner assigner, const std::vector<Ev>& arrival,
                            KeyedStateBackendFactory* backends = nullptr) {
  JobBuilder job("windows", 1);
  auto s =
      job.source(NullSource<Ev>()).key_by(&Ev::key).window(assigner).aggregate(CountSum(), ToRes());
  OperatorHarness<Res> h(job.node(s.node_index()));
  if (backends != nullptr) h.context().keyed_state = backends;
  h.Open();
  Feed(h, arrival);
  EXPECT_EQ(StatsOf(h.op()).late_records(), 0u);
  return Sorted(h.values());
}

class WindowsEqualPlainLoop : public ::testing::TestWithParam<bool> {};

TEST_P(WindowsEqualPlainLoop, Tumbling) {
  const std::vector<Ev> evs = MakeEvents(3000, 1);
  const auto got = RunWindows(TumblingEventTimeWindows::of(100ms), Arrival(evs, GetParam(), 2));
  EXPECT_EQ(got, AlignedReference(evs, 100, 100));
  EXPECT_GT(got.size(), 100u);
}

TEST_P(WindowsEqualPlainLoop, Sliding) {
  const std::vector<Ev> evs = MakeEvents(3000, 3);
  const auto got =
      RunWindows(SlidingEventTimeWindows::of(300ms, 50ms), Arrival(evs, GetParam(), 4));
  EXPECT_EQ(got, AlignedReference(evs, 300, 50));
}

TEST_P(WindowsEqualPlainLoop, SlidingWithoutPanes) {
  // 250 is no multiple of 100: a window per record's window, not panes.
  const std::vector<Ev> evs = MakeEvents(2000, 14);
  const auto got =
      RunWindows(SlidingEventTimeWindows::of(250ms, 100ms), Arrival(evs, GetParam(), 15));
  EXPECT_EQ(got, AlignedReference(evs, 250, 100));
}

TEST_P(WindowsEqualPlainLoop, Session) {
  const std::vector<Ev> evs = MakeEvents(3000, 5);
  const auto got =
      RunWindows(EventTimeSessionWindows::with_gap(120ms), Arrival(evs, GetParam(), 6));
  const auto want = SessionReference(evs, 120);
  EXPECT_EQ(got, want);
  // Sessions did merge (fewer sessions than half the records) and did close (many).
  EXPECT_LT(want.size(), evs.size() / 2);
  EXPECT_GT(want.size(), 100u);
}

TEST_P(WindowsEqualPlainLoop, GlobalWithCountTrigger) {
  const std::vector<Ev> evs = Arrival(MakeEvents(3000, 7), GetParam(), 8);
  JobBuilder job("count", 1);
  auto s =
      count_window(job.source(NullSource<Ev>()).key_by(&Ev::key), 5)
          .aggregate(CountSum(), [](const int64_t& key, const GlobalWindow&,
                                    const std::pair<int64_t, int64_t>& cs, Collector<Res>& out) {
            out.collect({key, 0, 0, cs.first, cs.second});
          });
  OperatorHarness<Res> h(job.node(s.node_index()));
  h.Open();
  Feed(h, evs);
  // Plain loop: per key, every 5 records in arrival order make one result.
  std::map<int64_t, std::pair<int64_t, int64_t>> open;
  std::vector<Res> want;
  for (const Ev& e : evs) {
    auto& cs = open[e.key];
    cs.first += 1;
    cs.second += e.v;
    if (cs.first == 5) {
      want.emplace_back(e.key, 0, 0, 5, cs.second);
      cs = {0, 0};
    }
  }
  EXPECT_EQ(Sorted(h.values()), Sorted(want));
}

TEST(WindowOperatorTest, RocksDbBackendGivesThePlainLoopsWindowsToo) {
  testing::RocksDbStateBackends rocksdb;
  const std::vector<Ev> evs = MakeEvents(1500, 11);
  EXPECT_EQ(RunWindows(SlidingEventTimeWindows::of(300ms, 100ms), Arrival(evs, true, 12), &rocksdb),
            AlignedReference(evs, 300, 100));
  EXPECT_EQ(RunWindows(EventTimeSessionWindows::with_gap(120ms), Arrival(evs, true, 13), &rocksdb),
            SessionReference(evs, 120));
}

INSTANTIATE_TEST_SUITE_P(InOrderAndShuffled, WindowsEqualPlainLoop, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Shuffled" : "InOrder"; });

// ---- Lateness ------------------------------------------------------------------------------

TEST(WindowOperatorTest, AllowedLatenessFiresAgainThenLateRecordsGoToTheSideOutput) {
  const OutputTag<Ev> late("late");
  JobBuilder job("lateness", 1);
  auto s = job.source(NullSource<Ev>())
               .key_by(&Ev::key)
               .window(TumblingEventTimeWindows::of(100ms))
               .allowed_lateness(50ms)
               .side_output_late_data(late)
               .aggregate(CountSum(), ToRes());
  OperatorHarness<Res> h(job.node(s.node_index()));
  h.CollectSideOutput(late);
  h.Open();
  h.ProcessElement(Ev{1, 10, 1}, 10);
  h.ProcessElement(Ev{1, 20, 2}, 20);
  h.ProcessWatermark(99);
  EXPECT_THAT(h.values(), ElementsAre(Res{1, 0, 100, 2, 3}));
  EXPECT_EQ(h.output()[0].timestamp, 99);  // the window's max timestamp
  h.ProcessElement(Ev{1, 30, 4}, 30);      // late but within lateness: updated firing
  EXPECT_THAT(h.values(), ElementsAre(Res{1, 0, 100, 2, 3}, Res{1, 0, 100, 3, 7}));
  h.ProcessWatermark(148);
  h.ProcessElement(Ev{1, 99, 8}, 99);  // cleanup at 149: still allowed
  EXPECT_EQ(h.values().back(), (Res{1, 0, 100, 4, 15}));
  h.ProcessWatermark(149);  // the window's state is cleaned up
  EXPECT_EQ(TimersOf<TimeWindow>(h)->num_timers(TimeDomain::kEventTime), 0u);
  h.ProcessElement(Ev{1, 40, 16}, 40);    // too late: side output, not the results
  h.ProcessElement(Ev{1, 150, 32}, 150);  // on time for [100, 200)
  h.EndInput();
  EXPECT_THAT(h.values(), ElementsAre(Res{1, 0, 100, 2, 3}, Res{1, 0, 100, 3, 7},
                                      Res{1, 0, 100, 4, 15}, Res{1, 100, 200, 1, 32}));
  ASSERT_EQ(h.side_output(late).size(), 1u);
  EXPECT_EQ(h.side_output(late)[0].value.v, 16);
  EXPECT_EQ(h.side_output(late)[0].timestamp, 40);
  EXPECT_EQ(StatsOf(h.op()).late_records(), 1u);
  EXPECT_EQ(StatsOf(h.op()).late_records_dropped(), 0u);
}

// ---- Idle channels ------------------------------------------------------------------------

TEST(WindowOperatorTest, EveryWindowClosesWhenTheChannelsFallIdleInAnyOrder) {
  // Four upstream subtasks of a watched directory: 2 and 3 have no files and go idle; 0
  // reads rows of the first two minutes; 1 reads one row ten minutes later and falls silent
  // before 0 does. Then subtask 2 gets a file and comes back with rows after all of that.
  JobBuilder job("idle-channels", 1);
  auto s = job.source(NullSource<Ev>())
               .key_by(&Ev::key)
               .window(TumblingEventTimeWindows::of(60s))
               .aggregate(CountSum(), ToRes());
  OperatorHarness<Res> h(job.node(s.node_index()), {4});
  h.Open();
  h.SetChannelStatus(WatermarkStatus::kIdle, 2);
  h.SetChannelStatus(WatermarkStatus::kIdle, 3);
  h.ProcessElement(Ev{1, 10'000, 1}, 10'000);   // from 0
  h.ProcessElement(Ev{1, 70'000, 2}, 70'000);   // from 0
  h.ProcessElement(Ev{2, 700'000, 0}, 700'000);  // from 1
  h.ProcessWatermark(694'999, 1);
  h.ProcessWatermark(64'999, 0);
  EXPECT_THAT(h.values(), ElementsAre(Res{1, 0, 60'000, 1, 1}));
  h.SetChannelStatus(WatermarkStatus::kIdle, 1);  // subtask 0 still holds the watermark
  EXPECT_THAT(h.values(), ElementsAre(Res{1, 0, 60'000, 1, 1}));
  // The last active channel falls idle: nothing holds the watermark back any more, and it
  // goes as far as subtask 1 got, closing [60 s, 120 s) before the output goes idle.
  h.SetChannelStatus(WatermarkStatus::kIdle, 0);
  EXPECT_THAT(h.values(), ElementsAre(Res{1, 0, 60'000, 1, 1}, Res{1, 60'000, 120'000, 1, 2}));
  EXPECT_THAT(h.watermarks(), ElementsAre(64'999, 694'999));
  EXPECT_EQ(h.collected().trace, "rwrwi");

  // Subtask 2 returns with rows after the watermark: active again, and its watermark moves
  // the operator's once it passes the one the others reached.
  h.SetChannelStatus(WatermarkStatus::kActive, 2);
  h.ProcessElement(Ev{3, 730'000, 4}, 730'000);
  h.ProcessWatermark(600'000, 2);
  EXPECT_THAT(h.watermarks(), ElementsAre(64'999, 694'999));
  h.ProcessWatermark(779'999, 2);
  EXPECT_THAT(h.watermarks(), ElementsAre(64'999, 694'999, 779'999));
  EXPECT_THAT(h.values(), ElementsAre(Res{1, 0, 60'000, 1, 1}, Res{1, 60'000, 120'000, 1, 2},
                                      Res{2, 660'000, 720'000, 1, 0},
                                      Res{3, 720'000, 780'000, 1, 4}));
}

TEST(WindowOperatorTest, SlidingPanesFireAgainWithinLatenessAndCleanUp) {
  const OutputTag<Ev> late("late");
  JobBuilder job("panes", 1);
  auto s = job.source(NullSource<Ev>())
               .key_by(&Ev::key)
               .window(SlidingEventTimeWindows::of(200ms, 100ms))
               .allowed_lateness(100ms)
               .side_output_late_data(late)
               .aggregate(CountSum(), ToRes());
  OperatorHarness<Res> h(job.node(s.node_index()));
  h.CollectSideOutput(late);
  h.Open();
  h.ProcessElement(Ev{1, 50, 1}, 50);
  h.ProcessWatermark(199);
  EXPECT_THAT(h.values(), ElementsAre(Res{1, -100, 100, 1, 1}, Res{1, 0, 200, 1, 1}));
  h.ProcessElement(Ev{1, 150, 2}, 150);  // [0, 200) fired: fires again; [100, 300) waits
  h.ProcessElement(Ev{1, 60, 4}, 60);    // [-100, 100) is cleaned up (199); [0, 200) fires
  EXPECT_THAT(h.values(), ElementsAre(Res{1, -100, 100, 1, 1}, Res{1, 0, 200, 1, 1},
                                      Res{1, 0, 200, 2, 3}, Res{1, 0, 200, 3, 7}));
  h.ProcessWatermark(299);  // [100, 300) fires; the pane [0, 100) is cleaned up
  EXPECT_EQ(h.values().back(), (Res{1, 100, 300, 1, 2}));
  h.ProcessElement(Ev{1, 90, 8}, 90);  // every window of 90 is cleaned up: late
  EXPECT_EQ(h.values().size(), 5u);
  ASSERT_EQ(h.side_output(late).size(), 1u);
  EXPECT_EQ(h.side_output(late)[0].value.v, 8);
  h.EndInput();
  EXPECT_EQ(h.values().size(), 5u);
  EXPECT_EQ(TimersOf<TimeWindow>(h)->num_timers(TimeDomain::kEventTime), 0u);
}

TEST(WindowOperatorTest, RecordsBeyondTheBoundAreDroppedAndCountedWithoutASideOutput) {
  JobBuilder job("drop", 1);
  auto s = job.source(NullSource<Ev>())
               .key_by(&Ev::key)
               .window(SlidingEventTimeWindows::of(200ms, 100ms))
               .aggregate(CountSum(), ToRes());
  OperatorHarness<Res> h(job.node(s.node_index()));
  h.Open();
  h.ProcessElement(Ev{1, 150, 1}, 150);
  h.ProcessWatermark(199);
  EXPECT_THAT(h.values(), ElementsAre(Res{1, 0, 200, 1, 1}));
  // ts 120 is in [0, 200) (closed) and [100, 300) (open): counted there, not late.
  h.ProcessElement(Ev{1, 120, 2}, 120);
  // ts 50 is only in [-100, 100) and [0, 200), both closed: late, dropped.
  h.ProcessElement(Ev{1, 50, 4}, 50);
  h.EndInput();
  EXPECT_THAT(h.values(), ElementsAre(Res{1, 0, 200, 1, 1}, Res{1, 100, 300, 2, 3}));
  EXPECT_EQ(StatsOf(h.op()).late_records_dropped(), 1u);
}

TEST(WindowOperatorTest, ShuffledBeyondTheBoundLateRecordsReachOnlyTheSideOutput) {
  // Records arriving out of order by more than bound + lateness: the plain loop over the
  // on-time records equals the results, and the side output holds exactly the others.
  const OutputTag<Ev> late("late");
  const int64_t lateness = 20;
  std::vector<Ev> evs = MakeEvents(2000, 9);
  std::mt19937 rng(10);
  std::vector<Ev> arrival;
  for (const Ev& e : evs) {
    arrival.push_back(e);
    if (arrival.size() > 30 && rng() % 10 == 0) {  // an old record shows up again, very late
      Ev old = arrival[arrival.size() - 30];
      old.v = 1000 + static_cast<int64_t>(arrival.size());
      arrival.push_back(old);
    }
  }
  JobBuilder job("late-shuffle", 1);
  auto s = job.source(NullSource<Ev>())
               .key_by(&Ev::key)
               .window(TumblingEventTimeWindows::of(100ms))
               .allowed_lateness(std::chrono::milliseconds(lateness))
               .side_output_late_data(late)
               .aggregate(CountSum(), ToRes());
  OperatorHarness<Res> h(job.node(s.node_index()));
  h.CollectSideOutput(late);
  h.Open();
  // Reference: which records the operator must accept (window not yet cleaned up), and the
  // final result of every window over the accepted ones.
  int64_t wm = kMinWatermark, max_ts = kMinWatermark;
  std::vector<Ev> accepted, rejected;
  for (const Ev& e : arrival) {
    const int64_t start = WindowStart(e.ts, 0, 100);
    (start + 99 + lateness <= wm ? rejected : accepted).push_back(e);
    h.ProcessElement(e, e.ts);
    max_ts = std::max(max_ts, e.ts);
    wm = std::max(wm, max_ts - kBound);
    h.ProcessWatermark(wm);
  }
  h.EndInput();
  ASSERT_FALSE(rejected.empty());
  // The last firing of each window is its final result.
  std::map<std::tuple<int64_t, int64_t, int64_t>, Res> last;
  for (const Res& r : h.values()) last[{std::get<0>(r), std::get<1>(r), std::get<2>(r)}] = r;
  std::vector<Res> finals;
  for (auto& [k, r] : last) finals.push_back(r);
  EXPECT_EQ(Sorted(finals), AlignedReference(accepted, 100, 100));
  std::vector<int64_t> side, want;
  for (const auto& r : h.side_output(late)) side.push_back(r.value.v);
  for (const Ev& e : rejected) want.push_back(e.v);
  EXPECT_EQ(side, want);
}

// ---- Sessions ------------------------------------------------------------------------------

TEST(WindowOperatorTest, SessionMergeMergesStateAndTimers) {
  JobBuilder job("sessions", 1);
  auto s = job.source(NullSource<Ev>())
               .key_by(&Ev::key)
               .window(EventTimeSessionWindows::with_gap(50ms))
               .aggregate(CountSum(), ToRes());
  OperatorHarness<Res> h(job.node(s.node_index()));
  h.Open();
  auto* timers = TimersOf<TimeWindow>(h);
  h.ProcessElement(Ev{1, 0, 1}, 0);      // [0, 50)
  h.ProcessElement(Ev{1, 100, 2}, 100);  // [100, 150)
  h.ProcessElement(Ev{2, 10, 64}, 10);   // another key: [10, 60)
  EXPECT_EQ(timers->num_timers(TimeDomain::kEventTime), 3u);
  h.ProcessElement(Ev{1, 40, 4}, 40);  // [40, 90) merges with [0, 50) into [0, 90)
  EXPECT_EQ(timers->num_timers(TimeDomain::kEventTime), 3u);  // 49 deleted, 89 added
  h.ProcessWatermark(59);  // key 2's session ends; key 1's old timer at 49 must not fire
  EXPECT_THAT(h.values(), ElementsAre(Res{2, 10, 60, 1, 64}));
  h.ProcessElement(Ev{1, 90, 8}, 90);  // [90, 140) touches [0, 90) and [100, 150): one session
  EXPECT_EQ(timers->num_timers(TimeDomain::kEventTime), 1u);
  h.ProcessWatermark(148);
  EXPECT_THAT(h.values(), ElementsAre(Res{2, 10, 60, 1, 64}));
  h.ProcessWatermark(149);
  EXPECT_THAT(h.values(), ElementsAre(Res{2, 10, 60, 1, 64}, Res{1, 0, 150, 4, 15}));
  EXPECT_EQ(timers->num_timers(TimeDomain::kEventTime), 0u);
  h.EndInput();
  EXPECT_EQ(h.values().size(), 2u);  // nothing fires twice
}

TEST(WindowOperatorTest, SessionMergeAddsCountTriggerState) {
  JobBuilder job("session-count", 1);
  auto s = job.source(NullSource<Ev>())
               .key_by(&Ev::key)
               .window(EventTimeSessionWindows::with_gap(50ms))
               .trigger(CountTrigger::of(3))
               .aggregate(CountSum(), ToRes());
  OperatorHarness<Res> h(job.node(s.node_index()));
  h.Open();
  h.ProcessElement(Ev{1, 0, 1}, 0);    // [0, 50)
  h.ProcessElement(Ev{1, 80, 2}, 80);  // [80, 130)
  EXPECT_THAT(h.values(), IsEmpty());
  h.ProcessElement(Ev{1, 40, 4}, 40);  // [40, 90) merges both: counts 1 + 1 + 1 = 3 fires
  EXPECT_THAT(h.values(), ElementsAre(Res{1, 0, 130, 3, 7}));
}

TEST(WindowOperatorTest, DynamicGapSessionsUseEachRecordsGap) {
  JobBuilder job("dyn", 1);
  auto s = job.source(NullSource<Ev>())
               .key_by(&Ev::key)
               .window(EventTimeSessionWindows::with_dynamic_gap(
                   [](const Ev& e) { return std::chrono::milliseconds(e.v); }))
               .aggregate(CountSum(), ToRes());
  OperatorHarness<Res> h(job.node(s.node_index()));
  h.Open();
  h.ProcessElement(Ev{1, 0, 100}, 0);     // [0, 100)
  h.ProcessElement(Ev{1, 90, 10}, 90);    // [90, 100): inside
  h.ProcessElement(Ev{1, 150, 10}, 150);  // [150, 160): a new session
  h.EndInput();
  EXPECT_THAT(Sorted(h.values()), ElementsAre(Res{1, 0, 100, 2, 110}, Res{1, 150, 160, 1, 10}));
}

// ---- Timers and triggers -------------------------------------------------------------------

TEST(WindowOperatorTest, OneTimerPerKeyAndWindowFiringOnce) {
  JobBuilder job("once", 1);
  auto s = job.source(NullSource<Ev>())
               .key_by(&Ev::key)
               .window(TumblingEventTimeWindows::of(100ms))
               .reduce(
                   [](const Ev& a, const Ev& b) {
                     return Ev{a.key, std::max(a.ts, b.ts), a.v + b.v};
                   },
                   [](const int64_t& key, const TimeWindow& w, const Ev& e, Collector<Res>& out) {
                     out.collect({key, w.start, w.end, e.ts, e.v});
                   });
  OperatorHarness<Res> h(job.node(s.node_index()));
  h.Open();
  for (int i = 0; i < 50; ++i) h.ProcessElement(Ev{i % 2, i, 1}, i);
  EXPECT_EQ(TimersOf<TimeWindow>(h)->num_timers(TimeDomain::kEventTime), 2u);
  h.ProcessWatermark(98);
  EXPECT_THAT(h.values(), IsEmpty());
  h.ProcessWatermark(99);
  EXPECT_THAT(Sorted(h.values()), ElementsAre(Res{0, 0, 100, 48, 25}, Res{1, 0, 100, 49, 25}));
  h.ProcessWatermark(500);
  h.EndInput();
  EXPECT_EQ(h.values().size(), 2u);
}

TEST(WindowOperatorTest, ProcessingTimeWindowsFireThroughProcessingTime) {
  JobBuilder job("proc", 1);
  auto s = job.source(NullSource<Ev>())
               .key_by(&Ev::key)
               .window(TumblingProcessingTimeWindows::of(100ms))
               .aggregate(CountSum(), ToRes());
  OperatorHarness<Res> h(job.node(s.node_index()));
  h.Open();
  h.SetProcessingTime(1'010);
  h.ProcessElement(Ev{1, -5, 1});  // event timestamps play no part
  h.ProcessElement(Ev{2, -5, 2});
  h.SetProcessingTime(1'050);
  h.ProcessElement(Ev{1, -5, 4});
  h.ProcessWatermark(kMaxWatermark - 1);  // nor do watermarks
  EXPECT_THAT(h.values(), IsEmpty());
  h.SetProcessingTime(1'098);
  EXPECT_THAT(h.values(), IsEmpty());
  h.SetProcessingTime(1'099);
  EXPECT_THAT(Sorted(h.values()), ElementsAre(Res{1, 1000, 1100, 2, 5}, Res{2, 1000, 1100, 1, 2}));
  h.SetProcessingTime(1'100);
  h.ProcessElement(Ev{1, -5, 8});
  h.SetProcessingTime(1'250);
  EXPECT_EQ(h.values().back(), (Res{1, 1100, 1200, 1, 8}));
  EXPECT_EQ(h.values().size(), 3u);
}

TEST(WindowOperatorTest, ProcessingTimeSessionsAndSlidingFire) {
  JobBuilder job("proc-sessions", 1);
  auto s = job.source(NullSource<Ev>())
               .key_by(&Ev::key)
               .window(ProcessingTimeSessionWindows::with_gap(100ms))
               .aggregate(CountSum(), ToRes());
  OperatorHarness<Res> h(job.node(s.node_index()));
  h.Open();
  h.SetProcessingTime(0);
  h.ProcessElement(Ev{1, 0, 1});
  h.SetProcessingTime(80);
  h.ProcessElement(Ev{1, 0, 2});  // extends the session to [0, 180)
  h.SetProcessingTime(150);
  EXPECT_THAT(h.values(), IsEmpty());
  h.SetProcessingTime(179);
  EXPECT_THAT(h.values(), ElementsAre(Res{1, 0, 180, 2, 3}));

  JobBuilder job2("proc-sliding", 1);
  auto s2 = job2.source(NullSource<Ev>())
                .key_by(&Ev::key)
                .window(SlidingProcessingTimeWindows::of(200ms, 100ms))
                .aggregate(CountSum(), ToRes());
  OperatorHarness<Res> h2(job2.node(s2.node_index()));
  h2.Open();
  h2.SetProcessingTime(150);
  h2.ProcessElement(Ev{1, 0, 1});
  h2.SetProcessingTime(400);
  EXPECT_THAT(h2.values(), ElementsAre(Res{1, 0, 200, 1, 1}, Res{1, 100, 300, 1, 1}));
}

TEST(WindowOperatorTest, ContinuousTriggerFiresEveryIntervalAndAtTheEnd) {
  JobBuilder job("continuous", 1);
  auto s = job.source(NullSource<Ev>())
               .key_by(&Ev::key)
               .window(TumblingEventTimeWindows::of(1000ms))
               .trigger(ContinuousEventTimeTrigger::of(300ms))
               .aggregate(CountSum(), ToRes());
  OperatorHarness<Res> h(job.node(s.node_index()));
  h.Open();
  h.ProcessElement(Ev{1, 310, 1}, 310);  // first firing at 300 (310 rounded down)
  h.ProcessElement(Ev{1, 320, 2}, 320);
  h.ProcessWatermark(299);
  EXPECT_THAT(h.values(), IsEmpty());
  h.ProcessWatermark(300);
  EXPECT_THAT(h.values(), ElementsAre(Res{1, 0, 1000, 2, 3}));
  h.ProcessElement(Ev{1, 500, 4}, 500);
  h.ProcessWatermark(899);  // fires at 600 (not 900 yet)
  EXPECT_EQ(h.values().size(), 2u);
  EXPECT_EQ(h.values().back(), (Res{1, 0, 1000, 3, 7}));
  h.ProcessWatermark(999);  // 900 and the window's end
  EXPECT_EQ(h.values().size(), 4u);
  h.EndInput();
  EXPECT_EQ(h.values().size(), 4u);  // the window is gone: nothing fires again
  EXPECT_EQ(TimersOf<TimeWindow>(h)->num_timers(TimeDomain::kEventTime), 0u);
}

TEST(WindowOperatorTest, PurgingTriggerClearsTheWindowAfterEachFiring) {
  for (bool purge : {false, true}) {
    JobBuilder job("purge", 1);
    auto keyed = job.source(NullSource<Ev>()).key_by(&Ev::key);
    auto global = keyed.window(GlobalWindows::create());
    auto to_res = [](const int64_t& key, const GlobalWindow&, const std::pair<int64_t, int64_t>& cs,
                     Collector<Res>& out) {
      out.collect({key, 0, 0, cs.first, cs.second});
    };
    auto s = purge ? global.trigger(PurgingTrigger<CountTrigger>::of(CountTrigger::of(2)))
                         .aggregate(CountSum(), to_res)
                   : global.trigger(CountTrigger::of(2)).aggregate(CountSum(), to_res);
    OperatorHarness<Res> h(job.node(s.node_index()));
    h.Open();
    for (int64_t v : {1, 2, 4, 8}) h.ProcessElement(Ev{1, 0, v}, 0);
    if (purge) {
      EXPECT_THAT(h.values(), ElementsAre(Res{1, 0, 0, 2, 3}, Res{1, 0, 0, 2, 12}));
    } else {
      EXPECT_THAT(h.values(), ElementsAre(Res{1, 0, 0, 2, 3}, Res{1, 0, 0, 4, 15}));
    }
  }
}

TEST(WindowOperatorTest, WindowAllRunsInOneSubtaskOverEveryKey) {
  JobBuilder job("all", 4);
  auto s =
      job.source(NullSource<Ev>())
          .window_all(TumblingEventTimeWindows::of(100ms))
          .aggregate(aggregates::top_n<Ev>(2, &Ev::key, &Ev::v),
                     [](const TimeWindow& w, const std::vector<std::pair<int64_t, int64_t>>& top,
                        Collector<Res>& out) {
                       for (size_t i = 0; i < top.size(); ++i) {
                         out.collect({top[i].first, w.start, w.end, static_cast<int64_t>(i + 1),
                                      top[i].second});
                       }
                     });
  EXPECT_EQ(job.node(s.node_index()).parallelism, 1);
  OperatorHarness<Res> h(job.node(s.node_index()));
  h.Open();
  h.ProcessElement(Ev{1, 10, 5}, 10);
  h.ProcessElement(Ev{2, 20, 7}, 20);
  h.ProcessElement(Ev{3, 30, 7}, 30);
  h.ProcessElement(Ev{4, 130, 1}, 130);
  h.EndInput();
  EXPECT_THAT(h.values(),
              ElementsAre(Res{2, 0, 100, 1, 7}, Res{3, 0, 100, 2, 7}, Res{4, 100, 200, 1, 1}));
}

TEST(WindowOperatorTest, PerKeySumsThenWindowAllTopNEqualAPlainLoop) {
  // The leaderboard: per player and window the summed score (emitted at the window's max
  // timestamp), then per window the top 3 of those sums, ties by player id.
  const std::vector<Ev> evs = MakeEvents(3000, 16);
  JobBuilder job("leaderboard", 2);
  auto sums =
      job.source(NullSource<Ev>())
          .key_by(&Ev::key)
          .window(TumblingEventTimeWindows::of(500ms))
          .aggregate(aggregates::sum<Ev>(&Ev::v), [](const int64_t& player, const TimeWindow& w,
                                                     const int64_t& total, Collector<Ev>& out) {
            out.collect(Ev{player, w.max_timestamp(), total});
          });
  auto top =
      sums.window_all(TumblingEventTimeWindows::of(500ms))
          .aggregate(
              aggregates::top_n<Ev>(3, &Ev::key, &Ev::v),
              [](const TimeWindow& w, const std::vector<std::pair<int64_t, int64_t>>& top,
                 Collector<Res>& out) {
                for (size_t i = 0; i < top.size(); ++i) {
                  out.collect({w.end, static_cast<int64_t>(i + 1), top[i].first, top[i].second, 0});
                }
              });
  OperatorHarness<Ev> first(job.node(sums.node_index()));
  OperatorHarness<Res> second(job.node(top.node_index()));
  first.Open();
  second.Open();
  size_t forwarded = 0;
  auto forward = [&] {  // what the first stage emitted so far, then its watermark
    for (; forwarded < first.output().size(); ++forwarded) {
      second.ProcessElement(first.output()[forwarded].value, first.output()[forwarded].timestamp);
    }
    if (!first.watermarks().empty()) second.ProcessWatermark(first.watermarks().back());
  };
  int64_t max_ts = kMinWatermark;
  for (const Ev& e : Arrival(evs, true, 17)) {
    first.ProcessElement(e, e.ts);
    max_ts = std::max(max_ts, e.ts);
    first.ProcessWatermark(max_ts - kBound);
    forward();
  }
  first.EndInput();
  forward();
  second.EndInput();
  // Plain loop.
  std::map<int64_t, std::map<int64_t, int64_t>> totals;  // window end -> player -> total
  for (const Ev& e : evs) totals[WindowStart(e.ts, 0, 500) + 500][e.key] += e.v;
  std::vector<Res> want;
  for (auto& [end, players] : totals) {
    std::vector<std::pair<int64_t, int64_t>> ranked(players.begin(), players.end());
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    for (size_t i = 0; i < ranked.size() && i < 3; ++i) {
      want.emplace_back(end, static_cast<int64_t>(i + 1), ranked[i].first, ranked[i].second, 0);
    }
  }
  EXPECT_EQ(second.values(), want);
  EXPECT_GT(want.size(), 30u);
}

TEST(WindowOperatorTest, EndOfInputFiresEveryWindowAndReduceWithoutWindowFunction) {
  JobBuilder job("batch", 1);
  auto s = job.source(NullSource<Ev>())
               .key_by(&Ev::key)
               .window(TumblingEventTimeWindows::of(1000ms))
               .reduce([](const Ev& a, const Ev& b) {
                 return Ev{a.key, a.ts, a.v + b.v};
               });
  OperatorHarness<Ev> h(job.node(s.node_index()));
  h.Open();
  h.ProcessElement(Ev{1, 5, 1}, 5);
  h.ProcessElement(Ev{1, 2005, 2}, 2005);
  h.ProcessElement(Ev{1, 6, 4}, 6);
  EXPECT_THAT(h.values(), IsEmpty());
  h.EndInput();
  ASSERT_EQ(h.values().size(), 2u);
  EXPECT_EQ(h.values()[0].v, 5);
  EXPECT_EQ(h.output()[0].timestamp, 999);
  EXPECT_EQ(h.values()[1].v, 2);
}

}  // namespace
}  // namespace eddy
