// End-to-end tests of the cluster skeleton: a real JobManager and real TaskManager
// processes on loopback, killed and restarted the hard way.
#include <fstream>
#include <csignal>
#include <random>
#include <set>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/http_client.h"
#include "tests/support/cluster.h"
#include "tests/support/process.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using testing::ChildProcess;
using testing::WaitUntil;
using namespace std::chrono_literals;

constexpr auto kHeartbeatTimeout = 3s;
constexpr auto kStartupTimeout = 20s;

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTestDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    cluster_ = std::make_unique<testing::TestCluster>(dir_);
    rpc_port_ = cluster_->rpc_port();
  }

  // Logs stay for a failed test; a passing one leaves nothing behind.
  void TearDown() override {
    if (!HasFailure()) testing::RemoveTestDir(dir_);
  }

  std::string Url(const std::string& path) const { return cluster_->Url(path); }
  nlohmann::json Get(const std::string& path) { return cluster_->Get(path); }
  int RegisteredTaskManagers() { return cluster_->RegisteredTaskManagers(); }

  std::set<std::string> TaskManagerIds() {
    std::set<std::string> ids;
    auto list = Get("/taskmanagers");
    if (!list.is_object()) return ids;
    for (const auto& tm : list["taskmanagers"]) ids.insert(tm["id"].get<std::string>());
    return ids;
  }

  void StartCluster() {
    ASSERT_TRUE(cluster_->Start(2)) << "cluster did not come up\n" << cluster_->Logs();
  }

  ChildProcess& jobmanager() { return cluster_->jobmanager(); }
  ChildProcess& tm(int i) { return cluster_->taskmanager(i); }

  std::string dir_;
  std::unique_ptr<testing::TestCluster> cluster_;
  uint16_t rpc_port_ = 0;
};

// The binaries take settings from the file, then $EDDY_PROPERTIES (what a Kubernetes
// manifest sets per pod), then --set; --print-config shows the result without starting.
TEST_F(ClusterTest, PrintConfigShowsTheFileThenEddyPropertiesThenSetFlags) {
  {
    std::ofstream file(dir_ + "/eddy.yaml");
    file << "jobmanager.rpc.address: eddy-jobmanager\ntaskmanager.host: 127.0.0.1\n"
            "rest.port: 9000\ns3.secret-key: hunter2\n";
  }
  for (const std::string binary : {"eddy-jobmanager", "eddy-taskmanager"}) {
    const std::string command = "EDDY_PROPERTIES=$'taskmanager.host: 10.0.0.7\nrest.port: 9001' " +
                                testing::BinDir() + "/" + binary + " --config " + dir_ +
                                "/eddy.yaml --set rest.port=9002 --print-config";
    auto [code, out] = testing::RunShell(dir_, command);
    EXPECT_EQ(code, 0) << out;
    EXPECT_THAT(out, HasSubstr("\njobmanager.rpc.address: eddy-jobmanager\n")) << binary;
    EXPECT_THAT(out, HasSubstr("\ntaskmanager.host: 10.0.0.7\n")) << binary;
    EXPECT_THAT(out, HasSubstr("\nrest.port: 9002\n")) << binary;
    EXPECT_THAT(out, HasSubstr("\ns3.secret-key: ******\n")) << binary;
    EXPECT_THAT(out, ::testing::Not(HasSubstr("hunter2"))) << binary;
    EXPECT_THAT(out, ::testing::Not(HasSubstr("JobManager"))) << "it started: " << out;
  }
  auto [code, out] = testing::RunShell(
      dir_, "EDDY_PROPERTIES='taskmanager.hots: x' " + testing::BinDir() +
                "/eddy-taskmanager --print-config");
  EXPECT_EQ(code, 2) << out;
  EXPECT_THAT(out, HasSubstr("EDDY_PROPERTIES"));
  EXPECT_THAT(out, HasSubstr("taskmanager.hots"));
}

