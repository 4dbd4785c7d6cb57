// The use-case examples on a real cluster (p=4 on 2 TaskManagers), each against a plain
// loop over the same rows, on the heap backend and on RocksDB (identical output); and
// batch = stream: reading the same files as they appear in a watched directory, every
// window that closed in the streaming run equals the batch run's.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/cluster.h"
#include "tests/support/example_rows.h"

namespace eddy {
namespace {

using testing::JobIdFrom;
using testing::ReadOutputLines;
using testing::TestCluster;
using testing::WaitUntil;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

using testing::kDisorderMs;
using testing::MakeRows;
using testing::Row;
using testing::Sorted;
using testing::WindowStart;
using testing::WriteFiles;
using testing::TxLine;
using testing::ValueLine;
using testing::ClickLine;
using testing::IotReference;

// ---- Plain-loop references ----

std::vector<std::string> FraudReference(const std::vector<Row>& rows, int64_t size, int64_t slide,
                                        int64_t min_count, int64_t min_amount) {
  std::map<std::pair<std::string, int64_t>, std::pair<int64_t, int64_t>> windows;  // (card, end)
  for (const Row& r : rows) {
    for (int64_t start = WindowStart(r.ts, slide); start > r.ts - size; start -= slide) {
      auto& w = windows[{r.key, start + size}];
      w.first += 1;
      w.second += r.value;
    }
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : windows) {
    if (v.first >= min_count || v.second >= min_amount) {
      out.push_back(k.first + "," + std::to_string(k.second) + "," + std::to_string(v.first) +
                    "," + std::to_string(v.second));
    }
  }
  return out;
}

std::vector<std::string> LeaderboardReference(const std::vector<Row>& rows, int64_t size,
                                              int64_t top) {
  std::map<int64_t, std::map<std::string, int64_t>> totals;  // window end -> player -> total
  for (const Row& r : rows) totals[WindowStart(r.ts, size) + size][r.key] += r.value;
  std::vector<std::string> out;
  for (const auto& [end, players] : totals) {
    std::vector<std::pair<std::string, int64_t>> ranked(players.begin(), players.end());
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    for (size_t i = 0; i < ranked.size() && static_cast<int64_t>(i) < top; ++i) {
      out.push_back(std::to_string(end) + "," + std::to_string(i + 1) + "," + ranked[i].first +
                    "," + std::to_string(ranked[i].second));
    }
  }
  return out;
}

std::vector<std::string> SessionsReference(std::vector<Row> rows, int64_t gap) {
  std::sort(rows.begin(), rows.end(),
            [](const Row& a, const Row& b) { return std::tie(a.key, a.ts) < std::tie(b.key, b.ts); });
  std::vector<std::string> out;
  size_t i = 0;
  while (i < rows.size()) {
    size_t j = i;
    std::set<std::string> urls;
    int64_t last = rows[i].ts;
    while (j < rows.size() && rows[j].key == rows[i].key && rows[j].ts <= last + gap) {
      last = rows[j].ts;
      urls.insert(rows[j].text);
      ++j;
    }
    out.push_back(rows[i].key + "," + std::to_string(rows[i].ts) + "," +
                  std::to_string(last + gap) + "," + std::to_string(j - i) + "," +
                  std::to_string(urls.size()));
    i = j;
  }
  return out;
}

class ExamplesTest : public testing::ClusterTestBase {
 protected:
  /// Runs example `name` over `input` to its end with `backend`; returns its sorted lines.
  std::vector<std::string> RunBounded(TestCluster& cluster, const std::string& name,
                                      const std::string& input, const std::string& backend,
                                      std::vector<std::string> extra = {}) {
    const std::string output = dir_ + "/" + name + "-" + backend;
    std::vector<std::string> args = {"run", Example(name), "-p", "4", "-D",
                                     "state.backend.type=" + backend, "--", "--input", input,
                                     "--output", output};
    args.insert(args.end(), extra.begin(), extra.end());
    auto [code, out] = cluster.RunCli(args);
    EXPECT_EQ(code, 0) << out << cluster.Logs();
    const std::string job_id = JobIdFrom(out);
    EXPECT_TRUE(cluster.WaitForJobState(job_id, "FINISHED", 90s)) << cluster.Logs();
    return Sorted(ReadOutputLines(output));
  }

