// End-to-end tests of the JobManager under bad input and faults, on real processes:
// malformed JobGraphs refused with 400s, a killed TaskManager restarting a job
// (fixed-delay) or failing it (none), and orphaned tasks cancelled after a JobManager
// restart.
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/job_builder.h"
#include "common/http_client.h"
#include "common/multipart.h"
#include "tests/support/cluster.h"
#include "tests/support/word_count.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using testing::JobIdFrom;
using testing::TestCluster;
using testing::WaitUntil;
using testing::ReadCounts;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

/// What rate_limited_word_count must write for `count` records, computed by a plain loop.
std::map<std::string, int64_t> ExpectedCounts(int64_t count) {
  std::map<std::string, int64_t> out;
  for (int64_t i = 0; i < count; ++i) out["w" + std::to_string((i * 7919) % 101)]++;
  return out;
}

std::set<std::string> FileNames(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) out.insert(entry.path().filename().string());
  return out;
}

class RestartTest : public testing::ClusterTestBase {
 protected:

  /// Starts a JobManager and `n` TaskManagers named tm-0 .. tm-<n-1>.
  void StartCluster(TestCluster& cluster, int n) {
    cluster.StartJobManager();
    for (int i = 0; i < n; ++i) {
      cluster.StartTaskManager(2, {"taskmanager.resource-id=tm-" + std::to_string(i)});
    }
    ASSERT_TRUE(cluster.WaitForTaskManagers(n)) << cluster.Logs();
  }

  /// Runs rate_limited_word_count (20,000 records at 1,000/s: ~20 s) with `settings` as -D.
  std::string SubmitWordCount(TestCluster& cluster, const std::vector<std::string>& settings,
                              const std::string& output) {
    std::vector<std::string> args = {"run", TestJob("rate_limited_word_count"), "-p", "2"};
    for (const auto& s : settings) {
      args.push_back("-D");
      args.push_back(s);
    }
    args.insert(args.end(), {"--", "--output", output, "--count", "20000", "--rate", "1000"});
    auto [code, out] = cluster.RunCli(args);
    EXPECT_EQ(code, 0) << out << cluster.Logs();
    return JobIdFrom(out);
  }

  /// Starts 3 TaskManagers and word_count with a fixed-delay restart strategy, waits until
  /// it is under way, and picks a TaskManager that runs its tasks.
  void StartRestartableJob(TestCluster& cluster, const std::string& output, std::string* job_id,
                           int* victim) {
    StartCluster(cluster, 3);
    *job_id = SubmitWordCount(cluster,
                              {"restart-strategy=fixed-delay",
                               "restart-strategy.fixed-delay.attempts=3",
                               "restart-strategy.fixed-delay.delay=1s"},
                              output);
    ASSERT_EQ(job_id->size(), 32u);
    ASSERT_TRUE(WaitForRecords(cluster, *job_id, 2000)) << cluster.Logs();
    const std::vector<int> busy = cluster.BusyTaskManagers();
    *victim = busy.empty() ? -1 : busy.front();
    ASSERT_GE(*victim, 0) << cluster.Get("/taskmanagers").dump();
  }

  /// Waits until the job's source has emitted `records`.
  bool WaitForRecords(TestCluster& cluster, const std::string& job_id, uint64_t records) {
    return WaitUntil(
        [&] {
          auto job = cluster.Get("/jobs/" + job_id);
          return job.is_object() && job["state"] == "RUNNING" &&
                 job["vertices"][0]["metrics"]["write-records"].get<uint64_t>() >= records;
        },
        20s);
  }

};

