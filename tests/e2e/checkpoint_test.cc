// End-to-end tests of checkpoints on real processes: a windowed job survives TaskManagers
// killed with SIGKILL at random moments and commits exactly the output of a plain loop
// (exactly-once file sink, heap and RocksDB); savepoints stop a job and restore it at
// another parallelism with the same final result; a corrupt `_metadata` is named and the
// previous checkpoint is used (restoring incremental RocksDB state at another parallelism);
// incremental checkpoints upload only new files and delete the ones no longer referred to;
// stop with drain fires every open window and finishes the job.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/source.h"
#include "common/config.h"
#include "common/fs/checkpoint_storage.h"
#include "common/fs/file_system.h"
#include "tests/support/cluster.h"
#include "tests/support/example_rows.h"
#include "tests/support/s3rver.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using testing::IotReference;
using testing::JobIdFrom;
using testing::MakeRows;
using testing::ReadOutputLines;
using testing::Sorted;
using testing::TestCluster;
using testing::ValueLine;
using testing::WaitUntil;
using testing::WriteFiles;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr int64_t kWindowMs = 10'000;

class CheckpointTest : public testing::ClusterTestBase {
 protected:
  /// Starts a JobManager and `n` TaskManagers with 2 slots, named tm-0 .. tm-<n-1>.
  void StartCluster(TestCluster& cluster, int n) {
    cluster.StartJobManager();
    for (int i = 0; i < n; ++i) StartTaskManager(cluster);
    ASSERT_TRUE(cluster.WaitForTaskManagers(n)) << cluster.Logs();
  }
  int StartTaskManager(TestCluster& cluster) {
    return cluster.StartTaskManager(2, {"taskmanager.resource-id=tm-" + std::to_string(next_tm_++)});
  }

  /// Submits iot_alerts (10 s windows, every window reported) over `input`.
  std::string SubmitIot(TestCluster& cluster, int parallelism, const std::string& input,
                        const std::string& output, int rate, std::vector<std::string> config,
                        const std::string& from_savepoint = "") {
    std::vector<std::string> args = {"run", Example("iot_alerts"), "-p",
                                     std::to_string(parallelism)};
    if (!from_savepoint.empty()) args.insert(args.end(), {"--from-savepoint", from_savepoint});
    for (const auto& c : config) args.insert(args.end(), {"-D", c});
    args.insert(args.end(), {"--", "--input", input, "--output", output, "--rate",
                             std::to_string(rate), "--window", "10s", "--threshold-dc", "0"});
    auto [code, out] = cluster.RunCli(args);
    EXPECT_EQ(code, 0) << out << cluster.Logs();
    return JobIdFrom(out);
  }

  /// The savepoint directory `eddy savepoint` / `eddy stop` printed ("" if none).
  static std::string SavepointLocation(const std::string& cli_output) {
    const std::string marker = "Savepoint completed: ";
    const size_t at = cli_output.find(marker);
    if (at == std::string::npos) return "";
    const std::string rest = cli_output.substr(at + marker.size());
    return rest.substr(0, rest.find('\n'));
  }

