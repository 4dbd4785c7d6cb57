#include "jobmanager/taskmanager_registry.h"

#include <gtest/gtest.h>

namespace eddy {
namespace {

using namespace std::chrono_literals;
using Clock = TaskManagerRegistry::Clock;

TaskManagerInfo Tm(const std::string& id, int slots) {
  TaskManagerInfo info;
  info.id = TaskManagerId(id);
  info.host = "127.0.0.1";
  info.data_port = 7000;
  info.slots_total = slots;
  return info;
}

TEST(TaskManagerRegistryTest, CountsTaskManagersAndSlots) {
  TaskManagerRegistry registry(5s);
  auto t0 = Clock::time_point{} + 100s;
  EXPECT_TRUE(registry.Register(Tm("a", 2), t0));
  EXPECT_TRUE(registry.Register(Tm("b", 3), t0));
  EXPECT_EQ(registry.size(), 2u);
  EXPECT_EQ(registry.total_slots(), 5);
  EXPECT_EQ(registry.free_slots(), 5);
  auto list = registry.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id.value(), "a");
  EXPECT_EQ(list[1].slots_total, 3);
}

TEST(TaskManagerRegistryTest, ExpiresOnlyTaskManagersPastTheTimeout) {
  TaskManagerRegistry registry(5s);
  auto t0 = Clock::time_point{} + 100s;
  registry.Register(Tm("a", 2), t0);
  registry.Register(Tm("b", 2), t0);
  EXPECT_TRUE(registry.Heartbeat(TaskManagerId("a"), t0 + 4s));
  EXPECT_TRUE(registry.ExpireLost(t0 + 5s).empty());  // exactly at the timeout: still alive
  auto lost = registry.ExpireLost(t0 + 5s + 1ms);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].id.value(), "b");
  EXPECT_EQ(registry.size(), 1u);
  EXPECT_EQ(registry.total_slots(), 2);
  // "a" last beat at t0+4s, so it goes at t0+9s+.
  EXPECT_TRUE(registry.ExpireLost(t0 + 9s).empty());
  EXPECT_EQ(registry.ExpireLost(t0 + 9s + 1ms).size(), 1u);
  EXPECT_EQ(registry.size(), 0u);
}

TEST(TaskManagerRegistryTest, HeartbeatFromUnknownTaskManagerIsRejected) {
  TaskManagerRegistry registry(5s);
  auto t0 = Clock::time_point{} + 100s;
  EXPECT_FALSE(registry.Heartbeat(TaskManagerId("ghost"), t0));
  registry.Register(Tm("a", 2), t0);
  registry.ExpireLost(t0 + 10s);
  EXPECT_FALSE(registry.Heartbeat(TaskManagerId("a"), t0 + 10s));  // expired ones must re-register
}

TEST(TaskManagerRegistryTest, ReRegistrationRefreshesWithoutDuplicating) {
  TaskManagerRegistry registry(5s);
  auto t0 = Clock::time_point{} + 100s;
  EXPECT_TRUE(registry.Register(Tm("a", 2), t0));
  auto again = Tm("a", 4);
  again.data_port = 7001;
  EXPECT_FALSE(registry.Register(again, t0 + 4s));
  EXPECT_EQ(registry.size(), 1u);
  EXPECT_EQ(registry.total_slots(), 4);
  EXPECT_EQ(registry.List()[0].data_port, 7001);
  EXPECT_TRUE(registry.ExpireLost(t0 + 8s).empty());  // the re-registration counted as a beat
}

TEST(TaskManagerRegistryTest, OutOfOrderHeartbeatDoesNotMoveTimeBack) {
  TaskManagerRegistry registry(5s);
  auto t0 = Clock::time_point{} + 100s;
  registry.Register(Tm("a", 2), t0);
  registry.Heartbeat(TaskManagerId("a"), t0 + 4s);
  registry.Heartbeat(TaskManagerId("a"), t0 + 1s);
  EXPECT_TRUE(registry.ExpireLost(t0 + 8s).empty());
}

}  // namespace
}  // namespace eddy
