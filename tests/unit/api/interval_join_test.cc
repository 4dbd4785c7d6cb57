// The interval join through the operator harness: equals a nested-loop join on random data
// (several keys, negative and positive bounds, inclusive and exclusive ends, in-order and
// out-of-order input with lagging watermarks), drops late records, stamps pairs with the
// later timestamp, and leaves no buffered rows or timers once the watermark has passed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "api/datastream.h"
#include "tests/support/operator_harness.h"

namespace eddy {
namespace {

using testing::NullSource;

using ::testing::ElementsAre;
using testing::OperatorHarness;

struct Click {
  int64_t ts;
  std::string user;
  int64_t id;
};
struct Buy {
  int64_t ts;
  std::string user;
  int64_t id;
};
EDDY_FIELDS(Click, ts, user, id);
EDDY_FIELDS(Buy, ts, user, id);

using Pair = std::tuple<std::string, int64_t, int64_t>;  // (user, click id, buy id)

struct PairUp {
  void process_element(const Click& c, const Buy& b, IntervalJoinContext<std::string>& ctx,
                       Collector<Pair>& out) {
    EXPECT_EQ(ctx.current_key(), c.user);
    EXPECT_EQ(ctx.left_timestamp(), c.ts);
    EXPECT_EQ(ctx.right_timestamp(), b.ts);
    out.collect({c.user, c.id, b.id});
  }
};

using JoinOperator = KeyedOperator<TwoInputStreamOperator<Click, Buy>>;

struct Case {
  int64_t lower;
  int64_t upper;
  bool lower_exclusive;
  bool upper_exclusive;
  int64_t disorder;  // out-of-orderness bound (0: in order)
};

std::string Name(const Case& c) {
  return "[" + std::to_string(c.lower) + (c.lower_exclusive ? "x" : "") + ", " +
         std::to_string(c.upper) + (c.upper_exclusive ? "x" : "") + "] disorder " +
         std::to_string(c.disorder);
}

class IntervalJoinHarness {
 public:
  explicit IntervalJoinHarness(const Case& c) {
    auto clicks = job_.source(NullSource<Click>()).key_by(&Click::user);
    auto buys = job_.source(NullSource<Buy>()).key_by(&Buy::user);
    auto join = clicks.interval_join(buys).between(c.lower, c.upper);
    if (c.lower_exclusive) join.lower_bound_exclusive();
    if (c.upper_exclusive) join.upper_bound_exclusive();
    node_ = join.process(PairUp()).node_index();
    h_ = std::make_unique<OperatorHarness<Pair>>(job_.node(node_), std::vector<int>{1, 1});
    h_->Open();
  }
  OperatorHarness<Pair>& h() { return *h_; }
  JoinOperator& op() { return static_cast<JoinOperator&>(h_->op()); }
  /// Returns true if neither side buffers anything for `user` and no timer is left.
  bool Clean(const std::vector<std::string>& users) {
    auto& left = **op().backend().get_map_state(
        MapStateDescriptor<int64_t, std::vector<Click>>{"left-buffer"});
    auto& right = **op().backend().get_map_state(
        MapStateDescriptor<int64_t, std::vector<Buy>>{"right-buffer"});
    bool clean = op().timers().num_timers(TimeDomain::kEventTime) == 0;
    for (const auto& u : users) {
      op().backend().set_current_key(u);
      clean = clean && left.is_empty() && right.is_empty();
    }
    return clean;
  }

