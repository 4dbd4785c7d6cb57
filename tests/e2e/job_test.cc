// End-to-end tests of jobs on a real cluster (JobManager + TaskManager processes on
// loopback): word count checked against a plain loop, backpressure with flat memory,
// cancel, failures, bad libraries, and too few slots.
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include <iostream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/http_client.h"
#include "tests/support/cluster.h"
#include "tests/support/word_count.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using testing::JobIdFrom;
using testing::TestCluster;
using testing::WaitUntil;
using testing::RssKiB;
using testing::ReadCounts;
using testing::Words;
using namespace std::chrono_literals;


using JobTest = testing::ClusterTestBase;

TEST_F(JobTest, WordCountAcrossTwoTaskManagersMatchesAPlainLoop) {
  TestCluster cluster(dir_);
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  std::string input = testing::WriteWords(dir_, 6 << 20);
  std::string output = dir_ + "/out";
  auto [code, out] = cluster.RunCli({"run", Example("word_count"), "-p", "4", "--wait", "--",
                                     "--input", input, "--output", output});
  ASSERT_EQ(code, 0) << out << cluster.Logs();
  std::string job_id = JobIdFrom(out);
  ASSERT_EQ(job_id.size(), 32u) << out;

  std::map<std::string, int64_t> expected;
  {
    std::ifstream in(input);
    std::string line;
    while (std::getline(in, line)) {
      for (auto& w : Words(line)) expected[w]++;
    }
  }
  auto actual = ReadCounts(output);
  EXPECT_EQ(actual.size(), expected.size());
  EXPECT_TRUE(actual == expected) << "word counts differ from the reference";

  auto job = cluster.Get("/jobs/" + job_id);
  ASSERT_TRUE(job.is_object());
  EXPECT_EQ(job["state"], "FINISHED");
  ASSERT_EQ(job["vertices"].size(), 2u);
  for (const auto& v : job["vertices"]) EXPECT_EQ(v["parallelism"], 4);
  // Batch mode: the keyed sum emits each word's final count once.
  EXPECT_EQ(job["vertices"][1]["metrics"]["write-records"].get<size_t>(), expected.size());

  // Records really crossed the TaskManager-to-TaskManager connection.
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto tms = cluster.Get("/taskmanagers");
        uint64_t sent = 0, received = 0;
        for (const auto& tm : tms["taskmanagers"]) {
          sent += tm["metrics"]["netBytesSentRemote"].get<uint64_t>();
          received += tm["metrics"]["netBytesReceivedRemote"].get<uint64_t>();
        }
        return sent > 100000 && received > 100000;
      },
      10s))
      << cluster.Get("/taskmanagers").dump();
  auto overview = cluster.Get("/overview");
  EXPECT_EQ(overview["jobs-finished"], 1);
  EXPECT_EQ(overview["slots-available"], 4);

  auto [list_code, list] = cluster.RunCli({"list"});
  EXPECT_EQ(list_code, 0);
  EXPECT_THAT(list, HasSubstr(job_id));
  EXPECT_THAT(list, HasSubstr("FINISHED"));
  auto [status_code, status] = cluster.RunCli({"status", job_id});
  EXPECT_EQ(status_code, 0);
  EXPECT_THAT(status, HasSubstr("FINISHED"));
}

TEST_F(JobTest, BackpressureSlowsTheSourceAndKeepsMemoryFlatThenCancel) {
  // Small quarantine so that ASan's bookkeeping does not look like a leak in RSS.
  setenv("ASAN_OPTIONS", "quarantine_size_mb=4:malloc_context_size=5", 1);
  TestCluster cluster(dir_, {"taskmanager.network.buffers=256"});
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  auto [code, out] = cluster.RunCli({"run", TestJob("slow_sink_job"), "-p", "2"});
  ASSERT_EQ(code, 0) << out << cluster.Logs();
  std::string job_id = JobIdFrom(out);
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "RUNNING", 20s)) << cluster.Logs();

  struct Sample {
    int64_t rss_kib;
    uint64_t source_out, sink_in;
  };
  std::vector<Sample> samples;
  for (int second = 0; second < 30; ++second) {
    std::this_thread::sleep_for(1s);  // sampling period of a 30-second soak
    auto job = cluster.Get("/jobs/" + job_id);
    ASSERT_EQ(job["state"], "RUNNING") << cluster.Logs();
    Sample s;
    s.rss_kib = RssKiB(cluster.taskmanager(0).pid()) + RssKiB(cluster.taskmanager(1).pid());
    s.source_out = job["vertices"][0]["metrics"]["write-records"].get<uint64_t>();
    s.sink_in = job["vertices"][1]["metrics"]["read-records"].get<uint64_t>();
    samples.push_back(s);
  }
  const Sample& warm = samples[4];
  const Sample& last = samples.back();
  int64_t peak = 0;
  for (size_t i = 4; i < samples.size(); ++i) peak = std::max(peak, samples[i].rss_kib);
  EXPECT_LT(peak - warm.rss_kib, 32 * 1024)
      << "TaskManager memory grew from " << warm.rss_kib << " KiB to " << peak << " KiB";
  // The sink takes ~5k records/s per subtask; an unthrottled source makes millions.
  uint64_t sink_rate = (last.sink_in - warm.sink_in) / 25;
  uint64_t source_rate = (last.source_out - warm.source_out) / 25;
  EXPECT_GT(sink_rate, 100u);
  EXPECT_LT(source_rate, sink_rate * 3 / 2 + 1000)
      << "source " << source_rate << "/s vs sink " << sink_rate << "/s";
  std::cout << "backpressure: source " << source_rate << " rec/s, sink " << sink_rate
            << " rec/s, in flight " << (last.source_out - last.sink_in) << " records, TaskManager RSS "
            << warm.rss_kib / 1024 << " MiB at 5s, peak " << peak / 1024 << " MiB\n";
  // In flight: bounded by the network buffers, not by the run time.
  EXPECT_LT(last.source_out - last.sink_in, 2'000'000u);

  auto start = std::chrono::steady_clock::now();
  auto [cancel_code, cancel_out] = cluster.RunCli({"cancel", job_id});
  EXPECT_EQ(cancel_code, 0) << cancel_out;
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "CANCELED", 2s)) << cluster.Logs();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2500ms);
  EXPECT_TRUE(WaitUntil([&] { return cluster.Get("/overview")["slots-available"] == 4; }, 2s));
}

