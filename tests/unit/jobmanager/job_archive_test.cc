// JobArchive on a real directory: the file's format and atomic replacement, lookups by
// REST path (queued or on disk), ids that must not reach outside the directory, and a
// directory that cannot be written.
#include "jobmanager/job_archive.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/process.h"
#include "tests/support/stderr_capture.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using testing::WaitUntil;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr char kJob[] = "00112233445566778899aabbccddeeff";

class JobArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTestDir("job-archive"); }
  void TearDown() override { testing::RemoveTestDir(dir_); }

  static std::vector<JobArchive::Entry> Views(const std::string& state) {
    return {{std::string("/jobs/") + kJob, {{"jid", kJob}, {"state", state}}},
            {std::string("/jobs/") + kJob + "/exceptions",
             {{"all-exceptions", nlohmann::json::array()}}}};
  }

  static nlohmann::json ReadJson(const std::string& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in, nullptr, false);
  }

  std::string dir_;
};

TEST_F(JobArchiveTest, WritesOneFilePerJobKeyedByRestPath) {
  JobArchive archive("file://" + dir_ + "/archive");
  EXPECT_EQ(archive.dir(), dir_ + "/archive");
  archive.Archive(JobId(kJob), Views("FINISHED"));
  const std::string file = dir_ + "/archive/" + kJob;
  ASSERT_TRUE(WaitUntil([&] { return fs::exists(file); }, 5s));
  auto document = ReadJson(file);
  ASSERT_TRUE(document.is_object()) << "the file is complete JSON once it has its name";
  ASSERT_EQ(document["archive"].size(), 2u);
  EXPECT_EQ(document["archive"][0]["path"], std::string("/jobs/") + kJob);
  EXPECT_EQ(document["archive"][0]["json"]["state"], "FINISHED");

  auto job = archive.Find(kJob, std::string("/jobs/") + kJob);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ((*job)["state"], "FINISHED");
  EXPECT_TRUE(archive.Find(kJob, std::string("/jobs/") + kJob + "/exceptions").ok());
  EXPECT_EQ(archive.Find(kJob, "/jobs/other").status().code(), absl::StatusCode::kNotFound);

  // A later archive of the same job replaces the file; no temporary file is left behind.
  archive.Archive(JobId(kJob), Views("FAILED"));
  archive.Stop();
  EXPECT_EQ(ReadJson(file)["archive"][0]["json"]["state"], "FAILED");
  for (const auto& entry : fs::directory_iterator(dir_ + "/archive")) {
    EXPECT_EQ(entry.path().filename(), kJob);
  }
}

TEST_F(JobArchiveTest, UnknownAndPathLikeIdsAreNotFound) {
  JobArchive archive(dir_ + "/archive");
  fs::create_directories(dir_ + "/archive");
  std::ofstream(dir_ + "/outside") << R"({"archive":[{"path":"/jobs/../outside","json":{}}]})";
  for (const std::string id : {"ffffffffffffffffffffffffffffffff", "../outside", "", ".x.tmp"}) {
    auto found = archive.Find(id, "/jobs/" + id);
    EXPECT_EQ(found.status().code(), absl::StatusCode::kNotFound) << id;
  }
  std::ofstream(dir_ + "/archive/" + kJob) << "{ half";
  EXPECT_THAT(std::string(archive.Find(kJob, "/jobs/x").status().message()),
              HasSubstr("is not valid JSON"));
}

TEST_F(JobArchiveTest, DisabledWithoutADirectory) {
  JobArchive archive("");
  EXPECT_FALSE(archive.enabled());
  archive.Archive(JobId(kJob), Views("FINISHED"));
  EXPECT_EQ(archive.Find(kJob, std::string("/jobs/") + kJob).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(JobArchiveTest, AFailedWriteIsLoggedWithThePathAndErrno) {
  std::ofstream(dir_ + "/a-file") << "not a directory";
  const std::string archive_dir = dir_ + "/a-file/archive";
  testing::StderrCapture log(dir_ + "/stderr.log");
  JobArchive archive(archive_dir);
  archive.Archive(JobId(kJob), Views("FINISHED"));
  ASSERT_TRUE(
      WaitUntil([&] { return log.Text().find("cannot archive job") != std::string::npos; }, 5s));
  EXPECT_THAT(log.Text(), HasSubstr("cannot archive job " + std::string(kJob) + " to " +
                                    archive_dir + "/" + kJob));
  EXPECT_THAT(log.Text(), HasSubstr("Not a directory"));
  // Once the write failed nothing answers for the job.
  ASSERT_TRUE(WaitUntil(
      [&] { return absl::IsNotFound(archive.Find(kJob, std::string("/jobs/") + kJob).status()); },
      5s));
}

}  // namespace
}  // namespace eddy
