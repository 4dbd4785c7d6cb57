// Latency markers: sources emit them every metrics.latency.interval, operators pass them on
// in order with the records and without running user functions, sinks measure them, and
// LatencyStats summarizes the last samples per source subtask.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "api/datastream.h"
#include "api/latency_stats.h"
#include "tests/support/operator_harness.h"

namespace eddy {
namespace {

using testing::NullSource;

using testing::OperatorHarness;

TEST(LatencyMarkerTest, SourceEmitsAMarkerEveryIntervalNamingItselfAndItsSubtask) {
  JobBuilder job("latency", 2);
  auto s = job.source(NullSource<int64_t>());
  OperatorHarness<int64_t> h(job.node(s.node_index()));
  h.context().latency_interval_ms = 100;
  h.context().source_operator = 7;
  h.context().subtask = 1;
  h.SetProcessingTime(1000);
  h.Open();
  h.SetProcessingTime(1350);
  const auto& markers = h.collected().latency_markers;
  ASSERT_EQ(markers.size(), 3u);
  for (size_t i = 0; i < markers.size(); ++i) {
    EXPECT_EQ(markers[i].marked_time, 1100 + 100 * static_cast<int64_t>(i));
    EXPECT_EQ(markers[i].source, 7);
    EXPECT_EQ(markers[i].subtask, 1);
  }
}

TEST(LatencyMarkerTest, NoMarkersWhenTheIntervalIsZero) {
  JobBuilder job("latency", 1);
  auto s = job.source(NullSource<int64_t>());
  OperatorHarness<int64_t> h(job.node(s.node_index()));
  h.Open();
  h.SetProcessingTime(100'000);
  EXPECT_TRUE(h.collected().latency_markers.empty());
  EXPECT_EQ(h.time().pending(), 0u);
}

TEST(LatencyMarkerTest, OperatorsForwardMarkersInOrderWithoutRunningTheFunction) {
  JobBuilder job("latency", 1);
  int calls = 0;
  auto s = job.source(NullSource<int64_t>()).map([&calls](const int64_t& v) {
    ++calls;
    return v * 2;
  });
  OperatorHarness<int64_t> h(job.node(s.node_index()));
  h.Open();
  h.ProcessElement<int64_t>(1);
  h.ProcessElement<int64_t>(2);
  h.ProcessLatencyMarker(LatencyMarker{500, 0, 3});
  h.ProcessElement<int64_t>(3);
  EXPECT_EQ(calls, 3);
  const auto& c = h.collected();
  ASSERT_EQ(c.latency_markers.size(), 1u);
  EXPECT_EQ(c.latency_markers[0].marked_time, 500);
  EXPECT_EQ(c.latency_markers[0].subtask, 3);
  EXPECT_EQ(c.trace, "rrlr");  // after the records before it, not later
}

TEST(LatencyMarkerTest, SinkRecordsTheLatencyOfEachMarker) {
  struct Discard : SinkFunction<int64_t> {
    void WriteBatch(std::span<const StreamRecord<int64_t>>) override {}
  };
  testing::ManualProcessingTime time;
  LatencyStats stats;
  RuntimeContext ctx;
  ctx.processing_time = &time;
  ctx.latency = &stats;
  internal::SinkOperator<int64_t> sink(std::make_unique<Discard>());
  sink.Setup(&ctx);
  time.AdvanceTo(10'000, [] {});
  sink.ProcessLatencyMarker(0, LatencyMarker{9'990, 2, 0});
  sink.ProcessLatencyMarker(0, LatencyMarker{9'970, 2, 0});
  sink.ProcessLatencyMarker(0, LatencyMarker{9'999, 2, 1});
  auto sums = stats.Summaries();
  ASSERT_EQ(sums.size(), 2u);
  EXPECT_EQ(sums[0].source, 2);
  EXPECT_EQ(sums[0].subtask, 0);
  EXPECT_EQ(sums[0].count, 2u);
  EXPECT_EQ(sums[0].min, 10);
  EXPECT_EQ(sums[0].max, 30);
  EXPECT_DOUBLE_EQ(sums[0].mean, 20);
  EXPECT_EQ(sums[1].subtask, 1);
  EXPECT_EQ(sums[1].max, 1);
}

TEST(LatencyMarkerTest, StatsKeepTheLastSamplesAndMatchAPlainQuantile) {
  LatencyStats stats;
  std::mt19937_64 rng(5);
  std::vector<int64_t> all;
  for (int i = 0; i < 1000; ++i) {
    const int64_t latency = static_cast<int64_t>(rng() % 5000);
    all.push_back(latency);
    stats.Add(LatencyMarker{100'000 - latency, 0, 0}, 100'000);
  }
  std::vector<int64_t> window(all.end() - LatencyStats::kWindow, all.end());
  std::sort(window.begin(), window.end());
  auto sums = stats.Summaries();
  ASSERT_EQ(sums.size(), 1u);
  EXPECT_EQ(sums[0].count, 1000u);
  EXPECT_EQ(sums[0].min, window.front());
  EXPECT_EQ(sums[0].max, window.back());
  EXPECT_EQ(sums[0].p50, window[64]);
  EXPECT_EQ(sums[0].p99, window[126]);
}

}  // namespace
}  // namespace eddy
