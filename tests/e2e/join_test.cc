// End-to-end test of joins on a real cluster (JobManager + 2 TaskManagers on loopback): an
// interval join of two out-of-order CSV streams at parallelism 2, checked against a
// nested-loop join, on the heap backend and on RocksDB (the same output).
#include <algorithm>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/cluster.h"

namespace eddy {
namespace {

using testing::JobIdFrom;
using testing::TestCluster;
using namespace std::chrono_literals;

/// The lines of the part files in `dir`, sorted.
std::vector<std::string> SortedLines(const std::string& dir) {
  std::vector<std::string> lines = testing::ReadOutputLines(dir);
  std::sort(lines.begin(), lines.end());
  return lines;
}

struct Row {
  int64_t ts;
  std::string user;
  int64_t id;
};

/// Writes `rows` in arrival order: each arrives up to `disorder` ms after its timestamp.
void WriteShuffled(const std::string& path, const std::vector<Row>& rows, int64_t disorder,
                   std::mt19937_64& rng) {
  std::vector<std::pair<int64_t, const Row*>> arrivals;
  for (const Row& r : rows) {
    arrivals.emplace_back(r.ts + static_cast<int64_t>(rng() % (disorder + 1)), &r);
  }
  std::stable_sort(arrivals.begin(), arrivals.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::ofstream out(path);
  for (const auto& [at, r] : arrivals) out << r->ts << "," << r->user << "," << r->id << "\n";
}

using JoinTest = testing::ClusterTestBase;

TEST_F(JoinTest, IntervalJoinAtParallelismTwoEqualsANestedLoopOnHeapAndRocksDb) {
  const int64_t kLower = -300, kUpper = 200, kDisorder = 400;
  std::mt19937_64 rng(5);
  std::vector<Row> clicks, buys;
  const int64_t base = 1'700'000'000'000;
  for (int64_t i = 0; i < 3000; ++i) {
    clicks.push_back({base + static_cast<int64_t>(rng() % 60'000), "u" + std::to_string(rng() % 40), i});
    buys.push_back({base + static_cast<int64_t>(rng() % 60'000), "u" + std::to_string(rng() % 40), i});
  }
  std::vector<std::string> want;
  for (const Row& l : clicks) {
    for (const Row& r : buys) {
      if (l.user == r.user && r.ts - l.ts >= kLower && r.ts - l.ts <= kUpper) {
        want.push_back(l.user + "," + std::to_string(l.id) + "," + std::to_string(r.id));
      }
    }
  }
  std::sort(want.begin(), want.end());
  ASSERT_GT(want.size(), 100u);
  WriteShuffled(dir_ + "/clicks.csv", clicks, kDisorder, rng);
  WriteShuffled(dir_ + "/buys.csv", buys, kDisorder, rng);

  TestCluster cluster(dir_);
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  for (const std::string backend : {"hashmap", "rocksdb"}) {
    SCOPED_TRACE(backend);
    const std::string output = dir_ + "/out-" + backend;
    auto [code, out] = cluster.RunCli(
        {"run", TestJob("interval_join_job"), "-p", "2", "-D", "state.backend.type=" + backend,
         "--", "--clicks", dir_ + "/clicks.csv", "--buys", dir_ + "/buys.csv", "--lower",
         std::to_string(kLower), "--upper", std::to_string(kUpper), "--out-of-orderness-ms",
         std::to_string(kDisorder), "--output", output});
    ASSERT_EQ(code, 0) << out << cluster.Logs();
    ASSERT_TRUE(cluster.WaitForJobState(JobIdFrom(out), "FINISHED", 120s)) << cluster.Logs();
    EXPECT_EQ(SortedLines(output), want);
  }
}

}  // namespace
}  // namespace eddy
