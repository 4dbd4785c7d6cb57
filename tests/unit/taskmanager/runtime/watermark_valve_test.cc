#include "taskmanager/runtime/watermark_valve.h"

#include <gtest/gtest.h>

namespace eddy::runtime {
namespace {

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

TEST(StatusWatermarkValveTest, EndedChannelsReleaseTheWatermark) {
  StatusWatermarkValve v(2);
  v.OnWatermark(0, 7);
  EXPECT_EQ(v.OnChannelEnded(1).watermark, 7);
  EXPECT_EQ(v.OnChannelEnded(0).watermark, kMaxWatermark);
}

}  // namespace
}  // namespace eddy::runtime
