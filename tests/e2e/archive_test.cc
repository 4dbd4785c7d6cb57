// End-to-end tests of the job archive (jobmanager.archive.fs.dir) on a real cluster: a
// finished word count is written to its archive file as REST showed it, REST answers from
// that file after the job store dropped the job, and an archive directory that cannot be
// written is logged while the cluster goes on running jobs.
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/http_client.h"
#include "tests/support/cluster.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using testing::JobIdFrom;
using testing::TestCluster;
using testing::WaitUntil;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

class ArchiveTest : public testing::ClusterTestBase {
 protected:
  /// Runs word_count over a small text to its end; returns the job id ("" on failure).
  std::string RunWordCount(TestCluster& cluster, const std::string& name) {
    const std::string input = dir_ + "/" + name + ".txt";
    std::ofstream(input) << "to be or not to be\nthat is the question\n";
    auto [code, out] = cluster.RunCli({"run", Example("word_count"), "-p", "2", "--wait", "--",
                                       "--input", input, "--output", dir_ + "/" + name});
    EXPECT_EQ(code, 0) << out << cluster.Logs();
    return JobIdFrom(out);
  }

  /// Returns a job's REST view without "now", the one field that says when it was asked.
  static nlohmann::json WithoutNow(nlohmann::json json) {
    json.erase("now");
    return json;
  }
};

TEST_F(ArchiveTest, AFinishedJobIsArchivedAndServedAfterItLeftTheJobStore) {
  const std::string archive = dir_ + "/archive";
  TestCluster cluster(dir_, {"jobmanager.archive.fs.dir=file://" + archive,
                             "jobstore.max-capacity=1"});
  ASSERT_TRUE(cluster.Start(1, 2)) << cluster.Logs();
  const std::string first = RunWordCount(cluster, "first");
  ASSERT_EQ(first.size(), 32u);
  const nlohmann::json shown = cluster.Get("/jobs/" + first);
  const nlohmann::json shown_exceptions = cluster.Get("/jobs/" + first + "/exceptions");
  ASSERT_EQ(shown["state"], "FINISHED");

  const std::string file = archive + "/" + first;
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(file); }, 10s)) << cluster.Logs();
  std::ifstream in(file);
  const auto document = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(document.is_object());
  ASSERT_GE(document["archive"].size(), 2u);
  EXPECT_EQ(document["archive"][0]["path"], "/jobs/" + first);
  EXPECT_EQ(document["archive"][0]["json"]["state"], "FINISHED");
  EXPECT_EQ(WithoutNow(document["archive"][0]["json"]), WithoutNow(shown));

  // A second job pushes the first out of the job store (max-capacity 1).
  const std::string second = RunWordCount(cluster, "second");
  ASSERT_EQ(second.size(), 32u);
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto jobs = cluster.Get("/jobs/overview")["jobs"];
        return jobs.size() == 1 && jobs[0]["jid"] == second;
      },
      10s))
      << cluster.Get("/jobs/overview").dump();

  const nlohmann::json archived = cluster.Get("/jobs/" + first);
  ASSERT_TRUE(archived.is_object()) << "the expired job is not served from the archive";
  EXPECT_EQ(archived["state"], "FINISHED");
  EXPECT_EQ(WithoutNow(archived), WithoutNow(shown));
  EXPECT_EQ(cluster.Get("/jobs/" + first + "/exceptions"), shown_exceptions);

  auto unknown = HttpRequest("GET", cluster.Url("/jobs/ffffffffffffffffffffffffffffffff"));
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_EQ(unknown->status, 404);
  auto outside = HttpRequest("GET", cluster.Url("/jobs/..%2F" + first));
  ASSERT_TRUE(outside.ok()) << outside.status();
  EXPECT_EQ(outside->status, 404);
}

TEST_F(ArchiveTest, AnUnwritableArchiveIsLoggedAndTheClusterRunsTheNextJob) {
  std::ofstream(dir_ + "/a-file") << "a file where the archive directory should be";
  const std::string archive = dir_ + "/a-file/archive";
  TestCluster cluster(dir_, {"jobmanager.archive.fs.dir=" + archive});
  ASSERT_TRUE(cluster.Start(1, 2)) << cluster.Logs();
  const std::string first = RunWordCount(cluster, "first");
  ASSERT_EQ(first.size(), 32u);
  ASSERT_TRUE(WaitUntil(
      [&] {
        return cluster.jobmanager().Log().find("cannot archive job " + first) !=
               std::string::npos;
      },
      10s))
      << cluster.Logs();
  EXPECT_THAT(cluster.jobmanager().Log(),
              HasSubstr("cannot archive job " + first + " to " + archive + "/" + first));
  EXPECT_THAT(cluster.jobmanager().Log(), HasSubstr("Not a directory"));
  EXPECT_TRUE(cluster.jobmanager().running());

  const std::string second = RunWordCount(cluster, "second");
  ASSERT_EQ(second.size(), 32u);
  EXPECT_EQ(cluster.JobState(second), "FINISHED");
  EXPECT_EQ(cluster.JobState(first), "FINISHED") << "the job store still holds it";
}

}  // namespace
}  // namespace eddy
