// Nexmark on a real cluster (p=4 on 2 TaskManagers of 2 slots): every query's rows equal
// the hand-written single-threaded loop's (bench/nexmark/nexmark_cost.cc) on the same
// 200,000 events; the SQL queries also equal the Nexmark suite's SQL evaluated by DuckDB
// over the events exported to CSV; the generator's events equal an independent Java port
// of Beam's generator (java.util.Random itself) byte for byte; and runs at parallelism 1
// and 4 make the same events.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/cluster.h"

namespace eddy {
namespace {

using testing::JobIdFrom;
using testing::WaitUntil;
using testing::ReadOutputLines;
using testing::TestCluster;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr int64_t kEvents = 200'000;

std::string Quote(const std::string& s) { return "'" + s + "'"; }

/// Runs a shell command line (output to `log`); returns its exit code.
int Shell(const std::string& command, const std::string& log) {
  const std::string line = "timeout 600 " + command + " > " + Quote(log) + " 2>&1";
  const int status = std::system(line.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> SortedLines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::sort(lines.begin(), lines.end());
  return lines;
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

/// Describes the first difference of two sorted row lists (gtest would print them whole).
std::string FirstDifference(const std::vector<std::string>& got, const std::vector<std::string>& want) {
  std::vector<std::string> missing, extra;
  std::set_difference(want.begin(), want.end(), got.begin(), got.end(), std::back_inserter(missing));
  std::set_difference(got.begin(), got.end(), want.begin(), want.end(), std::back_inserter(extra));
  std::string out = std::to_string(got.size()) + " rows, want " + std::to_string(want.size());
  if (!missing.empty()) out += "; missing e.g. " + missing.front() + " (" + std::to_string(missing.size()) + ")";
  if (!extra.empty()) out += "; unexpected e.g. " + extra.front() + " (" + std::to_string(extra.size()) + ")";
  return out;
}

/// q12's windows are of processing time, so runs differ in where they cut: compare the
/// bids per bidder over all windows, and check every window is a 10 s one on the epoch.
std::vector<std::string> BidderTotals(const std::vector<std::string>& rows) {
  std::map<std::string, int64_t> totals;
  for (const std::string& row : rows) {
    std::vector<std::string> f;
    std::stringstream ss(row);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    EXPECT_EQ(f.size(), 4u) << row;
    if (f.size() != 4) continue;
    const int64_t start = std::stoll(f[2]);
    EXPECT_EQ(start % 10'000, 0) << row;
    EXPECT_EQ(std::stoll(f[3]), start + 10'000) << row;
    totals[f[0]] += std::stoll(f[1]);
  }
  std::vector<std::string> out;
  for (const auto& [bidder, n] : totals) out.push_back(bidder + "," + std::to_string(n));
  return out;
}

class NexmarkTest : public testing::ClusterTestBase {
 protected:
  /// Nothing here kills a process: a generous heartbeat timeout keeps a loaded machine
  /// (sanitizers, two tests at once, a 45 MB debug job library to ship) from declaring a
  /// busy TaskManager lost.
  static std::vector<std::string> Settings() { return {"heartbeat.timeout=30s"}; }

  /// The COST loop's rows for `query`, sorted.
  std::vector<std::string> Cost(const std::string& query) {
    const std::string out = dir_ + "/cost-" + query + ".csv";
    EXPECT_EQ(Shell(Quote(testing::BinDir() + "/eddy-nexmark-cost") + " --query " + query +
                        " --events " + std::to_string(kEvents) + " --output " + Quote(out),
                    dir_ + "/cost-" + query + ".log"),
              0)
        << ReadFile(dir_ + "/cost-" + query + ".log");
    return SortedLines(out);
  }

  /// Exports the events to DIR/{person,auction,bid}.csv; returns DIR.
  std::string Export() {
    const std::string events = dir_ + "/events";
    EXPECT_EQ(Shell(Quote(testing::BinDir() + "/eddy-nexmark-cost") + " --export " + Quote(events) +
                        " --events " + std::to_string(kEvents),
                    dir_ + "/export.log"),
              0)
        << ReadFile(dir_ + "/export.log");
    return events;
  }

  /// The engine's rows for `query` at parallelism `p`, sorted.
  std::vector<std::string> Engine(TestCluster& cluster, const std::string& query, int p,
                                  const std::string& backend = "hashmap",
                                  const std::string& tag = "") {
    const std::string output = dir_ + "/engine-" + query + "-p" + std::to_string(p) + "-" + backend + tag;
    auto [code, out] = cluster.RunCli({"run", Example("nexmark"), "-p", std::to_string(p), "-D",
                                       "state.backend.type=" + backend, "--", "--query", query,
                                       "--events", std::to_string(kEvents), "--output", output});
    EXPECT_EQ(code, 0) << out << cluster.Logs();
    EXPECT_TRUE(cluster.WaitForJobState(JobIdFrom(out), "FINISHED", 240s)) << cluster.Logs();
    return Sorted(ReadOutputLines(output));
  }

  /// The query's SQL evaluated by DuckDB over the exported events, sorted.
  std::vector<std::string> DuckDb(const std::string& query, const std::string& events) {
    const std::string out = dir_ + "/duckdb-" + query + ".csv";
    EXPECT_EQ(Shell("node " + Quote(std::string(EDDY_SOURCE_DIR) + "/tests/e2e/nexmark/duckdb_reference.mjs") +
                        " --query " + query + " --events " + Quote(events) + " --output " + Quote(out),
                    dir_ + "/duckdb-" + query + ".log"),
              0)
        << ReadFile(dir_ + "/duckdb-" + query + ".log");
    return SortedLines(out);
  }
};

TEST_F(NexmarkTest, GeneratorEqualsIndependentJavaPortByteForByte) {
  const std::string events = Export();
  const std::string java = dir_ + "/java";
  ASSERT_EQ(Shell("java " + Quote(std::string(EDDY_SOURCE_DIR) + "/tests/e2e/nexmark/NexmarkReference.java") +
                      " " + std::to_string(kEvents) + " " + Quote(java),
                  dir_ + "/java.log"),
            0)
      << ReadFile(dir_ + "/java.log");
  for (const std::string kind : {"person", "auction", "bid"}) {
    const std::string ours = ReadFile(events + "/" + kind + ".csv");
    const std::string theirs = ReadFile(java + "/" + kind + ".csv");
    EXPECT_FALSE(ours.empty()) << kind;
    EXPECT_TRUE(ours == theirs) << kind << ".csv differs from the Java port's (" << ours.size()
                                << " vs " << theirs.size() << " bytes)";
  }
}

TEST_F(NexmarkTest, SameEventsAtParallelism1And4AndOnEveryRun) {
  TestCluster cluster(dir_, Settings());
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  const std::string events = Export();
  const std::vector<std::string> bids = SortedLines(events + "/bid.csv");
  ASSERT_EQ(bids.size(), 184'000u);
  const auto p1 = Engine(cluster, "q0", 1);
  const auto p4 = Engine(cluster, "q0", 4);
  const auto p4_again = Engine(cluster, "q0", 4, "hashmap", "-again");
  EXPECT_TRUE(p1 == bids) << FirstDifference(p1, bids);
  EXPECT_TRUE(p4 == bids) << FirstDifference(p4, bids);
  EXPECT_TRUE(p4_again == bids) << FirstDifference(p4_again, bids);
}

// q5's local pre-aggregation keeps its counts in a member, not in keyed state: each
// checkpoint's barrier sends them on first, so a TaskManager killed mid-run (the job restarts
// from the last checkpoint, the generator rewinds to its position) loses and duplicates no
// count: the committed rows equal the COST loop's.
TEST_F(NexmarkTest, Q5AfterAKilledTaskManagerEqualsCostLoop) {
  TestCluster cluster(dir_);
  cluster.StartJobManager();
  for (int i = 0; i < 3; ++i) {
    cluster.StartTaskManager(2, {"taskmanager.resource-id=tm-" + std::to_string(i)});
  }
  ASSERT_TRUE(cluster.WaitForTaskManagers(3)) << cluster.Logs();
  const std::vector<std::string> cost = Cost("q5");
  const std::string output = dir_ + "/engine-q5-killed";
  // 200,000 events at 10,000/s: about 20 s of work without the failure.
  auto [code, out] = cluster.RunCli(
      {"run", Example("nexmark"), "-p", "2", "-D", "execution.checkpointing.interval=500ms", "-D",
       "state.checkpoints.dir=file://" + dir_ + "/checkpoints", "--", "--query", "q5", "--events",
       std::to_string(kEvents), "--rate", "10000", "--output", output});
  ASSERT_EQ(code, 0) << out << cluster.Logs();
  const std::string job_id = JobIdFrom(out);
  ASSERT_TRUE(WaitUntil([&] { return cluster.CompletedCheckpoints(job_id) >= 3; }, 90s))
      << cluster.Logs();
  const std::vector<int> busy = cluster.BusyTaskManagers();
  ASSERT_FALSE(busy.empty());
  cluster.taskmanager(busy.front()).Kill9();
  cluster.StartTaskManager(2, {"taskmanager.resource-id=tm-3"});
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "FINISHED", 240s)) << cluster.Logs();
  EXPECT_GE(cluster.Get("/jobs/" + job_id)["numRestarts"].get<int>(), 1);
  const std::vector<std::string> engine = Sorted(ReadOutputLines(output));
  EXPECT_TRUE(engine == cost) << "q5 after a kill: " << FirstDifference(engine, cost);
}

class NexmarkQueryTest : public NexmarkTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(NexmarkQueryTest, EngineAtParallelism4EqualsCostLoopAndSql) {
  const std::string query = GetParam();
  TestCluster cluster(dir_, Settings());
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  const std::vector<std::string> cost = Cost(query);
  ASSERT_FALSE(cost.empty()) << "the COST loop found no rows for " << query;
  const std::vector<std::string> engine = Engine(cluster, query, 4);
  if (query == "q12") {
    const auto got = BidderTotals(engine);
    const auto want = BidderTotals(cost);
    EXPECT_TRUE(got == want) << FirstDifference(got, want);
    return;
  }
  EXPECT_TRUE(engine == cost) << query << ": " << FirstDifference(engine, cost);
  // The stateful queries give the same rows on RocksDB.
  if (query == "q4" || query == "q5" || query == "q7" || query == "q11") {
    const auto rocks = Engine(cluster, query, 4, "rocksdb");
    EXPECT_TRUE(rocks == cost) << query << " on RocksDB: " << FirstDifference(rocks, cost);
  }
  static const std::set<std::string> kSql = {"q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8"};
  if (kSql.contains(query)) {
    const std::vector<std::string> sql = DuckDb(query, Export());
    EXPECT_TRUE(engine == sql) << query << " vs DuckDB: " << FirstDifference(engine, sql);
  }
}

INSTANTIATE_TEST_SUITE_P(Queries, NexmarkQueryTest,
                         ::testing::Values("q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q11",
                                           "q12"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace eddy
