// examples/daily_report on a real cluster (p=4 on 2 TaskManagers) with checkpoints on:
// the day's sales CSVs read from an s3:// prefix of s3rver (uploaded with the independent
// S3 client) and the report written back to S3 (read back with that client), and the same
// over a local directory; both against a plain loop over the same rows.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "tests/support/cluster.h"
#include "tests/support/example_rows.h"
#include "tests/support/s3rver.h"

namespace eddy {
namespace {

using testing::JobIdFrom;
using testing::ReadOutputLines;
using testing::Sorted;
using testing::TestCluster;
using namespace std::chrono_literals;

constexpr char kHeader[] = "timestamp_ms,store,product,quantity,price_cents";

struct Sale {
  int64_t ts;
  std::string store;
  std::string product;
  int64_t quantity;
  int64_t price_cents;
};

std::vector<Sale> MakeSales(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Sale> sales;
  for (int i = 0; i < n; ++i) {
    sales.push_back(Sale{1'717'200'000'000 + i * 1000 + static_cast<int64_t>(rng() % 1000),
                         "store-" + std::to_string(rng() % 37), "p" + std::to_string(rng() % 500),
                         1 + static_cast<int64_t>(rng() % 9),
                         99 + static_cast<int64_t>(rng() % 20'000)});
  }
  return sales;
}

/// Writes the sales into `files` CSV files with a header (and a _SUCCESS marker) in `dir`;
/// returns the file names.
std::vector<std::string> WriteSales(const std::string& dir, const std::vector<Sale>& sales,
                                    int files) {
  std::filesystem::create_directories(dir);
  std::vector<std::string> names;
  for (int f = 0; f < files; ++f) {
    names.push_back("sales-" + std::to_string(f) + ".csv");
    std::ofstream out(dir + "/" + names.back(), std::ios::trunc);
    out << kHeader << "\n";
    for (size_t i = static_cast<size_t>(f); i < sales.size(); i += static_cast<size_t>(files)) {
      const Sale& s = sales[i];
      out << s.ts << "," << s.store << "," << s.product << "," << s.quantity << "," << s.price_cents
          << "\n";
    }
  }
  std::ofstream(dir + "/_SUCCESS").flush();
  return names;
}

/// The report by a plain loop: store,orders,units,revenue_cents.
std::vector<std::string> Reference(const std::vector<Sale>& sales) {
  std::map<std::string, std::tuple<int64_t, int64_t, int64_t>> totals;
  for (const Sale& s : sales) {
    auto& [orders, units, revenue] = totals[s.store];
    orders += 1;
    units += s.quantity;
    revenue += s.quantity * s.price_cents;
  }
  std::vector<std::string> out;
  for (const auto& [store, t] : totals) {
    out.push_back(store + "," + std::to_string(std::get<0>(t)) + "," +
                  std::to_string(std::get<1>(t)) + "," + std::to_string(std::get<2>(t)));
  }
  return out;
}

class DailyReportTest : public testing::ClusterTestBase {
 protected:
  /// Runs the report from `input` to `output` with checkpoints every second; waits until it
  /// finished.
  void RunReport(TestCluster& cluster, const std::string& input, const std::string& output) {
    auto [code, out] = cluster.RunCli({"run", Example("daily_report"), "-p", "4", "-D",
                                       "execution.checkpointing.interval=1s", "--", "--input",
                                       input, "--output", output, "--header"});
    ASSERT_EQ(code, 0) << out << cluster.Logs();
    const std::string job_id = JobIdFrom(out);
    ASSERT_FALSE(job_id.empty()) << out;
    ASSERT_TRUE(cluster.WaitForJobState(job_id, "FINISHED", 120s)) << cluster.Logs();
  }
};

TEST_F(DailyReportTest, ReportFromS3ToS3AndFromADirectoryEqualsAPlainLoop) {
  if (testing::FindNode().empty()) GTEST_SKIP() << "no node on PATH (deploy/install-deps.sh)";
  testing::S3rver s3(dir_ + "/s3", {"sales"});
  ASSERT_TRUE(s3.running());
  const std::vector<Sale> sales = MakeSales(60'000, 7);
  const std::vector<std::string> want = Reference(sales);
  const std::string day = dir_ + "/2024-06-01";
  for (const std::string& name : WriteSales(day, sales, 3)) {
    ASSERT_TRUE(s3.Client({"put", "sales", "2024-06-01/" + name, day + "/" + name}).ok());
  }
  ASSERT_TRUE(s3.Client({"put", "sales", "2024-06-01/_SUCCESS", day + "/_SUCCESS"}).ok());
  TestCluster cluster(dir_, {"s3.endpoint=" + s3.endpoint(), "s3.access-key=S3RVER",
                             "s3.secret-key=S3RVER", "s3.path.style.access=true"});
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();

  RunReport(cluster, "s3://sales/2024-06-01", "s3://sales/reports/2024-06-01");
  auto got = s3.ReadLines("sales", "reports/2024-06-01/");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Sorted(*got), Sorted(want));

  RunReport(cluster, day, dir_ + "/report-local");
  EXPECT_EQ(Sorted(ReadOutputLines(dir_ + "/report-local")), Sorted(want));
}

}  // namespace
}  // namespace eddy
