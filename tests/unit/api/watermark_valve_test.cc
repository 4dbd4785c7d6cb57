// StatusWatermarkValve: the minimum over active channels, idle channels left out and
// realigned when they speak again, every channel idle (the watermark goes as far as any
// channel got, then the valve is idle), ended channels, and the order of a change.
#include "api/watermark_valve.h"

#include <string>

#include <gtest/gtest.h>

namespace eddy {
namespace {

/// Returns what a change hands on, in order: "a" / "i" per status, the watermark's value.
std::string Applied(const StatusWatermarkValve::Change& change) {
  std::string out;
  change.Apply([&](EventTime wm) { out += (out.empty() ? "" : " ") + std::to_string(wm); },
               [&](WatermarkStatus s) {
                 out += (out.empty() ? "" : " ") + std::string(s == WatermarkStatus::kIdle ? "i" : "a");
               });
  return out;
}

TEST(StatusWatermarkValveTest, MinimumOverActiveChannelsOnlyAdvances) {
  StatusWatermarkValve v(2);
  EXPECT_FALSE(v.OnWatermark(0, 10).watermark);
  EXPECT_EQ(v.OnWatermark(1, 5).watermark, 5);
  EXPECT_EQ(v.OnWatermark(1, 20).watermark, 10);
  EXPECT_FALSE(v.OnWatermark(1, 15).watermark);  // a channel's watermark never goes back
  EXPECT_EQ(v.watermark(), 10);
}

TEST(StatusWatermarkValveTest, IdleChannelsAreLeftOutAndAllIdleIsIdle) {
  StatusWatermarkValve v(2);
  v.OnWatermark(0, 100);
  auto c = v.OnStatus(1, WatermarkStatus::kIdle);
  EXPECT_EQ(c.watermark, 100);
  EXPECT_FALSE(c.status);
  c = v.OnStatus(0, WatermarkStatus::kIdle);
  EXPECT_EQ(c.status, WatermarkStatus::kIdle);
  c = v.OnStatus(1, WatermarkStatus::kActive);
  EXPECT_EQ(c.status, WatermarkStatus::kActive);
  // Channel 1 is behind: it rejoins the minimum once it reaches the valve's watermark.
  EXPECT_FALSE(v.OnWatermark(1, 50).watermark);
  EXPECT_EQ(v.OnWatermark(1, 120).watermark, 120);
}

TEST(StatusWatermarkValveTest, AllIdleGoesAsFarAsAnyChannelGotThenIdle) {
  // Four upstream subtasks: 2 and 3 never get input and go idle; 1 reads one far-future
  // row and falls silent first, while 0, still reading, holds the minimum; then 0 too.
  StatusWatermarkValve v(4);
  EXPECT_EQ(Applied(v.OnStatus(2, WatermarkStatus::kIdle)), "");
  EXPECT_EQ(Applied(v.OnStatus(3, WatermarkStatus::kIdle)), "");
  EXPECT_EQ(Applied(v.OnWatermark(1, 695'000)), "");
  EXPECT_EQ(Applied(v.OnWatermark(0, 95'000)), "95000");
  EXPECT_EQ(Applied(v.OnStatus(1, WatermarkStatus::kIdle)), "");  // 0 holds it at 95000
  // No channel holds it back any more: the far-future row's watermark goes out, then idle.
  EXPECT_EQ(Applied(v.OnStatus(0, WatermarkStatus::kIdle)), "695000 i");
  EXPECT_EQ(v.watermark(), 695'000);
  EXPECT_TRUE(v.idle());

  // Subtask 2 gets its first input: active at once, but left out of the minimum until its
  // watermark reaches the valve's (its rows before that are late).
  EXPECT_EQ(Applied(v.OnStatus(2, WatermarkStatus::kActive)), "a");
  EXPECT_EQ(Applied(v.OnWatermark(2, 600'000)), "");
  EXPECT_EQ(Applied(v.OnWatermark(2, 800'000)), "800000");
  // It falls silent again: nothing is left to flush beyond its own watermark.
  EXPECT_EQ(Applied(v.OnStatus(2, WatermarkStatus::kIdle)), "i");
}

TEST(StatusWatermarkValveTest, AllIdleDoesNotGoBackBelowTheWatermark) {
  StatusWatermarkValve v(2);
  v.OnWatermark(0, 50);
  v.OnWatermark(1, 40);
  v.OnStatus(1, WatermarkStatus::kIdle);  // 50
  v.OnStatus(1, WatermarkStatus::kActive);  // behind: not aligned
  v.OnWatermark(1, 45);
  v.OnStatus(0, WatermarkStatus::kIdle);  // only the unaligned channel is active: no change
  EXPECT_EQ(v.watermark(), 50);
  EXPECT_EQ(Applied(v.OnStatus(1, WatermarkStatus::kIdle)), "i");
  EXPECT_EQ(v.watermark(), 50);
}

TEST(StatusWatermarkValveTest, EndedChannelsReleaseTheWatermark) {
  StatusWatermarkValve v(2);
  v.OnWatermark(0, 7);
  EXPECT_EQ(v.OnInputEnded(1).watermark, 7);
  EXPECT_EQ(v.OnInputEnded(0).watermark, kMaxWatermark);
}

TEST(StatusWatermarkValveTest, AnEndedChannelMakesAnIdleValveActiveBeforeItsWatermark) {
  StatusWatermarkValve v(2);
  v.OnWatermark(0, 7);
  v.OnWatermark(1, 9);
  EXPECT_EQ(Applied(v.OnStatus(0, WatermarkStatus::kIdle)), "9");
  EXPECT_EQ(Applied(v.OnStatus(1, WatermarkStatus::kIdle)), "i");
  EXPECT_EQ(Applied(v.OnInputEnded(1)), "a " + std::to_string(kMaxWatermark));
}

}  // namespace
}  // namespace eddy
