#include "connectors/files/file_splits.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/fs/file_system.h"
#include "common/fs/local_file_system.h"
#include "tests/support/process.h"
#include "tests/support/s3rver.h"

namespace eddy::connectors::files {
namespace {

namespace fs = std::filesystem;

TEST(FileSplitsTest, SplitsCoverEveryByteExactlyOnce) {
  std::vector<InputFile> files = {{"a", 10}, {"b", 0}, {"c", 1}, {"d", 33}, {"e", 2}};
  uint64_t total = 46;
  for (int p = 1; p <= 64; ++p) {
    std::vector<int> covered(total, 0);
    uint64_t global = 0;
    std::vector<uint64_t> base;
    for (const auto& f : files) {
      base.push_back(global);
      global += f.size;
    }
    uint64_t previous_end = 0;  // global offset where the previous subtask stopped
    for (int i = 0; i < p; ++i) {
      for (const FileSplit& s : AssignSplits(files, i, p)) {
        size_t index = static_cast<size_t>(s.path[0] - 'a');
        ASSERT_LT(s.begin, s.end);
        ASSERT_LE(s.end, files[index].size);
        ASSERT_EQ(base[index] + s.begin, previous_end) << "gap or overlap, p=" << p;
        previous_end = base[index] + s.end;
        for (uint64_t b = s.begin; b < s.end; ++b) ++covered[base[index] + b];
      }
    }
    EXPECT_EQ(previous_end, total);
    for (uint64_t b = 0; b < total; ++b) ASSERT_EQ(covered[b], 1) << "byte " << b << " p=" << p;
  }
}

TEST(FileSplitsTest, NoFilesGiveNoSplits) {
  EXPECT_TRUE(AssignSplits({}, 0, 4).empty());
  EXPECT_TRUE(AssignSplits({{"empty", 0}}, 0, 1).empty());
}

TEST(FileSplitsTest, ListsDirectorySortedSkippingHiddenAndSubdirectories) {
  std::string tmpl = (fs::path(::testing::TempDir()) / "file_splits_test_XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  std::string dir = tmpl;
  for (const char* name : {"b", "a", "c10", "c9", ".hidden", "_SUCCESS"}) {
    std::ofstream(dir + "/" + name) << name;
  }
  fs::create_directories(dir + "/sub");
  eddy::fs::LocalFileSystem& local = *eddy::fs::LocalFileSystem::Instance();
  auto files = ListInputFiles(local, dir);
  ASSERT_TRUE(files.ok()) << files.status();
  std::vector<std::string> names;
  for (const auto& f : *files) {
    names.push_back(fs::path(f.path).filename().string());
    EXPECT_EQ(f.size, names.back().size());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c10", "c9"}));

  auto missing = ListInputFiles(local, dir + "/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(missing.status().message()).find(dir + "/nope"), std::string::npos);
  auto below_file = ListInputFiles(local, dir + "/a/x");
  EXPECT_EQ(below_file.status().code(), absl::StatusCode::kNotFound);
  // A file URI lists the same files, named as URIs.
  auto as_uri = ListInputFiles(local, "file://" + dir);
  ASSERT_TRUE(as_uri.ok()) << as_uri.status();
  ASSERT_EQ(as_uri->size(), 4u);
  EXPECT_EQ((*as_uri)[0].path, "file://" + dir + "/a");
  // An empty directory is an empty listing, not a missing one.
  fs::create_directories(dir + "/empty");
  auto empty = ListInputFiles(local, dir + "/empty");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
  fs::remove_all(dir);
}

TEST(FileSplitsTest, ListsAnS3PrefixLikeADirectory) {
  const std::string dir = testing::MakeTestDir("s3-file-splits");
  {
    testing::S3rver s3(dir + "/s3", {"input"});
    ASSERT_TRUE(s3.running());
    for (const char* key : {"day/b", "day/a", "day/c10", "day/c9", "day/.hidden", "day/_SUCCESS",
                            "day/sub/x", "dayafter/y", "other"}) {
      const std::string file = dir + "/upload";
      std::ofstream(file, std::ios::trunc) << key;
      ASSERT_TRUE(s3.Client({"put", "input", key, file}).ok());
    }
    auto made = eddy::fs::FileSystem::ForUri("s3://input/day", s3.MakeConfig());
    ASSERT_TRUE(made.ok()) << made.status();
    eddy::fs::FileSystem& s3fs = **made;
    for (const std::string prefix : {"s3://input/day", "s3://input/day/"}) {
      auto files = ListInputFiles(s3fs, prefix);
      ASSERT_TRUE(files.ok()) << files.status();
      std::vector<std::pair<std::string, uint64_t>> got;
      for (const auto& f : *files) got.emplace_back(f.path, f.size);
      EXPECT_EQ(got, (std::vector<std::pair<std::string, uint64_t>>{{"s3://input/day/a", 5},
                                                                    {"s3://input/day/b", 5},
                                                                    {"s3://input/day/c10", 7},
                                                                    {"s3://input/day/c9", 6}}))
          << prefix;
    }
    // One object.
    auto one = ListInputFiles(s3fs, "s3://input/other");
    ASSERT_TRUE(one.ok()) << one.status();
    ASSERT_EQ(one->size(), 1u);
    EXPECT_EQ((*one)[0].path, "s3://input/other");
    EXPECT_EQ((*one)[0].size, 5u);
    // Nothing there: NotFound naming it.
    auto missing = ListInputFiles(s3fs, "s3://input/nope");
    EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
    EXPECT_NE(std::string(missing.status().message()).find("s3://input/nope"), std::string::npos);
    // A missing bucket is an error naming the path.
    auto no_bucket = ListInputFiles(s3fs, "s3://no-such-bucket/day");
    EXPECT_FALSE(no_bucket.ok());
    EXPECT_NE(std::string(no_bucket.status().message()).find("s3://no-such-bucket/day"),
              std::string::npos)
        << no_bucket.status();
  }
  testing::RemoveTestDir(dir);
}

}  // namespace
}  // namespace eddy::connectors::files