TEST_F(JobTest, LostTaskManagerFailsItsJobAndFreesTheOtherSlots) {
  TestCluster cluster(dir_);
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  auto [code, out] = cluster.RunCli({"run", TestJob("slow_sink_job"), "-p", "2"});
  ASSERT_EQ(code, 0) << out;
  std::string job_id = JobIdFrom(out);
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "RUNNING", 20s)) << cluster.Logs();
  ASSERT_TRUE(WaitUntil([&] { return cluster.Get("/overview")["slots-available"] == 2; }, 5s));
  cluster.taskmanager(1).Kill9();
  // heartbeat.timeout is 3s in the test cluster.
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "FAILED", 10s)) << cluster.Logs();
  // The root cause is whichever was noticed first: the consumer's broken connection to the
  // dead producer, or the missed heartbeats; the history has the TaskManager loss either way.
  auto exceptions = cluster.Get("/jobs/" + job_id + "/exceptions");
  EXPECT_THAT(exceptions["root-exception"].get<std::string>(),
              ::testing::AnyOf(HasSubstr("was lost"), HasSubstr("producer TaskManager")));
  EXPECT_TRUE(WaitUntil(
      [&] {
        return cluster.Get("/jobs/" + job_id + "/exceptions").dump().find("was lost") !=
               std::string::npos;
      },
      10s));
  // The survivor's tasks were cancelled and its slots are free again.
  EXPECT_TRUE(WaitUntil(
      [&] {
        auto o = cluster.Get("/overview");
        return o["taskmanagers"] == 1 && o["slots-available"] == 2;
      },
      5s))
      << cluster.Get("/overview").dump();
}

TEST_F(JobTest, UserFunctionThatThrowsFailsTheJobWithItsMessage) {
  TestCluster cluster(dir_);
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  auto [code, out] = cluster.RunCli({"run", TestJob("failing_job"), "-p", "2", "--wait"});
  EXPECT_NE(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("poisoned record 5000"));
  std::string job_id = JobIdFrom(out);
  EXPECT_EQ(cluster.JobState(job_id), "FAILED");
  auto exceptions = cluster.Get("/jobs/" + job_id + "/exceptions");
  ASSERT_TRUE(exceptions.is_object());
  EXPECT_THAT(exceptions["root-exception"].get<std::string>(), HasSubstr("poisoned record 5000"));
  EXPECT_TRUE(WaitUntil([&] { return cluster.Get("/overview")["slots-available"] == 4; }, 5s));
  EXPECT_EQ(cluster.Get("/overview")["jobs-failed"], 1);
}

TEST_F(JobTest, LibrariesThatAreNotJobsOrOfAnotherAbiAreRejectedAtSubmit) {
  TestCluster cluster(dir_);
  ASSERT_TRUE(cluster.Start(1)) << cluster.Logs();
  auto [code1, out1] = cluster.RunCli({"run", TestJob("not_a_job")});
  EXPECT_NE(code1, 0);
  EXPECT_THAT(out1, HasSubstr("is not an Eddy job library"));
  auto [code2, out2] = cluster.RunCli({"run", TestJob("bad_abi_job")});
  EXPECT_NE(code2, 0);
  EXPECT_THAT(out2, HasSubstr("ABI 12345"));
  auto [code3, out3] = cluster.RunCli({"run", dir_ + "/missing.so"});
  EXPECT_NE(code3, 0);
  EXPECT_THAT(out3, HasSubstr("does not exist"));
  EXPECT_EQ(cluster.Get("/jobs")["jobs"].size(), 0u);
}

TEST_F(JobTest, MoreParallelismThanSlotsFailsWithAReason) {
  TestCluster cluster(dir_, {"slot.request.timeout=1s"});
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  std::string input = testing::WriteWords(dir_, 1000);
  auto [code, out] = cluster.RunCli({"run", Example("word_count"), "-p", "8", "--wait", "--",
                                     "--input", input, "--output", dir_ + "/out"});
  EXPECT_NE(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("FAILED"));
  EXPECT_THAT(out, HasSubstr("required 8 slots"));
  EXPECT_THAT(out, HasSubstr("4 free of 4 slots"));
}

TEST_F(JobTest, EddyLocalRunsAJobInOneProcess) {
  std::string input = testing::WriteWords(dir_, 200 << 10);
  std::string output = dir_ + "/out";
  testing::ChildProcess local("eddy", {"local", Example("word_count"), "-p", "2", "--", "--input",
                                       input, "--output", output},
                              dir_ + "/local.out");
  ASSERT_TRUE(WaitUntil([&] { return !local.running(); }, 120s));
  std::string log = local.Log();
  EXPECT_THAT(log, HasSubstr("FINISHED")) << log;
  std::map<std::string, int64_t> expected;
  std::ifstream in(input);
  std::string line;
  while (std::getline(in, line)) {
    for (auto& w : Words(line)) expected[w]++;
  }
  EXPECT_TRUE(ReadCounts(output) == expected);
}

}  // namespace
}  // namespace eddy