  /// The chaos test: four TaskManagers killed with SIGKILL while the job runs, each at a
  /// random point after one or two more checkpoints completed; a replacement starts each
  /// time. The committed output must be exactly the plain loop's.
  void KillTaskManagersWhileRunning(const std::string& backend) {
    const auto rows = MakeRows(24000, 7, 40, 500, 900);
    WriteFiles(dir_ + "/in", rows, 4, ValueLine);
    TestCluster cluster(dir_);
    StartCluster(cluster, 3);
    const std::string output = dir_ + "/out";
    // 24,000 rows at 4 x 200 rows/s: about 30 s of work without failures.
    const std::string job_id =
        SubmitIot(cluster, 4, dir_ + "/in", output, 200,
                  {"execution.checkpointing.interval=1s", "state.backend.type=" + backend,
                   "state.checkpoints.dir=file://" + dir_ + "/checkpoints"});
    ASSERT_FALSE(job_id.empty());

    const unsigned seed = std::random_device{}();
    std::mt19937 rng(seed);
    SCOPED_TRACE("chaos seed " + std::to_string(seed));
    int64_t completed = 0;
    for (int kill = 0; kill < 4; ++kill) {
      const int64_t wait_for = completed + 1 + static_cast<int64_t>(rng() % 2);
      ASSERT_TRUE(WaitUntil(
          [&] {
            completed = cluster.CompletedCheckpoints(job_id);
            return completed >= wait_for && cluster.JobState(job_id) == "RUNNING";
          },
          90s))
          << "kill " << kill << ": no checkpoint completed\n" << cluster.Logs();
      std::vector<int> busy = cluster.BusyTaskManagers();
      ASSERT_FALSE(busy.empty());
      const int victim = busy[rng() % busy.size()];
      cluster.taskmanager(victim).Kill9();
      StartTaskManager(cluster);
    }
    ASSERT_TRUE(cluster.WaitForJobState(job_id, "FINISHED", 240s)) << cluster.Logs();
    const nlohmann::json job = cluster.Get("/jobs/" + job_id);
    EXPECT_GE(job["numRestarts"].get<int>(), 4);
    const nlohmann::json checkpoints = cluster.Get("/jobs/" + job_id + "/checkpoints");
    EXPECT_GE(checkpoints["counts"]["restored"].get<int>(), 4) << checkpoints.dump();
    const auto got = Sorted(ReadOutputLines(output));
    const auto want = Sorted(IotReference(rows, kWindowMs, 0));
    ASSERT_EQ(got.size(), want.size()) << "duplicated or lost output";
    EXPECT_EQ(got, want);
    // A finished job's checkpoints are deleted.
    EXPECT_FALSE(fs::exists(dir_ + "/checkpoints/" + job_id)) << "checkpoints left behind";
  }

  /// Runs iot_alerts over `paths`, stops it with drain, and checks that its output is the
  /// windows over exactly the lines the drained savepoint says were read.
  void DrainAndCheck(TestCluster& cluster, const std::vector<testing::Row>& rows,
                     const std::vector<std::string>& paths, bool checkpoints);

  int next_tm_ = 0;
};

TEST_F(CheckpointTest, KilledTaskManagersLoseAndDuplicateNothingOnHeap) {
  KillTaskManagersWhileRunning("hashmap");
}

TEST_F(CheckpointTest, KilledTaskManagersLoseAndDuplicateNothingOnRocksDb) {
  KillTaskManagersWhileRunning("rocksdb");
}

