#include "connectors/files/part_file_writer.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace eddy::connectors::files {
namespace {

namespace fs = std::filesystem;

class PartFileWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "part_file_writer_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::set<std::string> Files() const {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.insert(e.path().filename().string());
    return out;
  }
  std::string Read(const std::string& name) const {
    std::ifstream in(dir_ + "/" + name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::string dir_;
};

TEST_F(PartFileWriterTest, WritesHiddenUntilCommitThenRenames) {
  PartFileWriter w;
  ASSERT_TRUE(w.Open(dir_, 3, 2).ok());
  ASSERT_TRUE(w.AppendLine("a").ok());
  ASSERT_TRUE(w.Flush().ok());
  EXPECT_EQ(Files(), std::set<std::string>{".part-3.inprogress.2"});
  ASSERT_TRUE(w.Commit().ok());
  EXPECT_EQ(Files(), std::set<std::string>{"part-3"});
  EXPECT_EQ(Read("part-3"), "a\n");
  EXPECT_TRUE(w.Close().ok());  // after Commit: nothing to do
  EXPECT_EQ(Files(), std::set<std::string>{"part-3"});
}

TEST_F(PartFileWriterTest, CloseWithoutCommitLeavesNothingVisible) {
  {
    PartFileWriter w;
    ASSERT_TRUE(w.Open(dir_, 0, 0).ok());
    ASSERT_TRUE(w.AppendLine("partial").ok());
    ASSERT_TRUE(w.Close().ok());
  }
  {
    PartFileWriter w;  // destroyed while open: like a task torn down mid-run
    ASSERT_TRUE(w.Open(dir_, 1, 0).ok());
    ASSERT_TRUE(w.AppendLine("partial").ok());
  }
  EXPECT_TRUE(Files().empty());
}

TEST_F(PartFileWriterTest, RestartedAttemptLeavesExactlyOneCleanCopy) {
  // Attempt 0 of subtask 0 dies mid-write (its TaskManager was killed): its file stays.
  std::ofstream(dir_ + "/.part-0.inprogress.0") << "half of the output\n";
  // Attempt 0 of subtask 1 had committed before the failure.
  std::ofstream(dir_ + "/part-1") << "old copy\n";
  std::ofstream(dir_ + "/.part-10.inprogress.0") << "another subtask\n";
  for (int subtask : {0, 1}) {
    PartFileWriter w;
    ASSERT_TRUE(w.Open(dir_, subtask, 1).ok());
    ASSERT_TRUE(w.AppendLine("x" + std::to_string(subtask)).ok());
    ASSERT_TRUE(w.Commit().ok());
  }
  EXPECT_EQ(Files(), (std::set<std::string>{"part-0", "part-1", ".part-10.inprogress.0"}));
  EXPECT_EQ(Read("part-0"), "x0\n");
  EXPECT_EQ(Read("part-1"), "x1\n");
}

}  // namespace
}  // namespace eddy::connectors::files
