#include "connectors/files/file_splits.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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
  auto files = ListInputFiles(dir);
  ASSERT_TRUE(files.ok()) << files.status();
  std::vector<std::string> names;
  for (const auto& f : *files) {
    names.push_back(fs::path(f.path).filename().string());
    EXPECT_EQ(f.size, names.back().size());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c10", "c9"}));

  auto missing = ListInputFiles(dir + "/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(missing.status().message()).find(dir + "/nope"), std::string::npos);
  auto below_file = ListInputFiles(dir + "/a/x");
  EXPECT_EQ(below_file.status().code(), absl::StatusCode::kNotFound);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace eddy::connectors::files
