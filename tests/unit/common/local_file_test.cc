// Atomic whole-file writes and bounded whole-file reads on a real directory: replacement,
// no temporary file left behind on success or failure, and errors that name the path and
// the system's reason.
#include "common/local_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "tests/support/process.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class LocalFileTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTestDir("local-file"); }
  void TearDown() override { testing::RemoveTestDir(dir_); }

  std::set<std::string> Files(const std::string& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
    return out;
  }

  std::string dir_;
};

TEST_F(LocalFileTest, WritesAtomicallyCreatingDirectoriesAndReplacing) {
  const std::string path = dir_ + "/a/b/file";
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second").ok());
  EXPECT_EQ(*ReadWholeFile(path, 100), "second");
  EXPECT_EQ(Files(dir_ + "/a/b"), std::set<std::string>{"file"});
}

TEST_F(LocalFileTest, AFailedWriteNamesThePathAndLeavesNothing) {
  fs::create_directories(dir_ + "/d/target");  // a directory cannot be renamed over
  absl::Status status = WriteFileAtomically(dir_ + "/d/target", "bytes");
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("cannot rename into " + dir_ + "/d/target: Is a directory"));
  EXPECT_EQ(Files(dir_ + "/d"), std::set<std::string>{"target"});

  std::ofstream(dir_ + "/plain") << "x";
  status = WriteFileAtomically(dir_ + "/plain/file", "bytes");
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("cannot create directory " + dir_ + "/plain: Not a directory"));
}

TEST_F(LocalFileTest, ReadsAreBoundedAndMissingFilesAreNotFound) {
  EXPECT_TRUE(absl::IsNotFound(ReadWholeFile(dir_ + "/missing", 10).status()));
  std::ofstream(dir_ + "/plain") << "x";
  EXPECT_TRUE(absl::IsNotFound(ReadWholeFile(dir_ + "/plain/below", 10).status()));
  std::ofstream(dir_ + "/big") << std::string(100, 'x');
  auto big = ReadWholeFile(dir_ + "/big", 99);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(big.status().message()), HasSubstr(dir_ + "/big has 100 bytes"));
  EXPECT_EQ(ReadWholeFile(dir_ + "/big", 100)->size(), 100u);
}

}  // namespace
}  // namespace eddy
