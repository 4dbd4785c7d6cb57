// Timers of both backends (the heap timer service): deduplication, deletion, time order,
// watermark and processing-time advance with the timer's key made current, and snapshot /
// restore by key-group range into the other backend type.
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "api/state.h"
#include "tests/unit/taskmanager/state/backend_fixture.h"

namespace eddy::state {
namespace {

using testing::BackendTest;
using Fired = std::tuple<int64_t, std::string, int64_t>;  // time, key, namespace

class HeapTimerServiceTest : public BackendTest {
 protected:
  // Advances the watermark and returns what fired, checking that each timer's key is current.
  static std::vector<Fired> Advance(KeyedStateBackend& backend, InternalTimerService& timers,
                                    int64_t watermark) {
    std::vector<Fired> fired;
    timers.advance_watermark(watermark, [&](const InternalTimer& t) {
      EXPECT_EQ(backend.current_key<std::string>(), t.key_as<std::string>());
      fired.emplace_back(t.time, t.key_as<std::string>(), t.namespace_as<int64_t>());
    });
    return fired;
  }
};

TEST_P(HeapTimerServiceTest, DeduplicatesDeletesAndFiresInTimeOrderWithTheKeyCurrent) {
  auto backend = Make();
  InternalTimerService* timers = backend->timer_service("t");
  backend->set_current_key(std::string("b"));
  timers->register_event_time_timer(int64_t{0}, 30);
  timers->register_event_time_timer(int64_t{0}, 30);  // duplicate
  timers->register_event_time_timer(int64_t{1}, 10);
  backend->set_current_key(std::string("a"));
  timers->register_event_time_timer(int64_t{0}, 20);
  timers->register_event_time_timer(int64_t{0}, 40);
  timers->delete_event_time_timer(int64_t{0}, 40);
  timers->delete_event_time_timer(int64_t{0}, 99);  // absent: no effect
  timers->register_processing_time_timer(int64_t{0}, 15);
  EXPECT_EQ(timers->num_timers(TimeDomain::kEventTime), 3u);
  EXPECT_EQ(timers->next_timer_time(TimeDomain::kEventTime), 10);

  EXPECT_EQ(Advance(*backend, *timers, 9), std::vector<Fired>{});
  EXPECT_EQ(Advance(*backend, *timers, 30),
            (std::vector<Fired>{{10, "b", 1}, {20, "a", 0}, {30, "b", 0}}));
  EXPECT_EQ(timers->num_timers(TimeDomain::kEventTime), 0u);
  EXPECT_EQ(timers->current_watermark(), 30);
  EXPECT_EQ(Advance(*backend, *timers, 100), std::vector<Fired>{}) << "each timer fires once";

  std::vector<int64_t> processing;
  timers->advance_processing_time(
      20, [&](const InternalTimer& t) { processing.push_back(t.time); });
  EXPECT_EQ(processing, std::vector<int64_t>{15});
}

TEST_P(HeapTimerServiceTest, TimersRegisteredWhileFiringFireInTheSameAdvance) {
  auto backend = Make();
  InternalTimerService* timers = backend->timer_service("t");
  backend->set_current_key(std::string("k"));
  timers->register_event_time_timer(int64_t{0}, 10);
  std::vector<int64_t> fired;
  timers->advance_watermark(50, [&](const InternalTimer& t) {
    fired.push_back(t.time);
    if (t.time < 40) timers->register_event_time_timer(int64_t{0}, t.time + 15);
  });
  EXPECT_EQ(fired, (std::vector<int64_t>{10, 25, 40}));
}

TEST_P(HeapTimerServiceTest, ManyRandomTimersFireSortedAndDeduplicated) {
  auto backend = Make();
  InternalTimerService* timers = backend->timer_service("t");
  std::mt19937_64 rng(7);
  std::set<Fired> want;
  for (int i = 0; i < 3000; ++i) {
    const std::string key = "k" + std::to_string(rng() % 200);
    const auto time = static_cast<int64_t>(rng() % 500);
    const auto ns = static_cast<int64_t>(rng() % 3);
    backend->set_current_key(key);
    if (rng() % 5 == 0) {
      timers->delete_event_time_timer(ns, time);
      want.erase({time, key, ns});
    } else {
      timers->register_event_time_timer(ns, time);
      want.insert({time, key, ns});
    }
  }
  const std::vector<Fired> fired = Advance(*backend, *timers, 1000);
  ASSERT_EQ(fired.size(), want.size());
  for (size_t i = 1; i < fired.size(); ++i) {
    EXPECT_LE(std::get<0>(fired[i - 1]), std::get<0>(fired[i]));
  }
  EXPECT_EQ(std::set<Fired>(fired.begin(), fired.end()), want);
}

TEST_P(HeapTimerServiceTest, SnapshotHalvesRestoreIntoTheOtherBackendType) {
  auto source = Make();
  InternalTimerService* timers = source->timer_service("window-timers");
  for (int i = 0; i < 300; ++i) {
    source->set_current_key("k" + std::to_string(i));
    timers->register_event_time_timer(int64_t{i % 3}, i);
    timers->register_processing_time_timer(int64_t{0}, 1000 + i);
  }
  std::string low, high;
  ASSERT_TRUE(source->SnapshotKeyGroups({0, 63}, &low).ok());
  ASSERT_TRUE(source->SnapshotKeyGroups({64, 127}, &high).ok());

  const std::string other = testing::OtherBackend(GetParam());
  auto a = Make(other, {0, 63});
  auto b = Make(other, {64, 127});
  ASSERT_TRUE(a->Restore(low).ok());
  ASSERT_TRUE(b->Restore(high).ok());
  InternalTimerService* ta = a->timer_service("window-timers");
  InternalTimerService* tb = b->timer_service("window-timers");
  EXPECT_GT(ta->num_timers(TimeDomain::kEventTime), 0u);
  EXPECT_GT(tb->num_timers(TimeDomain::kEventTime), 0u);
  EXPECT_EQ(ta->num_timers(TimeDomain::kProcessingTime) + tb->num_timers(TimeDomain::kProcessingTime), 300u);

  std::vector<Fired> fired = Advance(*a, *ta, 1000);
  for (const Fired& f : fired) {
    EXPECT_TRUE(KeyGroupRange({0, 63}).Contains(KeyGroupFor(KeyHash(std::get<1>(f)), 128)));
  }
  const std::vector<Fired> fired_b = Advance(*b, *tb, 1000);
  fired.insert(fired.end(), fired_b.begin(), fired_b.end());
  std::set<Fired> want;
  for (int i = 0; i < 300; ++i) want.insert({i, "k" + std::to_string(i), i % 3});
  EXPECT_EQ(std::set<Fired>(fired.begin(), fired.end()), want);

  // A subset restore keeps only its key groups.
  auto subset = Make(GetParam(), {10, 20});
  ASSERT_TRUE(subset->Restore(low).ok());
  ASSERT_TRUE(subset->Restore(high).ok());
  for (const Fired& f : Advance(*subset, *subset->timer_service("window-timers"), 1000)) {
    EXPECT_TRUE(KeyGroupRange({10, 20}).Contains(KeyGroupFor(KeyHash(std::get<1>(f)), 128)));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, HeapTimerServiceTest, ::testing::ValuesIn(testing::kBackendTypes),
                         testing::BackendName);

}  // namespace
}  // namespace eddy::state
