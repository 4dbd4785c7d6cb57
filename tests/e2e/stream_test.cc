// End-to-end tests of the stream runtime core on a real cluster (JobManager + TaskManager
// processes on loopback): event time and watermarks across the network, processing-time
// timers and cancel under backpressure, and two-input operators with side outputs checked
// against a plain loop.
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/cluster.h"

namespace eddy {
namespace {

using testing::JobIdFrom;
using testing::ReadOutputLines;
using testing::TestCluster;
using testing::WaitUntil;
using namespace std::chrono_literals;


using StreamTest = testing::ClusterTestBase;

TEST_F(StreamTest, WatermarksNeverOvertakeRecordsAndReachEveryVertex) {
  // Timestamps 10 ms apart, each shifted back by up to 5 s: out of order by at most 5 s.
  const int kRows = 8000;
  std::string input = dir_ + "/readings.csv";
  {
    std::mt19937_64 rng(7);
    std::ofstream out(input);
    const int64_t base = 1'700'000'000'000;
    for (int i = 0; i < kRows; ++i) {
      out << base + i * 10 - static_cast<int64_t>(rng() % 5001) << ",k" << (i % 13) << "\n";
    }
  }
  TestCluster cluster(dir_);
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  std::string output = dir_ + "/out";
  // 4 subtasks at 500 rows/s each: ~4 s of running time to look at watermarks.
  auto [code, out] = cluster.RunCli({"run", TestJob("event_time_job"), "-p", "4", "--", "--input",
                                     input, "--output", output, "--rate", "500"});
  ASSERT_EQ(code, 0) << out << cluster.Logs();
  std::string job_id = JobIdFrom(out);
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "RUNNING", 20s)) << cluster.Logs();

  // While it runs, the REST watermarks path shows each vertex's watermark advancing.
  auto job = cluster.Get("/jobs/" + job_id);
  ASSERT_EQ(job["vertices"].size(), 2u) << job.dump();
  const std::string sink_vertex = job["vertices"][1]["id"];
  int64_t seen = std::numeric_limits<int64_t>::min();
  EXPECT_TRUE(WaitUntil(
      [&] {
        auto marks = cluster.Get("/jobs/" + job_id + "/vertices/" + sink_vertex + "/watermarks");
        if (!marks.is_array() || marks.size() != 4) return false;
        int64_t min = std::numeric_limits<int64_t>::max();
        for (const auto& m : marks) min = std::min<int64_t>(min, std::stoll(m["value"].get<std::string>()));
        seen = min;
        return min > 1'700'000'000'000 && cluster.JobState(job_id) == "RUNNING";
      },
      10s))
      << "last watermark " << seen << " " << cluster.Get("/jobs/" + job_id).dump();
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "FINISHED", 60s)) << cluster.Logs();

  auto lines = ReadOutputLines(output);
  ASSERT_EQ(lines.size(), static_cast<size_t>(kRows));
  int with_watermark = 0;
  for (const auto& line : lines) {
    auto comma = line.find(',');
    ASSERT_NE(comma, std::string::npos) << line;
    int64_t ts = std::stoll(line.substr(0, comma));
    int64_t wm = std::stoll(line.substr(comma + 1));
    EXPECT_GT(ts, wm) << "a record arrived at or behind the watermark: " << line;
    if (wm > 1'700'000'000'000) ++with_watermark;
  }
  // Most records saw a real watermark (not the initial minimum).
  EXPECT_GT(with_watermark, kRows / 2);
}

TEST_F(StreamTest, LatencyMarkersReachTheSinksAndRestShowsTheirLatencyPerSourceSubtask) {
  TestCluster cluster(dir_);
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  // 2 source subtasks at 300 records/s each: ~6 s, markers every 50 ms through a keyed
  // shuffle to 2 sink subtasks.
  auto [code, out] = cluster.RunCli({"run", TestJob("rate_limited_word_count"), "-p", "2", "-D",
                                     "metrics.latency.interval=50ms", "--", "--output",
                                     dir_ + "/out", "--count", "3600", "--rate", "600"});
  ASSERT_EQ(code, 0) << out << cluster.Logs();
  std::string job_id = JobIdFrom(out);
  nlohmann::json latency;
  EXPECT_TRUE(WaitUntil(
      [&] {
        latency = cluster.Get("/jobs/" + job_id + "/latency");
        std::set<int> sources;
        for (const auto& h : latency["latency"]) {
          if (h["count"].get<int>() >= 5) sources.insert(h["source_subtask_index"].get<int>());
        }
        return sources.size() == 2;
      },
      20s))
      << latency.dump() << cluster.Logs();
  auto job = cluster.Get("/jobs/" + job_id);
  std::set<std::string> vertex_ids;
  for (const auto& v : job["vertices"]) vertex_ids.insert(v["id"].get<std::string>());
  for (const auto& h : latency["latency"]) {
    EXPECT_FALSE(h["source_id"].get<std::string>().empty()) << h.dump();
    EXPECT_TRUE(vertex_ids.count(h["vertex_id"].get<std::string>())) << h.dump();
    EXPECT_GE(h["min"].get<int64_t>(), 0) << h.dump();
    EXPECT_LE(h["min"].get<int64_t>(), h["p50"].get<int64_t>()) << h.dump();
    EXPECT_LE(h["p50"].get<int64_t>(), h["p99"].get<int64_t>()) << h.dump();
    EXPECT_LE(h["p99"].get<int64_t>(), h["max"].get<int64_t>()) << h.dump();
    EXPECT_LT(h["max"].get<int64_t>(), 10'000) << h.dump();  // loopback, light load
  }
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "FINISHED", 60s)) << cluster.Logs();
}