TEST_F(CheckpointTest, SavepointStopAndRestoreAtTwoAndSixGiveTheResultOfAnUninterruptedRun) {
  const auto rows = MakeRows(16000, 11, 40, 500, 900);
  WriteFiles(dir_ + "/in", rows, 4, ValueLine);
  const auto want = Sorted(IotReference(rows, kWindowMs, 0));
  TestCluster cluster(dir_);
  StartCluster(cluster, 3);
  for (int parallelism : {2, 6}) {
    SCOPED_TRACE("restored at parallelism " + std::to_string(parallelism));
    const std::string output = dir_ + "/out-" + std::to_string(parallelism);
    const std::vector<std::string> config = {"execution.checkpointing.interval=500ms",
                                             "state.checkpoints.dir=file://" + dir_ + "/checkpoints"};
    // 16,000 rows at 4 x 400 rows/s: ~10 s; stopped after a few checkpoints.
    const std::string job_id = SubmitIot(cluster, 4, dir_ + "/in", output, 400, config);
    ASSERT_FALSE(job_id.empty());
    ASSERT_TRUE(WaitUntil([&] { return cluster.CompletedCheckpoints(job_id) >= 2; }, 60s)) << cluster.Logs();
    const std::string savepoints = dir_ + "/savepoints-" + std::to_string(parallelism);
    auto [code, out] = cluster.RunCli({"stop", job_id, "--savepoint", savepoints});
    ASSERT_EQ(code, 0) << out << cluster.Logs();
    EXPECT_THAT(out, HasSubstr("FINISHED"));
    const std::string location = SavepointLocation(out);
    ASSERT_FALSE(location.empty()) << out;
    EXPECT_THAT(location, HasSubstr(savepoints));
    // The stopped run committed part of the result, no more.
    EXPECT_LT(ReadOutputLines(output).size(), want.size());

    // Self-contained: moved elsewhere, it still restores.
    const std::string moved = dir_ + "/moved-" + std::to_string(parallelism);
    fs::rename(location, moved);
    const std::string restored =
        SubmitIot(cluster, parallelism, dir_ + "/in", output, 0, config, moved);
    ASSERT_FALSE(restored.empty());
    ASSERT_TRUE(cluster.WaitForJobState(restored, "FINISHED", 120s)) << cluster.Logs();
    const nlohmann::json checkpoints = cluster.Get("/jobs/" + restored + "/checkpoints");
    EXPECT_EQ(checkpoints["latest"]["restored"]["is_savepoint"], true) << checkpoints.dump();
    EXPECT_EQ(Sorted(ReadOutputLines(output)), want);
  }
}

// Stop with drain: the sources end their input where they are, the MAX watermark fires
// every open window, the drained savepoint is the final checkpoint and the job FINISHES. The
// output is exactly the windows, computed by a plain loop, over the lines the sources had
// read — their positions in the savepoint.
TEST_F(CheckpointTest, StopWithDrainFiresEveryOpenWindowAndFinishes) {
  const auto rows = MakeRows(16000, 13, 40, 500, 900);
  std::vector<std::string> paths;
  WriteFiles(dir_ + "/in", rows, 4, ValueLine, &paths);
  TestCluster cluster(dir_);
  StartCluster(cluster, 2);
  // With periodic checkpoints (the exactly-once sink publishes with the drained savepoint)
  // and without (the drained savepoint is the job's only one).
  for (const bool checkpoints : {true, false}) {
    SCOPED_TRACE(checkpoints ? "with checkpoints" : "without checkpoints");
    DrainAndCheck(cluster, rows, paths, checkpoints);
  }
}

