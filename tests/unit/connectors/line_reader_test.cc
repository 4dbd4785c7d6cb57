#include "connectors/files/line_reader.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace eddy::connectors::files {
namespace {

namespace fs = std::filesystem;

class LineReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "line_reader_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& content) {
    std::string path = dir_ + "/f" + std::to_string(files_++);
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  std::string dir_;
  int files_ = 0;
};

/// Reads split [begin, end) of `path` with a buffer of `buffer_size` bytes.
std::vector<std::string> ReadSplit(const std::string& path, uint64_t begin, uint64_t end,
                                   size_t buffer_size, std::vector<bool>* first = nullptr) {
  SplitLineReader reader(buffer_size);
  reader.Open({path, begin, end});
  std::vector<std::string> lines;
  std::string_view line;
  while (reader.Next(&line)) {
    lines.emplace_back(line);
    if (first != nullptr) first->push_back(reader.at_file_start());
  }
  EXPECT_TRUE(reader.status().ok()) << reader.status();
  return lines;
}

/// Line starts of `text`: 0 and every position after a '\n' (if before the end).
std::vector<std::string> LinesStartingIn(const std::string& text, uint64_t begin, uint64_t end) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t stop = nl == std::string::npos ? text.size() : nl;
    std::string line = text.substr(start, stop - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (start >= begin && start < end) lines.push_back(line);
    start = stop + 1;
  }
  return lines;
}

TEST_F(LineReaderTest, EveryRangeAndBufferSizeMatchesLineStarts) {
  std::mt19937_64 rng(5);
  for (int round = 0; round < 20; ++round) {
    std::string text;
    size_t n = rng() % 40;
    for (size_t i = 0; i < n; ++i) {
      int r = static_cast<int>(rng() % 6);
      text.push_back(r == 0 ? '\n' : r == 1 ? '\r' : static_cast<char>('a' + r));
    }
    std::string path = Write(text);
    for (size_t buffer : {1, 2, 3, 7, 64}) {
      for (uint64_t begin = 0; begin <= text.size(); ++begin) {
        for (uint64_t end = begin; end <= text.size(); ++end) {
          ASSERT_EQ(ReadSplit(path, begin, end, buffer), LinesStartingIn(text, begin, end))
              << "text='" << text << "' [" << begin << "," << end << ") buffer " << buffer;
        }
      }
    }
  }
}

TEST_F(LineReaderTest, ReportsFirstLineOfFile) {
  std::string path = Write("h\nx\ny\n");
  std::vector<bool> first;
  EXPECT_EQ(ReadSplit(path, 0, 6, 2, &first), (std::vector<std::string>{"h", "x", "y"}));
  EXPECT_EQ(first, (std::vector<bool>{true, false, false}));
  first.clear();
  EXPECT_EQ(ReadSplit(path, 1, 6, 2, &first), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(first, (std::vector<bool>{false, false}));
}

TEST_F(LineReaderTest, MissingFileIsAnErrorNamingIt) {
  SplitLineReader reader;
  std::string path = dir_ + "/gone";
  reader.Open({path, 0, 10});
  std::string_view line;
  EXPECT_FALSE(reader.Next(&line));
  EXPECT_FALSE(reader.status().ok());
  EXPECT_NE(std::string(reader.status().message()).find(path), std::string::npos);
}

}  // namespace
}  // namespace eddy::connectors::files
