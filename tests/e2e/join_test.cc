// End-to-end test of joins on a real cluster (JobManager + 2 TaskManagers on loopback): an
// interval join of two out-of-order CSV streams at parallelism 2, and tumbling and sliding
// window joins at parallelism 4, each checked against a nested-loop join, on the heap backend
// and on RocksDB (the same output).
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

/// Clicks and buys of 40 users over a minute of event time, written to `dir` out of order
/// by up to `disorder` ms (clicks.csv, buys.csv).
struct ClicksAndBuys {
  std::vector<Row> clicks;
  std::vector<Row> buys;

  ClicksAndBuys(const std::string& dir, int64_t disorder, uint64_t seed) {
    std::mt19937_64 rng(seed);
    const int64_t base = 1'700'000'000'000;
    for (int64_t i = 0; i < 3000; ++i) {
      clicks.push_back(
          {base + static_cast<int64_t>(rng() % 60'000), "u" + std::to_string(rng() % 40), i});
      buys.push_back(
          {base + static_cast<int64_t>(rng() % 60'000), "u" + std::to_string(rng() % 40), i});
    }
    WriteShuffled(dir + "/clicks.csv", clicks, disorder, rng);
    WriteShuffled(dir + "/buys.csv", buys, disorder, rng);
  }
};

/// Runs `job` with `args` (plus --clicks, --buys, --out-of-orderness-ms and --output) at
/// parallelism `p` on the heap backend and on RocksDB; each output must equal `want`.
void ExpectOutputOnBothBackends(TestCluster& cluster, const std::string& dir,
                                const std::string& job, int p, int64_t disorder,
                                const std::vector<std::string>& args,
                                const std::vector<std::string>& want) {
  for (const std::string backend : {"hashmap", "rocksdb"}) {
    SCOPED_TRACE(backend);
    static int runs = 0;
    const std::string output = dir + "/out-" + std::to_string(++runs) + "-" + backend;
    std::vector<std::string> cli = {"run", job, "-p", std::to_string(p), "-D",
                                    "state.backend.type=" + backend, "--", "--clicks",
                                    dir + "/clicks.csv", "--buys", dir + "/buys.csv",
                                    "--out-of-orderness-ms", std::to_string(disorder),
                                    "--output", output};
    cli.insert(cli.end(), args.begin(), args.end());
    auto [code, out] = cluster.RunCli(cli);
    ASSERT_EQ(code, 0) << out << cluster.Logs();
    ASSERT_TRUE(cluster.WaitForJobState(JobIdFrom(out), "FINISHED", 120s)) << cluster.Logs();
    EXPECT_EQ(SortedLines(output), want);
  }
}

using JoinTest = testing::ClusterTestBase;

TEST_F(JoinTest, IntervalJoinAtParallelismTwoEqualsANestedLoopOnHeapAndRocksDb) {
  const int64_t kLower = -300, kUpper = 200, kDisorder = 400;
  const ClicksAndBuys rows(dir_, kDisorder, 5);
  std::vector<std::string> want;
  for (const Row& l : rows.clicks) {
    for (const Row& r : rows.buys) {
      if (l.user == r.user && r.ts - l.ts >= kLower && r.ts - l.ts <= kUpper) {
        want.push_back(l.user + "," + std::to_string(l.id) + "," + std::to_string(r.id));
      }
    }
  }
  std::sort(want.begin(), want.end());
  ASSERT_GT(want.size(), 100u);

  TestCluster cluster(dir_);
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  ExpectOutputOnBothBackends(cluster, dir_, TestJob("join_job"), 2, kDisorder,
                             {"--join", "interval", "--lower", std::to_string(kLower), "--upper", std::to_string(kUpper)},
                             want);
}

/// Nested loop: "user,window_start,click_id,buy_id" for every click and buy of a user in one
/// window of `size` starting every `slide`, sorted.
std::vector<std::string> WindowJoinReference(const ClicksAndBuys& rows, int64_t size,
                                             int64_t slide) {
  std::vector<std::string> want;
  for (const Row& l : rows.clicks) {
    for (const Row& r : rows.buys) {
      if (l.user != r.user) continue;
      for (int64_t s = l.ts - l.ts % slide; s > l.ts - size; s -= slide) {  // ts > 0
        if (r.ts >= s && r.ts < s + size) {
          want.push_back(l.user + "," + std::to_string(s) + "," + std::to_string(l.id) + "," +
                         std::to_string(r.id));
        }
      }
    }
  }
  std::sort(want.begin(), want.end());
  return want;
}

TEST_F(JoinTest, WindowJoinsAtParallelismFourEqualANestedLoopOnHeapAndRocksDb) {
  const int64_t kDisorder = 400;
  const ClicksAndBuys rows(dir_, kDisorder, 6);
  TestCluster cluster(dir_);
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();  // 2 slots each
  for (const auto& [size, slide] : {std::pair<int64_t, int64_t>{1000, 1000}, {3000, 1000}}) {
    SCOPED_TRACE("size " + std::to_string(size) + " slide " + std::to_string(slide));
    const std::vector<std::string> want = WindowJoinReference(rows, size, slide);
    ASSERT_GT(want.size(), 1000u);
    ExpectOutputOnBothBackends(
        cluster, dir_, TestJob("join_job"), 4, kDisorder,
        {"--join", "window", "--size-ms", std::to_string(size), "--slide-ms", std::to_string(slide)}, want);
  }
}

}  // namespace
}  // namespace eddy
