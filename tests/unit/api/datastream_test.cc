// Operators of the DataStream API driven one at a time through the operator harness:
// watermarks over channels and inputs, idleness, end of input, processing-time callbacks,
// timestamps and watermark generation, side outputs and two-input operators.
#include "api/datastream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/operator_harness.h"

namespace eddy {
namespace {

using testing::NullSource;

using ::testing::ElementsAre;
using testing::OperatorHarness;
using testing::RocksDbStateBackends;

/// Forwards records and reports the watermark it saw with each: (value, timestamp, watermark).
struct SeenWatermark {
  void operator()(const int64_t& v, ProcessContext& ctx,
                  Collector<std::tuple<int64_t, int64_t, int64_t>>& out) const {
    out.collect({v, ctx.timestamp(), ctx.current_watermark()});
  }
};

TEST(DataStreamOperatorTest, WatermarkIsTheMinimumOverChannels) {
  JobBuilder job("wm", 1);
  auto s = job.source(NullSource<int64_t>()).process(SeenWatermark());
  OperatorHarness<std::tuple<int64_t, int64_t, int64_t>> h(job.node(s.node_index()), {3});
  h.Open();
  h.ProcessWatermark(10, 0);
  h.ProcessWatermark(20, 1);
  EXPECT_TRUE(h.watermarks().empty());  // channel 2 has said nothing yet
  h.ProcessWatermark(5, 2);
  EXPECT_THAT(h.watermarks(), ElementsAre(5));
  h.ProcessWatermark(30, 2);
  EXPECT_THAT(h.watermarks(), ElementsAre(5, 10));
  h.ProcessWatermark(25, 0);
  EXPECT_THAT(h.watermarks(), ElementsAre(5, 10, 20));
  h.ProcessWatermark(15, 0);  // never goes back
  EXPECT_THAT(h.watermarks(), ElementsAre(5, 10, 20));
  h.ProcessElement<int64_t>(7, 100);
  ASSERT_EQ(h.output().size(), 1u);
  EXPECT_EQ(h.output()[0].value, std::make_tuple(int64_t{7}, int64_t{100}, int64_t{20}));
  EXPECT_EQ(h.output()[0].timestamp, 100);
}

TEST(DataStreamOperatorTest, IdleChannelDoesNotHoldTheWatermarkBackAndRejoinsWhenItSpeaks) {
  JobBuilder job("idle", 1);
  auto s = job.source(NullSource<int64_t>()).process(SeenWatermark());
  OperatorHarness<std::tuple<int64_t, int64_t, int64_t>> h(job.node(s.node_index()), {2});
  h.Open();
  h.ProcessWatermark(100, 0);
  EXPECT_TRUE(h.watermarks().empty());  // channel 1 holds it at the minimum
  h.SetChannelStatus(WatermarkStatus::kIdle, 1);
  EXPECT_THAT(h.watermarks(), ElementsAre(100));
  h.ProcessWatermark(200, 0);
  EXPECT_THAT(h.watermarks(), ElementsAre(100, 200));
  // Channel 1 speaks again with a watermark behind: it is left out until it catches up,
  // then holds the watermark back like any active channel.
  h.ProcessWatermark(150, 1);
  h.ProcessWatermark(300, 0);
  EXPECT_THAT(h.watermarks(), ElementsAre(100, 200, 300));
  h.ProcessWatermark(250, 1);
  h.ProcessWatermark(350, 1);
  h.ProcessWatermark(500, 0);
  EXPECT_THAT(h.watermarks(), ElementsAre(100, 200, 300, 350));
  // Every channel idle: nothing holds the watermark back, so it goes as far as channel 0
  // got, then the operator's output goes idle, and active again when one speaks.
  h.SetChannelStatus(WatermarkStatus::kIdle, 0);
  EXPECT_THAT(h.watermarks(), ElementsAre(100, 200, 300, 350));  // channel 1 holds it
  h.SetChannelStatus(WatermarkStatus::kIdle, 1);
  EXPECT_THAT(h.statuses(), ElementsAre(WatermarkStatus::kIdle));
  EXPECT_THAT(h.watermarks(), ElementsAre(100, 200, 300, 350, 500));
  EXPECT_EQ(h.collected().trace, "wwwwwi");
  h.ProcessWatermark(600, 0);
  EXPECT_THAT(h.statuses(), ElementsAre(WatermarkStatus::kIdle, WatermarkStatus::kActive));
  EXPECT_THAT(h.watermarks(), ElementsAre(100, 200, 300, 350, 500, 600));
}

TEST(DataStreamOperatorTest, EndOfInputEmitsTheMaxWatermark) {
  JobBuilder job("end", 1);
  auto s = job.source(NullSource<int64_t>()).map([](int64_t x) { return x + 1; });
  OperatorHarness<int64_t> h(job.node(s.node_index()), {2});
  h.Open();
  h.ProcessWatermark(10, 0);
  h.ProcessElement<int64_t>(1, 5);
  h.EndInput();
  EXPECT_THAT(h.watermarks(), ElementsAre(kMaxWatermark));
  EXPECT_THAT(h.values(), ElementsAre(2));
  EXPECT_EQ(h.output()[0].timestamp, 5);  // map keeps the record's timestamp
}

TEST(DataStreamOperatorTest, ProcessingTimeCallbackFiresOnceAtItsTime) {
  struct Timed {
    void open(RuntimeContext&) {}
    void operator()(const int64_t& v, ProcessContext& ctx, Collector<int64_t>& out) const {
      out.collect(v);
      Collector<int64_t>* o = &out;
      ctx.register_processing_time_timer(ctx.current_processing_time() + 100,
                                         [o](int64_t now) { o->collect(-now); });
    }
  };
  JobBuilder job("timer", 1);
  auto s = job.source(NullSource<int64_t>()).process(Timed());
  OperatorHarness<int64_t> h(job.node(s.node_index()));
  h.Open();
  h.SetProcessingTime(1000);
  h.ProcessElement<int64_t>(7);
  h.SetProcessingTime(1099);
  EXPECT_THAT(h.values(), ElementsAre(7));
  h.SetProcessingTime(1100);
  EXPECT_THAT(h.values(), ElementsAre(7, -1100));
  h.SetProcessingTime(5000);
  EXPECT_THAT(h.values(), ElementsAre(7, -1100));  // once
}

TEST(DataStreamOperatorTest, SideOutputGetsWhatTheFunctionSendsThere) {
  const OutputTag<std::string> rejects("rejects");
  JobBuilder job("side", 1);
  auto s = job.source(NullSource<int64_t>())
               .process([rejects](const int64_t& v, ProcessContext& ctx, Collector<int64_t>& out) {
                 if (v >= 0) {
                   out.collect(v);
                 } else {
                   ctx.output(rejects, "negative " + std::to_string(v));
                 }
               });
  OperatorHarness<int64_t> h(job.node(s.node_index()));
  h.CollectSideOutput(rejects);
  h.Open();
  for (int64_t v : {3, -1, 4, -5}) h.ProcessElement<int64_t>(v, v * 10);
  EXPECT_THAT(h.values(), ElementsAre(3, 4));
  const auto& side = h.side_output(rejects);
  ASSERT_EQ(side.size(), 2u);
  EXPECT_EQ(side[0].value, "negative -1");
  EXPECT_EQ(side[0].timestamp, -10);
  EXPECT_EQ(side[1].value, "negative -5");
}

struct Order {
  int64_t id;
  int64_t amount;
};
struct Payment {
  int64_t order;
  int64_t paid;
};
EDDY_FIELDS(Order, id, amount);
EDDY_FIELDS(Payment, order, paid);

/// Emits "id paid" when both the order and its payment arrived, in either order.
struct MatchPayments : CoProcessFunction<Order, Payment, std::string> {
  void process_element1(const Order& o, ProcessContext&, Collector<std::string>& out) override {
    orders[o.id] = o.amount;
    if (auto it = payments.find(o.id); it != payments.end()) Emit(o.id, out);
  }
  void process_element2(const Payment& p, ProcessContext&, Collector<std::string>& out) override {
    payments[p.order] = p.paid;
    if (orders.count(p.order)) Emit(p.order, out);
  }
  void Emit(int64_t id, Collector<std::string>& out) {
    out.collect(std::to_string(id) + (orders[id] == payments[id] ? " paid" : " mismatch"));
  }
  std::map<int64_t, int64_t> orders, payments;
};

TEST(DataStreamOperatorTest, TwoInputOperatorSeesBothInputsAndCombinesTheirWatermarks) {
  JobBuilder job("connect", 1);
  auto orders = job.source(NullSource<Order>());
  auto payments = job.source(NullSource<Payment>());
  auto s = orders.connect(payments).process(MatchPayments());
  OperatorHarness<std::string> h(job.node(s.node_index()), {1, 1});
  h.Open();
  h.ProcessElement(Order{1, 10}, kNoTimestamp, 0);
  h.ProcessElement(Payment{2, 5}, kNoTimestamp, 1);
  h.ProcessElement(Payment{1, 10}, kNoTimestamp, 1);
  h.ProcessElement(Order{2, 6}, kNoTimestamp, 0);
  EXPECT_THAT(h.values(), ElementsAre("1 paid", "2 mismatch"));
  h.ProcessWatermark(50, 0, 0);
  EXPECT_TRUE(h.watermarks().empty());
  h.ProcessWatermark(40, 0, 1);
  EXPECT_THAT(h.watermarks(), ElementsAre(40));
}

TEST(DataStreamOperatorTest, TwoInputOperatorGoesAsFarAsEitherInputWhenBothFallIdle) {
  JobBuilder job("connect-idle", 1);
  auto orders = job.source(NullSource<Order>());
  auto payments = job.source(NullSource<Payment>());
  auto s = orders.connect(payments).process(MatchPayments());
  OperatorHarness<std::string> h(job.node(s.node_index()), {1, 1});
  h.Open();
  h.ProcessWatermark(50, 0, 0);
  h.ProcessWatermark(900, 0, 1);
  EXPECT_THAT(h.watermarks(), ElementsAre(50));
  h.SetChannelStatus(WatermarkStatus::kIdle, 0, 1);  // input 0 still holds it at 50
  EXPECT_THAT(h.watermarks(), ElementsAre(50));
  EXPECT_TRUE(h.statuses().empty());
  h.SetChannelStatus(WatermarkStatus::kIdle, 0, 0);
  EXPECT_THAT(h.watermarks(), ElementsAre(50, 900));
  EXPECT_EQ(h.collected().trace, "wwi");
  // Input 0 comes back behind: active, and left out until it catches up.
  h.SetChannelStatus(WatermarkStatus::kActive, 0, 0);
  h.ProcessWatermark(100, 0, 0);
  h.ProcessWatermark(950, 0, 0);
  EXPECT_THAT(h.watermarks(), ElementsAre(50, 900, 950));
  EXPECT_EQ(h.collected().trace, "wwiaw");
}

struct Event {
  int64_t ts;
  int64_t v;
};
EDDY_FIELDS(Event, ts, v);

TEST(DataStreamOperatorTest, BoundedOutOfOrdernessEmitsPeriodicWatermarksAndGoesIdle) {
  JobBuilder job("ts", 1);
  auto s = job.source(NullSource<Event>())
               .assign_timestamps(&Event::ts, bounded_out_of_orderness(std::chrono::seconds(5))
                                                  .with_idleness(std::chrono::seconds(1)));
  OperatorHarness<Event> h(job.node(s.node_index()));
  h.Open();  // at processing time 0: the first periodic emission is due at 200
  h.ProcessElement(Event{10'000, 1});
  h.ProcessElement(Event{8'000, 2});
  h.ProcessWatermark(999'999);  // upstream watermarks are dropped
  EXPECT_TRUE(h.watermarks().empty());
  h.SetProcessingTime(200);
  EXPECT_THAT(h.watermarks(), ElementsAre(10'000 - 5'000 - 1));
  EXPECT_EQ(h.output()[1].timestamp, 8'000);
  h.ProcessElement(Event{12'000, 3});
  h.SetProcessingTime(400);
  EXPECT_THAT(h.watermarks(), ElementsAre(4'999, 6'999));
  // No records for a second: idle; a record makes it active again.
  h.SetProcessingTime(1'600);
  EXPECT_THAT(h.statuses(), ElementsAre(WatermarkStatus::kIdle));
  h.ProcessElement(Event{13'000, 4});
  EXPECT_THAT(h.statuses(), ElementsAre(WatermarkStatus::kIdle, WatermarkStatus::kActive));
  h.EndInput();
  EXPECT_EQ(h.watermarks().back(), kMaxWatermark);
}

TEST(DataStreamOperatorTest, IdleTimestampAssignerTurnsActiveBeforeTheFinalWatermark) {
  JobBuilder job("ts-idle-end", 1);
  auto s = job.source(NullSource<Event>())
               .assign_timestamps(&Event::ts, monotonous().with_idleness(std::chrono::seconds(1)));
  OperatorHarness<Event> h(job.node(s.node_index()));
  h.Open();
  h.ProcessElement(Event{1'000, 1});
  h.SetProcessingTime(1'400);
  EXPECT_THAT(h.statuses(), ElementsAre(WatermarkStatus::kIdle));
  // A chained operator leaves an idle input out of its minimum, so MAX must follow active.
  h.EndInput();
  EXPECT_THAT(h.statuses(), ElementsAre(WatermarkStatus::kIdle, WatermarkStatus::kActive));
  EXPECT_THAT(h.watermarks(), ElementsAre(999, kMaxWatermark));
  h.SetProcessingTime(5'000);  // no periodic emission after the end
  EXPECT_THAT(h.watermarks(), ElementsAre(999, kMaxWatermark));
}

TEST(DataStreamOperatorTest, RollingReduceEmitsPerRecordInStreamingAndOnceInBatch) {
  for (bool batch : {false, true}) {
    JobBuilder job("reduce", 1);
    auto s = job.source(NullSource<std::pair<std::string, int64_t>>())
                 .key_by(&std::pair<std::string, int64_t>::first)
                 .sum(&std::pair<std::string, int64_t>::second);
    OperatorHarness<std::pair<std::string, int64_t>> h(job.node(s.node_index()));
    h.context().batch_mode = batch;
    h.Open();
    h.ProcessElement(std::pair<std::string, int64_t>("a", 1));
    h.ProcessElement(std::pair<std::string, int64_t>("a", 2));
    h.EndInput();
    using P = std::pair<std::string, int64_t>;
    if (batch) {
      EXPECT_THAT(h.values(), ElementsAre(P("a", 3)));
    } else {
      EXPECT_THAT(h.values(), ElementsAre(P("a", 1), P("a", 3)));
    }
  }
}

/// Rolling sum through the operator on one backend, streaming or batch.
struct RollingCase {
  const char* backend;
  bool batch;
};

class RollingReduceEqualsPlainLoop : public ::testing::TestWithParam<RollingCase> {};

TEST_P(RollingReduceEqualsPlainLoop, SumOfRandomRecords) {
  using P = std::pair<std::string, int64_t>;
  std::mt19937_64 rng(7);
  std::vector<P> records;
  for (int i = 0; i < 5000; ++i) {
    records.emplace_back("k" + std::to_string(rng() % 300), static_cast<int64_t>(rng() % 1000) - 500);
  }
  // The reference: a plain loop, every running sum (streaming) and the final ones (batch).
  std::map<std::string, int64_t> sums;
  std::vector<P> running;
  for (const P& r : records) running.emplace_back(r.first, sums[r.first] += r.second);

  JobBuilder job("rolling", 1);
  auto s = job.source(NullSource<P>()).key_by(&P::first).sum(&P::second);
  OperatorHarness<P> h(job.node(s.node_index()));
  RocksDbStateBackends rocksdb;
  if (std::string(GetParam().backend) == "rocksdb") h.context().keyed_state = &rocksdb;
  h.context().batch_mode = GetParam().batch;
  h.Open();
  for (const P& r : records) h.ProcessElement(r, 1);

  // The sums live in the operator's keyed state backend.
  auto& keyed = dynamic_cast<KeyedOperator<OneInputStreamOperator<P>>&>(h.op());
  std::map<std::string, int64_t> in_state;
  ASSERT_TRUE((keyed.backend().for_each_value<std::string, P>(
                   "reduce", [&](const std::string& k, const P& v) { in_state[k] = v.second; }))
                  .ok());
  EXPECT_EQ(in_state, sums);

  h.EndInput();
  if (GetParam().batch) {
    std::vector<P> got = h.values();
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, std::vector<P>(sums.begin(), sums.end()));
  } else {
    EXPECT_EQ(h.values(), running);
  }
  h.Close();
}

INSTANTIATE_TEST_SUITE_P(Backends, RollingReduceEqualsPlainLoop,
                         ::testing::Values(RollingCase{"hashmap", false},
                                           RollingCase{"hashmap", true},
                                           RollingCase{"rocksdb", false},
                                           RollingCase{"rocksdb", true}),
                         [](const ::testing::TestParamInfo<RollingCase>& info) {
                           return std::string(info.param.backend) +
                                  (info.param.batch ? "Batch" : "Streaming");
                         });

}  // namespace
}  // namespace eddy