 private:
  JobBuilder job_{"join", 1};
  int node_ = 0;
  std::unique_ptr<OperatorHarness<Pair>> h_;
};

std::vector<Pair> NestedLoop(const std::vector<Click>& clicks, const std::vector<Buy>& buys,
                             const Case& c) {
  std::vector<Pair> out;
  for (const Click& l : clicks) {
    for (const Buy& r : buys) {
      const int64_t d = r.ts - l.ts;
      const bool above = c.lower_exclusive ? d > c.lower : d >= c.lower;
      const bool below = c.upper_exclusive ? d < c.upper : d <= c.upper;
      if (l.user == r.user && above && below) out.emplace_back(l.user, l.id, r.id);
    }
  }
  return out;
}

/// Records of both sides in arrival order: each arrives at ts + a delay of up to `disorder`.
struct Arrival {
  int64_t at;
  bool left;
  size_t index;
};

TEST(IntervalJoinTest, EqualsANestedLoopJoinOnRandomData) {
  const std::vector<std::string> users = {"ann", "bob", "cy", "dee", "eve"};
  const std::vector<Case> cases = {
      {-50, 100, false, false, 0},   {-50, 100, false, false, 80}, {-200, -20, false, false, 60},
      {10, 300, false, false, 150},  {0, 0, false, false, 40},     {-40, 40, true, true, 30},
      {-100, 60, true, false, 0},    {20, 90, false, true, 120},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(Name(c));
    std::mt19937_64 rng(7 + static_cast<uint64_t>(c.upper));
    std::vector<Click> clicks;
    std::vector<Buy> buys;
    // Coarse timestamps, so many records share one and bounds are often hit exactly.
    for (int64_t i = 0; i < 400; ++i) {
      clicks.push_back({static_cast<int64_t>(rng() % 400) * 10, users[rng() % users.size()], i});
      buys.push_back({static_cast<int64_t>(rng() % 400) * 10, users[rng() % users.size()], i});
    }
    std::vector<Arrival> arrivals;
    auto delay = [&] { return c.disorder == 0 ? 0 : static_cast<int64_t>(rng() % (c.disorder + 1)); };
    for (size_t i = 0; i < clicks.size(); ++i) arrivals.push_back({clicks[i].ts + delay(), true, i});
    for (size_t i = 0; i < buys.size(); ++i) arrivals.push_back({buys[i].ts + delay(), false, i});
    std::stable_sort(arrivals.begin(), arrivals.end(),
                     [](const Arrival& a, const Arrival& b) { return a.at < b.at; });

    IntervalJoinHarness join(c);
    auto& h = join.h();
    int64_t max_ts[2] = {kMinWatermark, kMinWatermark};
    int n = 0;
    for (const Arrival& a : arrivals) {
      const int input = a.left ? 0 : 1;
      const int64_t ts = a.left ? clicks[a.index].ts : buys[a.index].ts;
      if (a.left) {
        h.ProcessElement(clicks[a.index], ts, 0);
      } else {
        h.ProcessElement(buys[a.index], ts, 1);
      }
      max_ts[input] = std::max(max_ts[input], ts);
      // Bounded out-of-orderness watermarks, every few records per input.
      if (++n % 7 == 0) {
        for (int i = 0; i < 2; ++i) {
          if (max_ts[i] != kMinWatermark) h.ProcessWatermark(max_ts[i] - c.disorder - 1, 0, i);
        }
      }
    }
    h.EndInput();
    std::vector<Pair> got = h.values();
    std::vector<Pair> want = NestedLoop(clicks, buys, c);
    EXPECT_GT(want.size(), 0u);
    EXPECT_THAT(got, ::testing::UnorderedElementsAreArray(want));
    EXPECT_TRUE(join.Clean(users));
  }
}

TEST(IntervalJoinTest, PairsCarryTheLaterTimestamp) {
  IntervalJoinHarness join({-100, 100, false, false, 0});
  auto& h = join.h();
  h.ProcessElement(Click{1000, "a", 1}, 1000, 0);
  h.ProcessElement(Buy{1040, "a", 2}, 1040, 1);
  h.ProcessElement(Buy{950, "a", 3}, 950, 1);
  h.ProcessElement(Buy{1040, "b", 4}, 1040, 1);  // another key: no pair
  ASSERT_EQ(h.output().size(), 2u);
  EXPECT_EQ(h.output()[0].value, (Pair{"a", 1, 2}));
  EXPECT_EQ(h.output()[0].timestamp, 1040);
  EXPECT_EQ(h.output()[1].value, (Pair{"a", 1, 3}));
  EXPECT_EQ(h.output()[1].timestamp, 1000);
}

TEST(IntervalJoinTest, StateIsCleanedOnceTheWatermarkPassesTheBounds) {
  // Left rows live until the watermark passes ts + upper, right rows until ts - lower.
  IntervalJoinHarness join({-30, 50, false, false, 0});
  auto& h = join.h();
  h.ProcessElement(Click{1000, "a", 1}, 1000, 0);
  h.ProcessElement(Buy{1000, "b", 2}, 1000, 1);
  EXPECT_EQ(join.op().timers().num_timers(TimeDomain::kEventTime), 2u);
  h.ProcessWatermark(1029, 0, 0);
  h.ProcessWatermark(1029, 0, 1);
  EXPECT_FALSE(join.Clean({"a", "b"}));
  h.ProcessWatermark(1030, 0, 0);
  h.ProcessWatermark(1030, 0, 1);  // right row of b (1000 + 30) is gone, left row of a not
  EXPECT_EQ(join.op().timers().num_timers(TimeDomain::kEventTime), 1u);
  // A buy of a at 1049 still finds the click (1049 - 1000 <= 50).
  h.ProcessElement(Buy{1049, "a", 3}, 1049, 1);
  EXPECT_THAT(h.values(), ElementsAre(Pair{"a", 1, 3}));
  h.ProcessWatermark(1100, 0, 0);
  h.ProcessWatermark(1100, 0, 1);
  EXPECT_TRUE(join.Clean({"a", "b"}));
}

TEST(IntervalJoinTest, LateRecordsAreDropped) {
  IntervalJoinHarness join({-100, 100, false, false, 0});
  auto& h = join.h();
  h.ProcessElement(Buy{1300, "a", 1}, 1300, 1);  // buffered until the watermark passes 1400
  h.ProcessWatermark(1250, 0, 0);
  h.ProcessWatermark(1250, 0, 1);
  h.ProcessElement(Click{1240, "a", 2}, 1240, 0);  // behind the watermark: dropped
  h.ProcessElement(Click{1260, "a", 3}, 1260, 0);
  EXPECT_THAT(h.values(), ElementsAre(Pair{"a", 3, 1}));
  h.EndInput();
  EXPECT_TRUE(join.Clean({"a"}));
}

TEST(IntervalJoinTest, BothInputsArePartitionedByKey) {
  JobBuilder job("join", 1);
  auto clicks = job.source(NullSource<Click>()).key_by(&Click::user);
  auto buys = job.source(NullSource<Buy>()).key_by(&Buy::user);
  auto s = clicks.interval_join(buys).between(std::chrono::milliseconds(-5),
                                              std::chrono::milliseconds(5)).process(PairUp());
  const OperatorNode& node = job.node(s.node_index());
  ASSERT_EQ(node.inputs.size(), 2u);
  EXPECT_TRUE(node.inputs[0].partitioning == job::HASH);
  EXPECT_TRUE(node.inputs[1].partitioning == job::HASH);
  EXPECT_EQ(node.inputs[1].logical_input, 1);
}

}  // namespace
}  // namespace eddy