TEST_F(ClusterTest, OverviewShowsTwoTaskManagersAndFourSlots) {
  StartCluster();
  auto overview = Get("/overview");
  ASSERT_TRUE(overview.is_object());
  EXPECT_EQ(overview["taskmanagers"], 2);
  EXPECT_EQ(overview["slots-total"], 4);
  EXPECT_EQ(overview["slots-available"], 4);
  for (const char* key : {"jobs-running", "jobs-finished", "jobs-cancelled", "jobs-failed"}) {
    EXPECT_EQ(overview[key], 0) << key;
  }
  EXPECT_EQ(overview["eddy-version"], EDDY_VERSION);

  auto list = Get("/taskmanagers");
  ASSERT_TRUE(list.is_object());
  ASSERT_EQ(list["taskmanagers"].size(), 2u);
  for (const auto& tm : list["taskmanagers"]) {
    EXPECT_EQ(tm["address"], "127.0.0.1");
    EXPECT_EQ(tm["slotsNumber"], 2);
    EXPECT_EQ(tm["freeSlots"], 2);
    EXPECT_LT(tm["timeSinceLastHeartbeat"].get<int64_t>(), 3000);
    // The reported data port is the one the TaskManager really listens on.
    uint16_t port = tm["dataPort"].get<uint16_t>();
    ASSERT_GT(port, 0);
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket socket(io);
    boost::system::error_code ec;
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    EXPECT_FALSE(ec) << "data port " << port << ": " << ec.message();
  }

  auto health = HttpRequest("GET", Url("/healthz"));
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
}

TEST_F(ClusterTest, RestAnswersUnknownPathAndWrongMethodWithJsonErrors) {
  cluster_->StartJobManager();
  ASSERT_TRUE(WaitUntil([&] { return RegisteredTaskManagers() == 0; }, kStartupTimeout));
  auto missing = HttpRequest("GET", Url("/no/such/thing"));
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  auto body = nlohmann::json::parse(missing->body);
  ASSERT_TRUE(body["errors"].is_array());
  EXPECT_THAT(body["errors"][0].get<std::string>(), HasSubstr("/no/such/thing"));

  auto wrong = HttpRequest("DELETE", Url("/overview"));
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 405);
  EXPECT_TRUE(nlohmann::json::parse(wrong->body)["errors"].is_array());
}

TEST_F(ClusterTest, KilledTaskManagerIsDeclaredLostWithinTimeout) {
  StartCluster();
  auto before = TaskManagerIds();
  tm(1).Kill9();
  auto killed_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitUntil([&] { return RegisteredTaskManagers() == 1; }, kHeartbeatTimeout + 2s))
      << "jobmanager log:\n" << jobmanager().Log();
  // Its control connection closed with the process: lost at once, not after the timeout.
  auto took = std::chrono::steady_clock::now() - killed_at;
  EXPECT_LE(took, 1s);
  auto overview = Get("/overview");
  EXPECT_EQ(overview["slots-total"], 2);
  EXPECT_THAT(jobmanager().Log(), HasSubstr("lost: its control connection closed"));
  // The survivor keeps its registration the whole time.
  auto after = TaskManagerIds();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_TRUE(before.count(*after.begin()));
}

TEST_F(ClusterTest, RestartedTaskManagerRegistersAgain) {
  StartCluster();
  tm(1).Kill9();
  ASSERT_TRUE(WaitUntil([&] { return RegisteredTaskManagers() == 1; }, kHeartbeatTimeout + 2s));
  cluster_->StartTaskManager();
  ASSERT_TRUE(WaitUntil([&] { return RegisteredTaskManagers() == 2; }, kStartupTimeout));
  EXPECT_EQ(Get("/overview")["slots-total"], 4);
}

TEST_F(ClusterTest, TaskManagersRegisterAgainWithRestartedJobManager) {
  StartCluster();
  auto ids = TaskManagerIds();
  std::string old_session = Get("/overview")["session"];
  jobmanager().Kill9();
  ASSERT_TRUE(WaitUntil([&] { return RegisteredTaskManagers() == -1; }, 5s));
  cluster_->StartJobManager();
  ASSERT_TRUE(WaitUntil([&] { return RegisteredTaskManagers() == 2; }, kStartupTimeout))
      << "jobmanager log:\n" << jobmanager().Log() << "\ntaskmanager log:\n" << tm(0).Log();
  EXPECT_NE(Get("/overview")["session"], old_session);
  EXPECT_EQ(TaskManagerIds(), ids);  // the same two processes, not new ones
  EXPECT_TRUE(tm(0).running());
  EXPECT_TRUE(tm(1).running());
}

