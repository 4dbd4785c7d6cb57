#include "connectors/files/line_reader.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/fs/file_system.h"
#include "common/fs/local_file_system.h"
#include "tests/support/process.h"
#include "tests/support/s3rver.h"

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

/// Reads split [begin, end) of `path` in reads of `chunk_size` bytes.
std::vector<std::string> ReadSplit(
    const std::string& path, uint64_t begin, uint64_t end, size_t chunk_size,
    std::vector<bool>* first = nullptr,
    std::shared_ptr<eddy::fs::FileSystem> file_system = eddy::fs::LocalFileSystem::Instance()) {
  SplitLineReader reader(std::move(file_system), chunk_size);
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
  SplitLineReader reader(eddy::fs::LocalFileSystem::Instance());
  std::string path = dir_ + "/gone";
  reader.Open({path, 0, 10});
  std::string_view line;
  EXPECT_FALSE(reader.Next(&line));
  EXPECT_FALSE(reader.status().ok());
  EXPECT_NE(std::string(reader.status().message()).find(path), std::string::npos);
}

TEST_F(LineReaderTest, ReadsFileUris) {
  std::string path = Write("a\nb\r\nc");
  EXPECT_EQ(ReadSplit("file://" + path, 0, 7, 3), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ReadSplit("file://" + path, 1, 7, 3), (std::vector<std::string>{"b", "c"}));
}

// ---------------------------------------------------------------------------------------
// S3 (s3rver), objects put with the independent client

constexpr char kBucket[] = "input";

class S3LineReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTestDir("s3-line-reader");
    s3_ = std::make_unique<testing::S3rver>(dir_ + "/s3", std::vector<std::string>{kBucket});
    ASSERT_TRUE(s3_->running());
    auto made = eddy::fs::FileSystem::ForUri("s3://input/", s3_->MakeConfig());
    ASSERT_TRUE(made.ok()) << made.status();
    fs_ = *made;
  }
  void TearDown() override {
    s3_.reset();
    testing::RemoveTestDir(dir_);
  }

  /// Uploads `content` as `key` with the independent client; returns its s3:// URI.
  std::string Put(const std::string& key, const std::string& content) {
    const std::string file = dir_ + "/upload";
    std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
    absl::StatusOr<std::string> put = s3_->Client({"put", kBucket, key, file});
    EXPECT_TRUE(put.ok()) << put.status();
    return std::string("s3://") + kBucket + "/" + key;
  }

  std::string dir_;
  std::unique_ptr<testing::S3rver> s3_;
  std::shared_ptr<eddy::fs::FileSystem> fs_;
};

TEST_F(S3LineReaderTest, SplitsOfAnObjectSpanningManyChunksMatchLineStarts) {
  // Lines of 0..3000 bytes, some CRLF, and lines longer than a read chunk.
  std::mt19937_64 rng(77);
  std::string text;
  while (text.size() < 300'000) {
    const size_t len = rng() % 8 == 0 ? 20'000 + rng() % 20'000 : rng() % 3000;
    for (size_t i = 0; i < len; ++i) text.push_back(static_cast<char>('a' + rng() % 26));
    if (rng() % 4 == 0) text.push_back('\r');
    text.push_back('\n');
  }
  text += "last line without newline";
  const std::string uri = Put("day/big.txt", text);
  constexpr size_t kChunk = 64 * 1024;  // ~5 ranged reads per object
  // Whole object, then p splits cut at arbitrary bytes (lines cross split boundaries).
  EXPECT_EQ(ReadSplit(uri, 0, text.size(), kChunk, nullptr, fs_),
            LinesStartingIn(text, 0, text.size()));
  for (uint64_t p : {2, 3, 7}) {
    std::vector<std::string> all;
    for (uint64_t i = 0; i < p; ++i) {
      const uint64_t begin = text.size() * i / p;
      const uint64_t end = text.size() * (i + 1) / p;
      std::vector<std::string> part = ReadSplit(uri, begin, end, kChunk, nullptr, fs_);
      EXPECT_EQ(part, LinesStartingIn(text, begin, end)) << "split " << i << " of " << p;
      all.insert(all.end(), part.begin(), part.end());
    }
    EXPECT_EQ(all, LinesStartingIn(text, 0, text.size())) << "p=" << p;
  }
  // Split boundaries around a line end, with small chunks.
  const size_t nl = text.find('\n', 1000);
  for (uint64_t cut = nl - 2; cut <= nl + 2; ++cut) {
    for (size_t chunk : {64, 1000}) {
      EXPECT_EQ(ReadSplit(uri, cut, cut + 3, chunk, nullptr, fs_),
                LinesStartingIn(text, cut, cut + 3))
          << "cut " << cut << " chunk " << chunk;
    }
  }
}

TEST_F(S3LineReaderTest, AMissingObjectIsAnErrorNamingIt) {
  SplitLineReader reader(fs_);
  const std::string uri = "s3://input/no/such/object.csv";
  reader.Open({uri, 0, 10});
  std::string_view line;
  EXPECT_FALSE(reader.Next(&line));
  EXPECT_TRUE(absl::IsNotFound(reader.status())) << reader.status();
  EXPECT_NE(std::string(reader.status().message()).find(uri), std::string::npos) << reader.status();
}

}  // namespace
}  // namespace eddy::connectors::files
