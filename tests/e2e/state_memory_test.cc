// End-to-end test of keyed state that outgrows memory: a keyed job with 10 M distinct keys
// (many_keys_job) runs on one TaskManager on RocksDB with a 64 MB block cache; its answer
// equals a plain loop's and the TaskManager's peak RSS (VmHWM) stays under 1 GB. Sanitized
// builds (ASan's shadow memory and quarantine make RSS meaningless) run it with fewer keys and
// check the answer only; the optimized build runs it in `make bench-smoke` (ctest -L bench).
// EDDY_MANY_KEYS overrides the number of keys.
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/cluster.h"
#include "tests/support/sanitizers.h"

namespace eddy {
namespace {

using testing::JobIdFrom;
using testing::TestCluster;
using namespace std::chrono_literals;

constexpr bool kMeasureRss = !testing::kAddressSanitizer;
constexpr int64_t kDefaultKeys = testing::kAddressSanitizer ? 200'000 : 10'000'000;

int64_t Keys() {
  const char* env = std::getenv("EDDY_MANY_KEYS");
  return env != nullptr ? std::stoll(env) : kDefaultKeys;
}

/// A process's peak resident set (VmHWM) in bytes, or -1 if unreadable.
int64_t PeakRss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // kB
  }
  return -1;
}

using StateMemoryTest = testing::ClusterTestBase;

TEST_F(StateMemoryTest, TenMillionKeysOnRocksDbKeepTheTaskManagerUnderOneGigabyte) {
  const int64_t keys = Keys();
  const int64_t revisits = keys / 10;
  // The plain loop: the keys that come twice are 0 .. revisits - 1.
  int64_t want_sum = 0;
  for (int64_t k = 0; k < revisits; ++k) want_sum += k;

  // One TaskManager with one slot: every key's state lives in one RocksDB instance.
  TestCluster cluster(dir_, {"state.backend.type=rocksdb",
                             "state.backend.rocksdb.block.cache-size=64mb",
                             "state.backend.rocksdb.localdir=" + dir_ + "/rocksdb"});
  ASSERT_TRUE(cluster.Start(1, 1)) << cluster.Logs();
  const std::string output = dir_ + "/out";
  auto [code, out] = cluster.RunCli({"run", TestJob("many_keys_job"), "-p", "1", "--", "--keys",
                                     std::to_string(keys), "--revisits", std::to_string(revisits),
                                     "--output", output});
  ASSERT_EQ(code, 0) << out << cluster.Logs();
  const std::string job_id = JobIdFrom(out);
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "FINISHED", 500s)) << cluster.Logs();

  // The reducer's last (batch: only) line holds the totals.
  int64_t count = -1, key_sum = -1;
  for (const std::string& line : testing::ReadOutputLines(output)) {
    const size_t comma = line.find(',');
    ASSERT_NE(comma, std::string::npos) << line;
    const int64_t c = std::stoll(line.substr(0, comma));
    if (c > count) {
      count = c;
      key_sum = std::stoll(line.substr(comma + 1));
    }
  }
  EXPECT_EQ(count, revisits) << "keys seen twice";
  EXPECT_EQ(key_sum, want_sum);

  const int64_t peak = PeakRss(cluster.taskmanager(0).pid());
  ASSERT_GT(peak, 0);
  std::printf("many_keys_job: %lld keys on RocksDB (64 MB block cache), TaskManager peak RSS %.0f MB\n",
              static_cast<long long>(keys), peak / 1048576.0);
  RecordProperty("keys", std::to_string(keys));
  RecordProperty("taskmanager_peak_rss_bytes", std::to_string(peak));
  if (kMeasureRss) {
    EXPECT_LT(peak, int64_t{1} << 30) << "TaskManager peak RSS";
  }
}

}  // namespace
}  // namespace eddy