TEST_F(ClusterTest, HungTaskManagerIsDeclaredLostByMissedHeartbeats) {
  StartCluster();
  ::kill(tm(1).pid(), SIGSTOP);  // hangs with its connection open: heartbeats are the backstop
  auto stopped_at = std::chrono::steady_clock::now();
  bool lost = WaitUntil([&] { return RegisteredTaskManagers() == 1; }, kHeartbeatTimeout + 2s);
  ::kill(tm(1).pid(), SIGCONT);
  ASSERT_TRUE(lost) << "jobmanager log:\n" << jobmanager().Log();
  EXPECT_GE(std::chrono::steady_clock::now() - stopped_at, kHeartbeatTimeout - 500ms);
  EXPECT_THAT(jobmanager().Log(), HasSubstr("lost: no heartbeat"));
  // Once it runs again it notices and registers again by itself.
  EXPECT_TRUE(WaitUntil([&] { return RegisteredTaskManagers() == 2; }, kHeartbeatTimeout + 2s))
      << "jobmanager log:\n" << jobmanager().Log();
}

TEST_F(ClusterTest, GarbageOnRpcPortDoesNotDisturbTheCluster) {
  StartCluster();
  std::mt19937 gen(1234);
  boost::asio::io_context io;
  for (int i = 0; i < 30; ++i) {
    boost::asio::ip::tcp::socket socket(io);
    boost::system::error_code ec;
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), rpc_port_}, ec);
    ASSERT_FALSE(ec) << ec.message();
    std::string junk(1 + gen() % 4096, '\0');
    for (auto& c : junk) c = static_cast<char>(gen());
    if (i % 3 == 0) junk.replace(0, 4, std::string("\x7f\xff\xff\xff", 4));  // huge length
    boost::asio::write(socket, boost::asio::buffer(junk), ec);
    socket.close();
  }
  // Wait two full timeouts: no TaskManager may be lost meanwhile.
  auto deadline = std::chrono::steady_clock::now() + 2 * kHeartbeatTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    ASSERT_EQ(RegisteredTaskManagers(), 2);
    std::this_thread::sleep_for(200ms);  // sampling interval of a must-hold-throughout check
  }
  EXPECT_TRUE(jobmanager().running());
  EXPECT_THAT(jobmanager().Log(), HasSubstr("closing"));
  EXPECT_THAT(jobmanager().Log(), ::testing::Not(HasSubstr(" lost: ")));
}

TEST_F(ClusterTest, EddyClusterPrintsOverviewAndTaskManagerTable) {
  StartCluster();
  std::string out_path = dir_ + "/eddy-cluster.out";
  ChildProcess cli("eddy", {"cluster", "--jobmanager", Url("")}, out_path);
  ASSERT_TRUE(WaitUntil([&] { return !cli.running(); }, 20s));
  std::string out = cli.Log();
  EXPECT_THAT(out, HasSubstr("TaskManagers  2"));
  EXPECT_THAT(out, HasSubstr("4 total, 4 available"));
  for (const auto& id : TaskManagerIds()) EXPECT_THAT(out, HasSubstr(id));
}

TEST_F(ClusterTest, EddyClusterNamesUnreachableJobManager) {
  std::string out_path = dir_ + "/eddy-cluster.out";
  ChildProcess cli("eddy", {"cluster", "--jobmanager", Url("")}, out_path);
  ASSERT_TRUE(WaitUntil([&] { return !cli.running(); }, 20s));
  EXPECT_THAT(cli.Log(), HasSubstr("cannot reach the JobManager at " + Url("")));
}

TEST_F(ClusterTest, BadConfigKeyStopsTheProcessWithItsName) {
  ChildProcess jm("eddy-jobmanager", {"--set", "rest.prot=9"}, dir_ + "/bad.log");
  ASSERT_TRUE(WaitUntil([&] { return !jm.running(); }, 20s));
  EXPECT_THAT(jm.Log(), HasSubstr("rest.prot"));
  EXPECT_THAT(jm.Log(), HasSubstr("rest.port"));  // the suggestion
  ChildProcess tm("eddy-taskmanager", {"--set", "heartbeat.interval=soon"}, dir_ + "/bad2.log");
  ASSERT_TRUE(WaitUntil([&] { return !tm.running(); }, 20s));
  EXPECT_THAT(tm.Log(), HasSubstr("heartbeat.interval"));
}

}  // namespace
}  // namespace eddy