void CheckpointTest::DrainAndCheck(TestCluster& cluster, const std::vector<testing::Row>& rows,
                                   const std::vector<std::string>& paths, bool checkpoints) {
  const std::string output = dir_ + (checkpoints ? "/out-chk" : "/out");
  std::vector<std::string> config = {"state.checkpoints.dir=file://" + dir_ + "/checkpoints"};
  if (checkpoints) config.push_back("execution.checkpointing.interval=500ms");
  // 4 x 4,000 rows at 4 x 400 rows/s: ~10 s.
  const std::string job_id = SubmitIot(cluster, 4, dir_ + "/in", output, 400, config);
  ASSERT_FALSE(job_id.empty());
  ASSERT_TRUE(WaitUntil(
      [&] {
        return cluster.JobState(job_id) == "RUNNING" &&
               (!checkpoints || cluster.CompletedCheckpoints(job_id) >= 2);
      },
      60s))
      << cluster.Logs();
  // The drain comes in the middle of the input: once a few thousand rows were read.
  ASSERT_TRUE(WaitUntil(
      [&] {
        const nlohmann::json job = cluster.Get("/jobs/" + job_id);
        int64_t read = 0;
        if (job.is_object()) {
          for (const auto& v : job["vertices"]) {
            read = std::max(read, v["metrics"]["write-records"].get<int64_t>());
          }
        }
        return read >= 3000;
      },
      60s))
      << cluster.Logs();
  auto [code, out] = cluster.RunCli({"stop", job_id, "--savepoint", dir_ + "/savepoints", "--drain"});
  ASSERT_EQ(code, 0) << out << cluster.Logs();
  EXPECT_THAT(out, HasSubstr("FINISHED"));
  const std::string location = SavepointLocation(out);
  ASSERT_FALSE(location.empty()) << out;

  auto local = eddy::fs::FileSystem::ForUri("file:///", Config());
  ASSERT_TRUE(local.ok());
  auto metadata = eddy::fs::ReadMetadata(**local, location);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  EXPECT_TRUE(metadata->is_savepoint());
  // Where each split's reader stopped: "<path>:<begin>-<end>" (the lines starting in that
  // byte range) -> lines read, or "done".
  std::vector<testing::Row> consumed;
  const size_t per = (rows.size() + paths.size() - 1) / paths.size();
  size_t splits = 0;
  for (const auto& op : metadata->operators()) {
    for (const auto& sub : op.subtasks()) {
      EXPECT_TRUE(sub.finished()) << op.operator_id() << ": a drained job's operators finished";
      for (const auto& entry : sub.operator_state()) {
        SplitState split;
        if (!SplitState::Decode(entry, &split) || split.split_id.rfind(dir_ + "/in/", 0) != 0) {
          continue;
        }
        ++splits;
        const size_t colon = split.split_id.rfind(':');
        const size_t dash = split.split_id.find('-', colon);
        const std::string path = split.split_id.substr(0, colon);
        const uint64_t begin = std::stoull(split.split_id.substr(colon + 1, dash - colon - 1));
        const uint64_t end = std::stoull(split.split_id.substr(dash + 1));
        const size_t read = split.position == "done" ? SIZE_MAX : std::stoul(split.position);
        const size_t file = static_cast<size_t>(
            std::find(paths.begin(), paths.end(), path) - paths.begin());
        ASSERT_LT(file, paths.size()) << path;
        std::ifstream in(path);
        std::string line;
        uint64_t offset = 0;
        size_t index = 0, taken = 0;
        while (std::getline(in, line)) {
          if (offset >= begin && offset < end && taken < read) {
            consumed.push_back(rows[file * per + index]);
            ++taken;
          }
          offset += line.size() + 1;
          ++index;
        }
      }
    }
  }
  ASSERT_GE(splits, paths.size()) << "every split's position is in the savepoint";
  EXPECT_LT(consumed.size(), rows.size()) << "drained before the input ended";
  EXPECT_EQ(Sorted(ReadOutputLines(output)), Sorted(IotReference(consumed, kWindowMs, 0)));
}

