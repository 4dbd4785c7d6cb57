#include "jobmanager/taskmanager_registry.h"

#include <gtest/gtest.h>

#include "common/secrets.h"

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
  EXPECT_TRUE(*registry.Register(Tm("a", 2), t0));
  EXPECT_TRUE(*registry.Register(Tm("b", 3), t0));
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
  ASSERT_TRUE(registry.Register(Tm("a", 2), t0).ok());
  ASSERT_TRUE(registry.Register(Tm("b", 2), t0).ok());
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
  ASSERT_TRUE(registry.Register(Tm("a", 2), t0).ok());
  registry.ExpireLost(t0 + 10s);
  EXPECT_FALSE(registry.Heartbeat(TaskManagerId("a"), t0 + 10s));  // expired ones must re-register
}

TEST(TaskManagerRegistryTest, ReRegistrationRefreshesWithoutDuplicating) {
  TaskManagerRegistry registry(5s);
  auto t0 = Clock::time_point{} + 100s;
  EXPECT_TRUE(*registry.Register(Tm("a", 2), t0));
  auto again = Tm("a", 4);
  again.data_port = 7001;
  EXPECT_FALSE(*registry.Register(again, t0 + 4s));
  EXPECT_EQ(registry.size(), 1u);
  EXPECT_EQ(registry.total_slots(), 4);
  EXPECT_EQ(registry.List()[0].data_port, 7001);
  EXPECT_TRUE(registry.ExpireLost(t0 + 8s).empty());  // the re-registration counted as a beat
}

TEST(TaskManagerRegistryTest, OutOfOrderHeartbeatDoesNotMoveTimeBack) {
  TaskManagerRegistry registry(5s);
  auto t0 = Clock::time_point{} + 100s;
  ASSERT_TRUE(registry.Register(Tm("a", 2), t0).ok());
  registry.Heartbeat(TaskManagerId("a"), t0 + 4s);
  registry.Heartbeat(TaskManagerId("a"), t0 + 1s);
  EXPECT_TRUE(registry.ExpireLost(t0 + 8s).empty());
}

TEST(TaskManagerRegistryTest, AnIdRegisteredOnOneConnectionCannotBeTakenFromAnother) {
  TaskManagerRegistry registry(5s);
  auto t0 = Clock::time_point{} + 100s;
  auto tm = Tm("a", 2);
  tm.rpc_connection_id = 7;
  tm.rpc_peer = "127.0.0.1:4000";
  ASSERT_TRUE(*registry.Register(tm, t0));
  auto impostor = Tm("a", 4000);
  impostor.rpc_connection_id = 8;
  impostor.rpc_peer = "127.0.0.1:5000";
  auto refused = registry.Register(impostor, t0 + 1s);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(refused.status().message().find("127.0.0.1:5000"), std::string::npos);
  EXPECT_EQ(registry.total_slots(), 2);
  EXPECT_TRUE(registry.IsConnectionOf(TaskManagerId("a"), 7));
  EXPECT_FALSE(registry.IsConnectionOf(TaskManagerId("a"), 8));
  EXPECT_FALSE(registry.IsConnectionOf(TaskManagerId("b"), 7));
  // Once its connection closed, the id is free again.
  ASSERT_TRUE(registry.RemoveByConnection(7).has_value());
  EXPECT_TRUE(*registry.Register(impostor, t0 + 2s));
}

rpc::RegisterTaskManagerRequest GoodRegistration() {
  rpc::RegisterTaskManagerRequest r;
  r.set_resource_id("tm-1.zone_a");
  r.set_host("10.0.0.7");
  r.set_data_port(6121);
  r.set_rpc_port(6122);
  r.set_num_slots(4);
  r.set_rpc_credential(RandomSecret());
  return r;
}

TEST(TaskManagerRegistryTest, RegistrationsWithUnsafeIdsOrAbsurdValuesAreRefused) {
  EXPECT_TRUE(ValidateRegistration(GoodRegistration()).ok());
  auto v6 = GoodRegistration();
  v6.set_host("[fd00::1]");
  EXPECT_TRUE(ValidateRegistration(v6).ok());
  auto refused = [](auto change) {
    auto r = GoodRegistration();
    change(r);
    return ValidateRegistration(r);
  };
  auto newline = refused([](auto& r) { r.set_resource_id("tm\n# TYPE evil gauge"); });
  EXPECT_EQ(newline.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(newline.message().find('\n'), std::string::npos) << "the bad id is shown escaped";
  EXPECT_NE(newline.message().find("tm\\n#"), std::string::npos) << newline.message();
  EXPECT_FALSE(refused([](auto& r) { r.set_resource_id(""); }).ok());
  EXPECT_FALSE(refused([](auto& r) { r.set_resource_id("a\"b"); }).ok());
  EXPECT_FALSE(refused([](auto& r) { r.set_resource_id(std::string(129, 'x')); }).ok());
  EXPECT_TRUE(refused([](auto& r) { r.set_resource_id(std::string(128, 'x')); }).ok());
  auto slots = refused([](auto& r) { r.set_num_slots(4000000000u); });
  EXPECT_EQ(slots.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(slots.message().find("4000000000"), std::string::npos) << slots.message();
  EXPECT_FALSE(refused([](auto& r) { r.set_num_slots(0); }).ok());
  EXPECT_TRUE(refused([](auto& r) { r.set_num_slots(kMaxSlotsPerTaskManager); }).ok());
  EXPECT_FALSE(refused([](auto& r) { r.set_num_slots(kMaxSlotsPerTaskManager + 1); }).ok());
  EXPECT_FALSE(refused([](auto& r) { r.set_host("evil host"); }).ok());
  EXPECT_FALSE(refused([](auto& r) { r.set_host(""); }).ok());
  EXPECT_FALSE(refused([](auto& r) { r.set_data_port(70000); }).ok());
  EXPECT_FALSE(refused([](auto& r) { r.set_rpc_port(0); }).ok());
  EXPECT_FALSE(refused([](auto& r) { r.set_rpc_credential(""); }).ok());
}

}  // namespace
}  // namespace eddy