TEST_F(RestartTest, BadGraphsAreRefusedWith400AndTheClusterStillRunsAGoodJob) {
  TestCluster cluster(dir_);
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  std::ifstream in(TestJob("rate_limited_word_count"), std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  auto [content_type, body] = BuildMultipartFile("jarfile", "job.so", bytes.str());
  auto uploaded = HttpRequest("POST", cluster.Url("/jars/upload"), body, content_type);
  ASSERT_TRUE(uploaded.ok() && uploaded->status == 200) << uploaded.status();
  std::string jar = nlohmann::json::parse(uploaded->body)["id"];

  const nlohmann::json good = {
      {"name", "bad"},
      {"maxParallelism", 128},
      {"abiVersion", kAbiVersion},
      {"operators",
       {{{"id", "op0"}, {"kind", "source"}}, {{"id", "op1"}, {"kind", "sink"}, {"inputs", {"op0"}}}}},
      {"vertices",
       {{{"id", "op0"}, {"parallelism", 1}, {"operatorIds", {"op0"}}},
        {{"id", "op1"}, {"parallelism", 1}, {"operatorIds", {"op1"}}}}},
      {"edges",
       {{{"id", "e0"},
         {"sourceVertex", "op0"},
         {"targetVertex", "op1"},
         {"sourceOperator", "op0"},
         {"targetOperator", "op1"},
         {"partitioning", "REBALANCE"}}}}};
  struct Case {
    std::string what;
    std::function<void(nlohmann::json&)> spoil;
    std::string error;
  };
  std::vector<Case> cases = {
      {"unknown operator in an edge", [](auto& g) { g["edges"][0]["targetOperator"] = "op9"; },
       "edges[0].target_operator: unknown operator 'op9'"},
      {"duplicated vertex", [](auto& g) { g["vertices"].push_back(g["vertices"][1]); },
       "vertices[2].id: duplicated vertex id 'op1'"},
      {"parallelism 0", [](auto& g) { g["vertices"][0]["parallelism"] = 0; },
       "vertices[0].parallelism: 0"},
      {"parallelism -1", [](auto& g) { g["vertices"][0]["parallelism"] = -1; },
       "vertices[0].parallelism: -1"},
      {"parallelism 10^6", [](auto& g) { g["vertices"][1]["parallelism"] = 1000000; },
       "vertices[1].parallelism: 1000000"},
      {"unknown partitioning number", [](auto& g) { g["edges"][0]["partitioning"] = 7; },
       "edges[0].partitioning: unknown partitioning 7"},
      {"unknown partitioning name", [](auto& g) { g["edges"][0]["partitioning"] = "SHUFFLE"; },
       "invalid jobGraph"},
      {"cycle",
       [](auto& g) {
         g["edges"].push_back({{"id", "e1"}, {"sourceVertex", "op1"}, {"targetVertex", "op0"},
                               {"partitioning", "REBALANCE"}});
       },
       "the edges form a cycle"},
      {"unknown job config key",
       [](auto& g) { g["config"] = {{"restart-strategy.fixed-delay.atempts", "3"}}; },
       "unknown config key 'restart-strategy.fixed-delay.atempts' (did you mean "
       "'restart-strategy.fixed-delay.attempts'?)"},
      {"bad job config value", [](auto& g) { g["config"] = {{"restart-strategy", "often"}}; },
       "config key 'restart-strategy': expected one of \"\", none, fixed-delay, exponential-delay"},
  };
  for (const auto& c : cases) {
    nlohmann::json graph = good;
    c.spoil(graph);
    auto response = HttpRequest("POST", cluster.Url("/jars/" + jar + "/run"),
                                nlohmann::json{{"jobGraph", graph}}.dump());
    ASSERT_TRUE(response.ok()) << c.what;
    EXPECT_EQ(response->status, 400) << c.what << ": " << response->body;
    auto errors = nlohmann::json::parse(response->body, nullptr, false);
    ASSERT_TRUE(errors.contains("errors")) << c.what << ": " << response->body;
    EXPECT_THAT(errors["errors"][0].get<std::string>(), HasSubstr(c.error)) << c.what;
  }
  // Nothing was scheduled and no TaskManager was contacted.
  EXPECT_TRUE(cluster.Get("/jobs")["jobs"].empty());
  EXPECT_THAT(cluster.taskmanager(0).Log(), ::testing::Not(HasSubstr("deploying")));
  EXPECT_THAT(cluster.taskmanager(1).Log(), ::testing::Not(HasSubstr("deploying")));

  std::string output = dir_ + "/out";
  auto [code, out] = cluster.RunCli({"run", TestJob("rate_limited_word_count"), "-p", "2", "--wait",
                                     "--", "--output", output, "--count", "3000", "--rate", "0"});
  ASSERT_EQ(code, 0) << out << cluster.Logs();
  EXPECT_EQ(ReadCounts(output), ExpectedCounts(3000));
  EXPECT_EQ(cluster.RegisteredTaskManagers(), 2);
}

TEST_F(RestartTest, KilledTaskManagerRestartsTheJobWhichFinishesWithExactOutput) {
  TestCluster cluster(dir_);
  std::string output = dir_ + "/out", job_id;
  int victim = -1;
  ASSERT_NO_FATAL_FAILURE(StartRestartableJob(cluster, output, &job_id, &victim));
  cluster.taskmanager(victim).Kill9();
  ASSERT_TRUE(WaitUntil([&] { return cluster.JobState(job_id) == "RESTARTING"; }, 1s))
      << cluster.Get("/jobs/" + job_id).dump() << cluster.Logs();
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "RUNNING", 5s)) << cluster.Logs();
  auto job = cluster.Get("/jobs/" + job_id);
  EXPECT_EQ(job["numRestarts"], 1);
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "FINISHED", 30s))
      << cluster.Get("/jobs/" + job_id).dump() << cluster.Logs();
  EXPECT_EQ(ReadCounts(output), ExpectedCounts(20000));
  EXPECT_EQ(FileNames(output), (std::set<std::string>{"part-0", "part-1"}))
      << "no in-progress file of the failed attempt is left";
  auto exceptions = cluster.Get("/jobs/" + job_id + "/exceptions");
  EXPECT_THAT(exceptions.dump(), HasSubstr("tm-" + std::to_string(victim)));
  EXPECT_TRUE(WaitUntil([&] { return cluster.Get("/overview")["slots-available"] == 4; }, 5s));
}