TEST_F(CheckpointTest, CorruptMetadataIsNamedAndThePreviousCheckpointIsUsed) {
  const auto rows = MakeRows(12000, 5, 20, 500, 900);
  WriteFiles(dir_ + "/in", rows, 4, ValueLine);
  TestCluster cluster(dir_);
  StartCluster(cluster, 2);
  const std::string checkpoints = dir_ + "/checkpoints";
  // No restarts: the failed job keeps its last two checkpoints.
  const std::string job_id =
      SubmitIot(cluster, 2, dir_ + "/in", dir_ + "/out", 300,
                {"execution.checkpointing.interval=300ms", "state.checkpoints.num-retained=2",
                 "restart-strategy=none", "state.checkpoints.dir=file://" + checkpoints,
                 "state.backend.type=rocksdb"});
  ASSERT_FALSE(job_id.empty());
  ASSERT_TRUE(WaitUntil([&] { return cluster.CompletedCheckpoints(job_id) >= 3; }, 60s)) << cluster.Logs();
  std::vector<int> busy = cluster.BusyTaskManagers();
  ASSERT_FALSE(busy.empty());
  cluster.taskmanager(busy[0]).Kill9();
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "FAILED", 30s)) << cluster.Logs();

  std::vector<int64_t> kept;
  for (const auto& e : fs::directory_iterator(checkpoints + "/" + job_id)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("chk-", 0) == 0 && fs::exists(e.path() / "_metadata")) {
      kept.push_back(std::stoll(name.substr(4)));
    }
  }
  std::sort(kept.begin(), kept.end());
  ASSERT_EQ(kept.size(), 2u) << "state.checkpoints.num-retained=2";
  const std::string latest = checkpoints + "/" + job_id + "/chk-" + std::to_string(kept[1]);
  fs::resize_file(latest + "/_metadata", fs::file_size(latest + "/_metadata") / 2);

  StartTaskManager(cluster);
  ASSERT_TRUE(cluster.WaitForTaskManagers(2)) << cluster.Logs();
  // Named directly: a clear error naming the file.
  auto [code, out] = cluster.RunCli({"run", Example("iot_alerts"), "-p", "2", "--from-savepoint",
                                     latest, "--", "--input", dir_ + "/in", "--output",
                                     dir_ + "/out2"});
  EXPECT_NE(code, 0) << out;
  EXPECT_THAT(out, HasSubstr(latest + "/_metadata"));
  EXPECT_THAT(out, HasSubstr("truncated"));
  // The job's checkpoint directory: its latest complete checkpoint is the previous one. Its
  // incremental RocksDB state is read at parallelism 3 (rescaled: entry by entry).
  const std::string restored =
      SubmitIot(cluster, 3, dir_ + "/in", dir_ + "/out2", 0, {"state.backend.type=rocksdb"},
                checkpoints + "/" + job_id);
  ASSERT_FALSE(restored.empty());
  ASSERT_TRUE(cluster.WaitForJobState(restored, "FINISHED", 60s)) << cluster.Logs();
  const nlohmann::json stats = cluster.Get("/jobs/" + restored + "/checkpoints");
  EXPECT_EQ(stats["latest"]["restored"]["id"].get<int64_t>(), kept[0]) << stats.dump();
}