  /// Checks the example on both backends against `want`.
  void ExpectBothBackends(const std::string& name, const std::string& input,
                          const std::vector<std::string>& want,
                          std::vector<std::string> extra = {}) {
    TestCluster cluster(dir_);
    ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
    ASSERT_FALSE(want.empty());
    const auto heap = RunBounded(cluster, name, input, "hashmap", extra);
    EXPECT_EQ(heap, Sorted(want));
    const auto rocks = RunBounded(cluster, name, input, "rocksdb", extra);
    EXPECT_EQ(rocks, heap);
  }
};

TEST_F(ExamplesTest, FraudDetectionEqualsAPlainLoopOnHeapAndRocksDb) {
  auto rows = MakeRows(12000, 1, 40, 100, 150'000);
  WriteFiles(dir_ + "/in", rows, 4, TxLine);
  ExpectBothBackends("fraud_detection", dir_ + "/in",
                     FraudReference(rows, 60'000, 10'000, 40, 3'000'000),
                     {"--min-count", "40", "--min-amount", "3000000"});
}

TEST_F(ExamplesTest, IotAlertsEqualsAPlainLoopOnHeapAndRocksDb) {
  auto rows = MakeRows(12000, 2, 30, 700, 900);
  WriteFiles(dir_ + "/in", rows, 4, ValueLine);
  ExpectBothBackends("iot_alerts", dir_ + "/in", IotReference(rows, 60'000, 800));
}

TEST_F(ExamplesTest, LeaderboardEqualsAPlainLoopOnHeapAndRocksDb) {
  auto rows = MakeRows(12000, 3, 50, 1, 100);
  WriteFiles(dir_ + "/in", rows, 4, ValueLine);
  ExpectBothBackends("leaderboard", dir_ + "/in", LeaderboardReference(rows, 60'000, 5),
                     {"--top", "5"});
}

TEST_F(ExamplesTest, ClickSessionsEqualsAPlainLoopOnHeapAndRocksDb) {
  auto rows = MakeRows(12000, 4, 60, 0, 0);
  WriteFiles(dir_ + "/in", rows, 4, ClickLine);
  ExpectBothBackends("click_sessions", dir_ + "/in", SessionsReference(rows, 30'000));
}

TEST_F(ExamplesTest, BatchEqualsStreamForEveryWindowThatClosed) {
  // The same files: all at once (bounded, batch), and one by one into a watched directory
  // (unbounded, continuous); rows arrive out of order within the bound in both.
  auto rows = MakeRows(8000, 5, 20, 700, 900);
  std::vector<std::string> files;
  WriteFiles(dir_ + "/staged", rows, 8, ValueLine, &files);
  TestCluster cluster(dir_);
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  const auto batch = RunBounded(cluster, "iot_alerts", dir_ + "/staged", "hashmap",
                                {"--threshold-dc", "790"});
  ASSERT_FALSE(batch.empty());

  const std::string watched = dir_ + "/watched";
  const std::string output = dir_ + "/stream-out";
  fs::create_directories(watched);
  // Four source subtasks share the files; those without any (or whose files ran out) go
  // idle after the default idleness, in whatever order timing gives, and the watermark must
  // still pass every window once the last row is read.
  auto [code, out] = cluster.RunCli({"run", Example("iot_alerts"), "-p", "4", "--", "--input",
                                     watched, "--monitor-interval", "200ms",
                                     "--rollover-interval", "300ms", "--threshold-dc", "790",
                                     "--output", output});
  ASSERT_EQ(code, 0) << out << cluster.Logs();
  const std::string job_id = JobIdFrom(out);
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "RUNNING", 20s)) << cluster.Logs();
  for (const std::string& f : files) {
    const std::string name = fs::path(f).filename().string();
    fs::copy_file(f, watched + "/." + name);
    fs::rename(watched + "/." + name, watched + "/" + name);  // appears complete
  }
  // Then one row far later (not an alert: temperature 0): the watermark passes every window
  // of the data, and each must close exactly as in the batch run.
  {
    std::ofstream(watched + "/.zz-last.csv")
        << rows.back().ts + 600'000 << ",sentinel,0\n";
    fs::rename(watched + "/.zz-last.csv", watched + "/zz-last.csv");
  }
  std::vector<std::string> stream;
  EXPECT_TRUE(WaitUntil(
      [&] {
        stream = Sorted(ReadOutputLines(output));
        return stream.size() >= batch.size();
      },
      60s))
      << "streaming output so far: " << stream.size() << " lines of " << batch.size()
      << cluster.Logs();
  ASSERT_EQ(cluster.RunCli({"cancel", job_id}).first, 0);
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "CANCELED", 10s)) << cluster.Logs();
  // Every window closed, each exactly as in the batch run (no partial or repeated firing).
  EXPECT_EQ(Sorted(ReadOutputLines(output)), batch);
}

}  // namespace
}  // namespace eddy