// What Kubernetes and systemd do to stop a process: SIGTERM. A TaskManager stopped so leaves
// the cluster at once (its control connection closes; no 60 s heartbeat timeout to wait
// for), and its job restarts on the others and finishes with exact output; the JobManager
// stopped so exits 0.
TEST_F(RestartTest, TaskManagerStoppedWithSigtermLeavesAtOnceAndItsJobRestartsOnTheOthers) {
  TestCluster cluster(dir_, {"heartbeat.timeout=60s"});
  std::string output = dir_ + "/out", job_id;
  int victim = -1;
  ASSERT_NO_FATAL_FAILURE(StartRestartableJob(cluster, output, &job_id, &victim));

  const auto stopped_at = std::chrono::steady_clock::now();
  const int status = cluster.taskmanager(victim).Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the TaskManager did not exit 0 on SIGTERM: status " << status
      << cluster.taskmanager(victim).Log();
  ASSERT_TRUE(WaitUntil([&] { return cluster.RegisteredTaskManagers() == 2; }, 5s))
      << "the stopped TaskManager is still registered" << cluster.Logs();
  const auto left_after = std::chrono::steady_clock::now() - stopped_at;
  EXPECT_LT(left_after, 10s) << "it left only after a heartbeat timeout";
  EXPECT_THAT(cluster.jobmanager().Log(), HasSubstr("control connection closed"));
  EXPECT_THAT(cluster.taskmanager(victim).Log(), HasSubstr("stopped"));

  ASSERT_TRUE(cluster.WaitForJobState(job_id, "FINISHED", 40s))
      << cluster.Get("/jobs/" + job_id).dump() << cluster.Logs();
  EXPECT_GE(cluster.Get("/jobs/" + job_id)["numRestarts"].get<int>(), 1);
  EXPECT_EQ(ReadCounts(output), ExpectedCounts(20000));
  EXPECT_THAT(cluster.Get("/jobs/" + job_id + "/exceptions").dump(),
              HasSubstr("tm-" + std::to_string(victim)));
  for (int i = 0; i < 3; ++i) {
    if (i == victim) continue;
    EXPECT_TRUE(cluster.taskmanager(i).running()) << "TaskManager " << i << " stopped too";
  }

  const int jm_status = cluster.jobmanager().Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(jm_status) && WEXITSTATUS(jm_status) == 0)
      << "the JobManager did not exit 0 on SIGTERM: status " << jm_status
      << cluster.jobmanager().Log();
  EXPECT_THAT(cluster.jobmanager().Log(), HasSubstr("shutting down"));
}