// Incremental RocksDB checkpoints (the default) while keyed state grows: a checkpoint
// uploads only SST files the one before did not have and refers to the others (checked on
// the stored `_metadata` and on the bytes each checkpoint reports), and the job's shared
// directory holds exactly the files its retained checkpoints refer to.
TEST_F(CheckpointTest, IncrementalCheckpointsUploadOnlyNewFilesAndDeleteUnreferencedOnes) {
  TestCluster cluster(dir_);
  StartCluster(cluster, 1);
  const std::string checkpoints = dir_ + "/checkpoints";
  // Every record a new key of ~110 bytes: 4,000 new keys a second over two subtasks.
  auto [code, out] = cluster.RunCli(
      {"run", TestJob("rate_limited_word_count"), "-p", "2", "-D",
       "execution.checkpointing.interval=500ms", "-D", "state.backend.type=rocksdb", "-D",
       "state.checkpoints.num-retained=2", "-D", "state.checkpoints.dir=file://" + checkpoints,
       "--", "--output", dir_ + "/out", "--count", "10000000", "--rate", "4000", "--distinct",
       "1000000000", "--pad", "100"});
  ASSERT_EQ(code, 0) << out << cluster.Logs();
  const std::string job_id = JobIdFrom(out);
  ASSERT_TRUE(WaitUntil([&] { return cluster.CompletedCheckpoints(job_id) >= 12; }, 120s))
      << cluster.Logs();

  auto local = eddy::fs::FileSystem::ForUri("file://" + checkpoints, Config());
  ASSERT_TRUE(local.ok()) << local.status();
  const std::string job_dir = checkpoints + "/" + job_id;
  auto path_of = [](std::string uri) {
    return uri.rfind("file://", 0) == 0 ? uri.substr(7) : uri;
  };
  // The shared directory against the files the retained checkpoints refer to, at a moment
  // no checkpoint is in flight (retried until one comes).
  std::map<int64_t, checkpoint::CheckpointMetadata> retained;
  std::string mismatch;
  const bool consistent = WaitUntil(
      [&] {
        auto listed = [&] {
          std::set<std::string> files;
          if (!fs::exists(job_dir + "/shared")) return files;
          for (const auto& e : fs::directory_iterator(job_dir + "/shared")) {
            files.insert(e.path().string());
          }
          return files;
        };
        const std::set<std::string> before = listed();
        retained.clear();
        for (const auto& e : fs::directory_iterator(job_dir)) {
          const std::string name = e.path().filename().string();
          if (name.rfind("chk-", 0) != 0) continue;
          auto m = eddy::fs::ReadMetadata(**local, "file://" + e.path().string());
          if (!m.ok()) return false;  // in flight or being deleted
          retained[m->checkpoint_id()] = *m;
        }
        std::set<std::string> referenced;
        for (const auto& [id, m] : retained) {
          for (const auto& op : m.operators()) {
            for (const auto& sub : op.subtasks()) {
              for (const auto& h : sub.keyed()) {
                for (const auto& f : h.native().shared()) referenced.insert(path_of(f.uri()));
              }
            }
          }
        }
        if (retained.size() != 2 || before != listed()) return false;
        mismatch = ::testing::PrintToString(before) + " vs " + ::testing::PrintToString(referenced);
        return before == referenced && !before.empty();
      },
      30s, 5ms);
  ASSERT_TRUE(consistent) << "shared files vs retained references: " << mismatch;

  // The newer retained checkpoint uploaded only files the older one did not have.
  const auto& older = retained.begin()->second;
  const auto& newer = retained.rbegin()->second;
  std::set<std::string> older_files;
  for (const auto& op : older.operators()) {
    for (const auto& sub : op.subtasks()) {
      for (const auto& h : sub.keyed()) {
        for (const auto& f : h.native().shared()) older_files.insert(f.uri());
      }
    }
  }
  int keyed_handles = 0, referenced = 0, uploaded = 0;
  for (const auto& op : newer.operators()) {
    for (const auto& sub : op.subtasks()) {
      for (const auto& h : sub.keyed()) {
        ++keyed_handles;
        ASSERT_TRUE(h.has_native()) << "RocksDB checkpoints are incremental by default";
        for (const auto& f : h.native().shared()) {
          if (f.uploaded()) {
            ++uploaded;
            EXPECT_FALSE(older_files.contains(f.uri())) << f.uri() << " uploaded twice";
            EXPECT_EQ(fs::file_size(path_of(f.uri())), f.size()) << f.uri();
          } else {
            ++referenced;
            EXPECT_TRUE(older_files.contains(f.uri()))
                << f.uri() << " refers to a file the checkpoint before did not have";
          }
        }
      }
    }
  }
  EXPECT_EQ(keyed_handles, 2);
  EXPECT_GT(referenced, 0) << "nothing was shared between checkpoints";

  // Bytes: most checkpoints wrote a small part of their state (a compaction's output is a
  // new file, uploaded in full, now and then).
  const nlohmann::json stats = cluster.Get("/jobs/" + job_id + "/checkpoints");
  int completed = 0, small = 0;
  for (const auto& h : stats["history"]) {
    if (h["status"] != "COMPLETED") continue;
    const auto state = h["state_size"].get<uint64_t>();
    const auto written = h["checkpointed_size"].get<uint64_t>();
    EXPECT_LE(written, state) << h.dump();
    ++completed;
    if (written * 4 < state) ++small;
  }
  EXPECT_GE(small * 2, completed) << stats["history"].dump();

  auto [cancel_code, cancel_out] = cluster.RunCli({"cancel", job_id});
  ASSERT_EQ(cancel_code, 0) << cancel_out;
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "CANCELED", 60s)) << cluster.Logs();
  EXPECT_TRUE(WaitUntil([&] { return !fs::exists(job_dir); }, 30s))
      << "a cancelled job's checkpoints, shared files included, are deleted";
}

