#include "jobmanager/restart_strategy.h"

#include <gtest/gtest.h>

namespace eddy {
namespace {

using namespace std::chrono_literals;
using Clock = RestartStrategy::Clock;

TEST(RestartStrategyTest, NoneNeverRestarts) {
  NoRestartStrategy s;
  EXPECT_FALSE(s.OnFailure(Clock::now()).has_value());
}

TEST(RestartStrategyTest, FixedDelayRestartsUntilAttemptsAreExhausted) {
  FixedDelayRestartStrategy s(3, 1500ms);
  auto t = Clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(s.OnFailure(t), std::optional(1500ms)) << i;
  EXPECT_FALSE(s.OnFailure(t).has_value());
  EXPECT_FALSE(s.OnFailure(t).has_value());
  FixedDelayRestartStrategy zero(0, 1s);
  EXPECT_FALSE(zero.OnFailure(t).has_value());
}

TEST(RestartStrategyTest, ExponentialDelaysGrowByTheMultiplierUpToTheMax) {
  ExponentialDelayRestartStrategy s({.initial_backoff = 100ms,
                                     .max_backoff = 1000ms,
                                     .multiplier = 2.0,
                                     .jitter_factor = 0.0,
                                     .reset_threshold = 1h});
  auto t = Clock::now();
  std::vector<int64_t> got;
  for (int i = 0; i < 7; ++i) got.push_back(s.OnFailure(t + i * 1s)->count());
  EXPECT_EQ(got, (std::vector<int64_t>{100, 200, 400, 800, 1000, 1000, 1000}));
}

TEST(RestartStrategyTest, ExponentialJitterStaysWithinItsFactor) {
  ExponentialDelayRestartStrategy s({.initial_backoff = 1000ms,
                                     .max_backoff = 1000ms,
                                     .multiplier = 1.5,
                                     .jitter_factor = 0.1,
                                     .reset_threshold = 1h},
                                    /*seed=*/7);
  auto t = Clock::now();
  bool varied = false;
  int64_t first = -1;
  for (int i = 0; i < 200; ++i) {
    int64_t d = s.OnFailure(t + i * 1ms)->count();
    EXPECT_GE(d, 900);
    EXPECT_LE(d, 1100);
    if (first < 0) first = d;
    if (d != first) varied = true;
  }
  EXPECT_TRUE(varied) << "jitter never moved the delay";
}

TEST(RestartStrategyTest, ExponentialResetsAfterAQuietPeriod) {
  ExponentialDelayRestartStrategy s({.initial_backoff = 100ms,
                                     .max_backoff = 10s,
                                     .multiplier = 3.0,
                                     .jitter_factor = 0.0,
                                     .reset_threshold = 10min});
  auto t = Clock::now();
  EXPECT_EQ(s.OnFailure(t)->count(), 100);
  EXPECT_EQ(s.OnFailure(t + 1s)->count(), 300);
  EXPECT_EQ(s.OnFailure(t + 2s)->count(), 900);
  EXPECT_EQ(s.OnFailure(t + 2s + 10min)->count(), 100);
}

TEST(RestartStrategyTest, CreatedFromConfigKeys) {
  Config c;
  EXPECT_EQ(CreateRestartStrategy(c)->Describe(), "none");
  ASSERT_TRUE(c.ApplyJobConfig({{"restart-strategy", "fixed-delay"},
                                {"restart-strategy.fixed-delay.attempts", "3"},
                                {"restart-strategy.fixed-delay.delay", "1s"}})
                  .ok());
  EXPECT_EQ(CreateRestartStrategy(c)->Describe(), "fixed-delay (3 attempts, delay 1s)");
  ASSERT_TRUE(c.ApplyJobConfig({{"restart-strategy", "exponential-delay"},
                                {"restart-strategy.exponential-delay.backoff-multiplier", "2.5"},
                                {"restart-strategy.exponential-delay.jitter-factor", "0"}})
                  .ok());
  auto s = CreateRestartStrategy(c);
  auto t = Clock::now();
  EXPECT_EQ(s->OnFailure(t)->count(), 1000);
  EXPECT_EQ(s->OnFailure(t)->count(), 2500);
}

}  // namespace
}  // namespace eddy