TEST_F(RestartTest, KilledTaskManagerWithoutRestartStrategyFailsTheJobNamingIt) {
  TestCluster cluster(dir_);
  StartCluster(cluster, 3);
  std::string job_id = SubmitWordCount(cluster, {"restart-strategy=none"}, dir_ + "/out");
  ASSERT_EQ(job_id.size(), 32u);
  ASSERT_TRUE(WaitForRecords(cluster, job_id, 1000)) << cluster.Logs();
  const std::vector<int> busy = cluster.BusyTaskManagers();
  int victim = busy.empty() ? -1 : busy.front();
  ASSERT_GE(victim, 0);
  cluster.taskmanager(victim).Kill9();
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "FAILED", 5s)) << cluster.Logs();
  std::string name = "tm-" + std::to_string(victim);
  EXPECT_TRUE(WaitUntil(
      [&] {
        return cluster.Get("/jobs/" + job_id + "/exceptions").dump().find("TaskManager " + name) !=
               std::string::npos;
      },
      5s))
      << cluster.Get("/jobs/" + job_id + "/exceptions").dump();
  EXPECT_TRUE(WaitUntil([&] { return cluster.Get("/overview")["slots-available"] == 4; }, 5s));
}

TEST_F(RestartTest, RestartedJobManagerHasTaskManagersCancelOrphanedTasks) {
  TestCluster cluster(dir_);
  StartCluster(cluster, 2);
  auto [code, out] = cluster.RunCli({"run", TestJob("slow_sink_job"), "-p", "2"});
  ASSERT_EQ(code, 0) << out;
  std::string job_id = JobIdFrom(out);
  // Every subtask runs (not just deployed: a TaskManager may still be fetching the library).
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto job = cluster.Get("/jobs/" + job_id);
        if (!job.is_object()) return false;
        for (const auto& v : job["vertices"]) {
          if (v["tasks"].value("RUNNING", 0) != 2) return false;
        }
        return true;
      },
      20s))
      << cluster.Logs();
  cluster.jobmanager().Kill9();
  cluster.StartJobManager();
  ASSERT_TRUE(WaitUntil([&] { return cluster.RegisteredTaskManagers() >= 0; }, 20s));
  auto restarted_at = std::chrono::steady_clock::now();
  // Within heartbeat.timeout (3s in the test cluster) + 2s of the new JobManager's start.
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(WaitUntil(
        [&] {
          return cluster.taskmanager(i).Log().find("job " + job_id + ": 2 tasks") !=
                     std::string::npos ||
                 cluster.taskmanager(i).Log().find("job " + job_id + ": 1 tasks") !=
                     std::string::npos;
        },
        5s))
        << "tasks of the orphaned job still run on tm-" << i << "\n" << cluster.Logs();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - restarted_at, 5s);
  EXPECT_TRUE(cluster.JobState(job_id).empty()) << "the new JobManager does not know the job";
  EXPECT_TRUE(WaitUntil([&] { return cluster.Get("/overview")["slots-available"] == 4; }, 5s));
}

}  // namespace
}  // namespace eddy