// Checkpoints and output on s3:// (s3rver): the checkpoint objects appear in the bucket, a
// killed TaskManager's job recovers from them with exactly the plain loop's output (read back
// with an independent S3 client); with S3 down a checkpoint fails and the job carries on,
// and checkpoints succeed again once S3 is back.
TEST_F(CheckpointTest, OnS3CheckpointsRecoverAndAnOutageFailsOnlyCheckpoints) {
  if (testing::FindNode().empty()) GTEST_SKIP() << "no node on PATH (deploy/install-deps.sh)";
  testing::S3rver s3(dir_ + "/s3", {"bucket"});
  const std::vector<std::string> s3_settings = {
      "s3.endpoint=" + s3.endpoint(), "s3.access-key=S3RVER", "s3.secret-key=S3RVER",
      "s3.path.style.access=true", "s3.max-retries=1"};
  const auto rows = MakeRows(16000, 3, 30, 500, 900);
  WriteFiles(dir_ + "/in", rows, 4, ValueLine);
  TestCluster cluster(dir_, s3_settings);
  StartCluster(cluster, 3);
  // Every keyed snapshot in a file of its own, so that recovery reads state from S3.
  const std::vector<std::string> config = {"execution.checkpointing.interval=1s",
                                           "state.checkpoints.dir=s3://bucket/checkpoints",
                                           "state.storage.fs.memory-threshold=0"};
  const std::string job_id = SubmitIot(cluster, 4, dir_ + "/in", "s3://bucket/out", 250, config);
  ASSERT_FALSE(job_id.empty());
  ASSERT_TRUE(WaitUntil([&] { return cluster.CompletedCheckpoints(job_id) >= 2; }, 60s)) << cluster.Logs();
  auto listed = s3.Client({"list", "bucket", "checkpoints/" + job_id});
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_THAT(*listed, HasSubstr("/_metadata"));
  EXPECT_THAT(*listed, HasSubstr(".state"));
  std::vector<int> busy = cluster.BusyTaskManagers();
  ASSERT_FALSE(busy.empty());
  cluster.taskmanager(busy[0]).Kill9();
  StartTaskManager(cluster);
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "FINISHED", 120s)) << cluster.Logs();
  EXPECT_GE(cluster.Get("/jobs/" + job_id + "/checkpoints")["counts"]["restored"].get<int>(), 1);
  // The committed output, read with the independent client.
  auto got = s3.ReadLines("bucket", "out/");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Sorted(*got), Sorted(IotReference(rows, kWindowMs, 0)));

  // S3 away while the job runs (its output is local here: a sink cannot write without its
  // store, but a checkpoint store outage must not stop the job).
  const std::string outage_job =
      SubmitIot(cluster, 4, dir_ + "/in", dir_ + "/out-local", 250, config);
  ASSERT_FALSE(outage_job.empty());
  ASSERT_TRUE(WaitUntil([&] { return cluster.CompletedCheckpoints(outage_job) >= 1; }, 60s)) << cluster.Logs();
  s3.Stop();
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto c = cluster.Get("/jobs/" + outage_job + "/checkpoints");
        return c.is_object() && c["counts"]["failed"].get<int>() >= 1;
      },
      60s))
      << cluster.Logs();
  EXPECT_EQ(cluster.JobState(outage_job), "RUNNING");
  const int64_t before = cluster.CompletedCheckpoints(outage_job);
  ASSERT_TRUE(s3.Start()) << s3.Log();
  ASSERT_TRUE(WaitUntil([&] { return cluster.CompletedCheckpoints(outage_job) > before; }, 60s))
      << cluster.Logs();
  ASSERT_TRUE(cluster.WaitForJobState(outage_job, "FINISHED", 120s)) << cluster.Logs();
  EXPECT_EQ(cluster.Get("/jobs/" + outage_job)["numRestarts"].get<int>(), 0);
  EXPECT_EQ(Sorted(ReadOutputLines(dir_ + "/out-local")), Sorted(IotReference(rows, kWindowMs, 0)));
}

}  // namespace
}  // namespace eddy
