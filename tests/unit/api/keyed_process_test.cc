// KeyedProcessFunction through the operator harness: per-key state scoped to the record's
// key, event-time timers that fire once at the right watermark with their key current (and
// all remaining ones at the end of input), processing-time timers, TTL, side outputs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "api/datastream.h"
#include "tests/support/operator_harness.h"

namespace eddy {
namespace {

using testing::NullSource;

using ::testing::ElementsAre;
using testing::OperatorHarness;

using Event = std::pair<std::string, int64_t>;  // (key, value)
using Out = std::tuple<std::string, int64_t, int64_t>;

/// Emits (key, running count, running sum) per record from ValueState; on an event-time
/// timer at record time + 100 emits (key, -1, timer time).
struct CountAndRemind {
  ValueState<std::pair<int64_t, int64_t>>* totals = nullptr;
  void open(KeyedStateStore& store) {
    totals = &store.get_state(ValueStateDescriptor<std::pair<int64_t, int64_t>>{"totals"});
  }
  void process_element(const Event& e, KeyedProcessContext<std::string>& ctx,
                       Collector<Out>& out) {
    auto t = totals->value().value_or(std::pair<int64_t, int64_t>{0, 0});
    t.first += 1;
    t.second += e.second;
    totals->update(t);
    out.collect({ctx.current_key(), t.first, t.second});
    if (ctx.timestamp() != kNoTimestamp) ctx.register_event_time_timer(ctx.timestamp() + 100);
  }
  void on_timer(int64_t time, KeyedProcessContext<std::string>& ctx, Collector<Out>& out) {
    EXPECT_EQ(ctx.time_domain(), TimeDomain::kEventTime);
    out.collect({ctx.current_key(), -1, time});
  }
};

TEST(KeyedProcessTest, StateIsPerKeyAndEqualsAPlainLoop) {
  JobBuilder job("keyed", 1);
  auto s = job.source(NullSource<Event>()).key_by(&Event::first).process(CountAndRemind());
  OperatorHarness<Out> h(job.node(s.node_index()));
  h.Open();
  std::mt19937_64 rng(3);
  std::map<std::string, std::pair<int64_t, int64_t>> plain;
  std::vector<Out> want;
  for (int i = 0; i < 2000; ++i) {
    Event e{"k" + std::to_string(rng() % 37), static_cast<int64_t>(rng() % 1000)};
    auto& p = plain[e.first];
    p.first += 1;
    p.second += e.second;
    want.emplace_back(e.first, p.first, p.second);
    h.ProcessElement(e);
  }
  EXPECT_EQ(h.values(), want);
}

TEST(KeyedProcessTest, EventTimeTimersFireOnceAtTheWatermarkWithTheirKey) {
  JobBuilder job("keyed", 1);
  auto s = job.source(NullSource<Event>()).key_by(&Event::first).process(CountAndRemind());
  OperatorHarness<Out> h(job.node(s.node_index()));
  h.Open();
  h.ProcessElement(Event{"a", 1}, 1000);
  h.ProcessElement(Event{"b", 1}, 1000);
  h.ProcessElement(Event{"a", 1}, 1000);  // same time, same key: one timer
  h.ProcessElement(Event{"a", 1}, 1050);
  h.ProcessWatermark(1099);
  EXPECT_EQ(h.values().size(), 4u);  // nothing fired yet
  h.ProcessWatermark(1100);
  const std::vector<Out> values = h.values();
  std::vector<Out> fired(values.begin() + 4, values.end());
  EXPECT_THAT(fired, ::testing::UnorderedElementsAre(Out{"a", -1, 1100}, Out{"b", -1, 1100}));
  h.ProcessWatermark(1149);
  EXPECT_EQ(h.values().size(), 6u);
  h.EndInput();  // the MAX watermark fires what is left
  EXPECT_EQ(h.values().back(), (Out{"a", -1, 1150}));
  EXPECT_EQ(h.values().size(), 7u);
  // The timer's output carries the timer's time and comes before the watermark.
  EXPECT_EQ(h.output()[4].timestamp, 1100);
}

struct ProcessingTimeout {
  void process_element(const Event& e, KeyedProcessContext<std::string>& ctx,
                       Collector<Out>& out) {
    ctx.register_processing_time_timer(ctx.current_processing_time() + e.second);
    out.collect({e.first, 0, ctx.current_processing_time()});
  }
  void on_timer(int64_t time, KeyedProcessContext<std::string>& ctx, Collector<Out>& out) {
    EXPECT_EQ(ctx.time_domain(), TimeDomain::kProcessingTime);
    out.collect({ctx.current_key(), 1, time});
  }
};

TEST(KeyedProcessTest, ProcessingTimeTimersFireThroughTheTasksClock) {
  JobBuilder job("keyed", 1);
  auto s = job.source(NullSource<Event>()).key_by(&Event::first).process(ProcessingTimeout());
  OperatorHarness<Out> h(job.node(s.node_index()));
  h.Open();
  h.SetProcessingTime(10'000);
  h.ProcessElement(Event{"x", 500});
  h.ProcessElement(Event{"y", 200});
  h.SetProcessingTime(10'199);
  EXPECT_EQ(h.values().size(), 2u);
  h.SetProcessingTime(10'200);
  EXPECT_EQ(h.values().back(), (Out{"y", 1, 10'200}));
  h.SetProcessingTime(20'000);
  EXPECT_EQ(h.values().back(), (Out{"x", 1, 10'500}));
  EXPECT_EQ(h.values().size(), 4u);
}

struct TtlCounter {
  ValueState<int64_t>* count = nullptr;
  void open(KeyedStateStore& store) {
    ValueStateDescriptor<int64_t> desc{"count"};
    desc.ttl.ttl = std::chrono::milliseconds(1000);
    count = &store.get_state(desc);
  }
  void process_element(const Event& e, KeyedProcessContext<std::string>&, Collector<Out>& out) {
    const int64_t n = count->value().value_or(0) + 1;
    count->update(n);
    out.collect({e.first, n, 0});
  }
};

TEST(KeyedProcessTest, TtlStateIsGoneAfterItsTime) {
  JobBuilder job("keyed", 1);
  auto s = job.source(NullSource<Event>()).key_by(&Event::first).process(TtlCounter());
  OperatorHarness<Out> h(job.node(s.node_index()));
  h.Open();
  h.state_backends().now_ms = 0;
  h.ProcessElement(Event{"a", 0});
  h.state_backends().now_ms = 999;
  h.ProcessElement(Event{"a", 0});  // written at 999: lives until 1999
  h.state_backends().now_ms = 2000;
  h.ProcessElement(Event{"a", 0});
  EXPECT_THAT(h.values(), ElementsAre(Out{"a", 1, 0}, Out{"a", 2, 0}, Out{"a", 1, 0}));
}

TEST(KeyedProcessTest, SideOutputsCarryWhatTheFunctionSendsThere) {
  static const OutputTag<std::string> kOdd("odd");
  struct Split {
    void process_element(const Event& e, KeyedProcessContext<std::string>& ctx,
                         Collector<Out>& out) {
      if (e.second % 2 == 1) {
        ctx.output(kOdd, e.first);
      } else {
        out.collect({e.first, e.second, 0});
      }
    }
  };
  JobBuilder job("keyed", 1);
  auto s = job.source(NullSource<Event>()).key_by(&Event::first).process(Split());
  OperatorHarness<Out> h(job.node(s.node_index()));
  h.CollectSideOutput(kOdd);
  h.Open();
  for (int64_t i = 0; i < 6; ++i) h.ProcessElement(Event{"k" + std::to_string(i), i});
  EXPECT_EQ(h.values().size(), 3u);
  ASSERT_EQ(h.side_output(kOdd).size(), 3u);
  EXPECT_EQ(h.side_output(kOdd)[0].value, "k1");
}

}  // namespace
}  // namespace eddy