TEST_F(StreamTest, TimersFireOnTimeAndCancelIsPromptUnderBackpressure) {
  TestCluster cluster(dir_);
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  std::string timers = dir_ + "/timers.txt";
  auto [code, out] = cluster.RunCli({"run", TestJob("timer_backpressure_job"), "-p", "1", "--",
                                     "--timers", timers});
  ASSERT_EQ(code, 0) << out << cluster.Logs();
  std::string job_id = JobIdFrom(out);
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "RUNNING", 20s)) << cluster.Logs();

  // Backpressure: the source's output stalls at what the slow sink (5,000 records/s) takes.
  auto records = [&](int vertex, const char* metric) {
    auto job = cluster.Get("/jobs/" + job_id);
    return job["vertices"][vertex]["metrics"][metric].get<uint64_t>();
  };
  ASSERT_TRUE(WaitUntil([&] { return records(1, "read-records") > 2000; }, 20s)) << cluster.Logs();
  auto timer_lines = [&] {
    std::vector<std::pair<int64_t, int64_t>> fired;
    std::ifstream in(timers);
    int64_t due = 0, at = 0;
    while (in >> due >> at) fired.emplace_back(due, at);
    return fired;
  };
  const size_t before = timer_lines().size();
  // Two seconds of backpressure: ~40 more timers must fire, each within 100 ms of its time.
  ASSERT_TRUE(WaitUntil([&] { return timer_lines().size() >= before + 40; }, 10s))
      << timer_lines().size() << " timers fired";
  const uint64_t source_out = records(0, "write-records");
  const uint64_t sink_in = records(1, "read-records");
  // The source is held back: far less than an unthrottled source would make in seconds.
  EXPECT_LT(source_out, sink_in + 200'000) << "no backpressure?";
  auto fired = timer_lines();
  int64_t worst = 0;
  for (size_t i = before; i < fired.size(); ++i) worst = std::max(worst, fired[i].second - fired[i].first);
  EXPECT_LT(worst, 100) << "a processing-time timer fired " << worst << " ms late";

  auto [cancel_code, cancel_out] = cluster.RunCli({"cancel", job_id});
  ASSERT_EQ(cancel_code, 0) << cancel_out;
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "CANCELED", 5s)) << cluster.Logs();
  // The JobManager's own clock, from CANCELLING to CANCELED: the CLI's start-up is not the
  // task's cancel.
  auto stamps = cluster.Get("/jobs/" + job_id)["timestamps"];
  const int64_t cancelling = stamps["CANCELLING"].get<int64_t>();
  const int64_t canceled = stamps["CANCELED"].get<int64_t>();
  ASSERT_GT(cancelling, 0) << stamps.dump();
  EXPECT_LT(canceled - cancelling, 1000) << stamps.dump();
}

TEST_F(StreamTest, ConnectedOrdersAndPaymentsMatchAPlainLoopWithRejectsOnASideOutput) {
  std::mt19937_64 rng(11);
  std::map<int64_t, int64_t> orders, payments;
  std::vector<std::pair<int64_t, int64_t>> rejects;
  {
    std::ofstream o(dir_ + "/orders.csv"), p(dir_ + "/payments.csv");
    for (int64_t id = 1; id <= 20'000; ++id) {
      int64_t amount = 1 + static_cast<int64_t>(rng() % 1000);
      o << id << "," << amount << "\n";
      orders[id] = amount;
      uint64_t r = rng() % 10;
      if (r < 7) {  // paid in full
        p << id << "," << amount << "\n";
        payments[id] = amount;
      } else if (r < 8) {  // paid wrong
        p << id << "," << amount + 1 << "\n";
        payments[id] = amount + 1;
      } else if (r < 9) {  // rejected
        int64_t paid = -static_cast<int64_t>(rng() % 5);
        p << id << "," << paid << "\n";
        rejects.emplace_back(id, paid);
      }  // else unpaid
    }
  }
  // The plain loop.
  std::multiset<std::string> expected;
  for (const auto& [id, paid] : payments) {
    expected.insert(std::to_string(id) + (orders[id] == paid ? ",paid" : ",mismatch"));
  }
  std::multiset<std::string> expected_rejects;
  for (const auto& [id, paid] : rejects) {
    expected_rejects.insert(std::to_string(id) + "," + std::to_string(paid));
  }

  TestCluster cluster(dir_);
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  auto [code, out] = cluster.RunCli(
      {"run", TestJob("orders_payments_job"), "-p", "4", "--wait", "--", "--orders",
       dir_ + "/orders.csv", "--payments", dir_ + "/payments.csv", "--output", dir_ + "/out",
       "--rejects", dir_ + "/rejects"});
  ASSERT_EQ(code, 0) << out << cluster.Logs();
  auto lines = ReadOutputLines(dir_ + "/out");
  std::multiset<std::string> actual(lines.begin(), lines.end());
  EXPECT_EQ(actual.size(), expected.size());
  EXPECT_TRUE(actual == expected) << "the co-process output differs from the plain loop";
  auto reject_lines = ReadOutputLines(dir_ + "/rejects");
  std::multiset<std::string> actual_rejects(reject_lines.begin(), reject_lines.end());
  EXPECT_EQ(actual_rejects.size(), expected_rejects.size());
  EXPECT_TRUE(actual_rejects == expected_rejects);
}

}  // namespace
}  // namespace eddy
