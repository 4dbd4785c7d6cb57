#include "connectors/files/text_source.h"
#include "tests/support/source_runner.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace eddy::connectors::files {
namespace {

using testing::RunSubtask;

namespace fs = std::filesystem;

/// Runs every subtask and concatenates their records in subtask order.
template <typename T>
std::vector<T> RunAll(const SourceDef<T>& def, int parallelism) {
  std::vector<T> all;
  for (int i = 0; i < parallelism; ++i) {
    std::vector<T> part = RunSubtask(def, i, parallelism);
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

/// The reference: the files' lines read with std::getline, trailing '\r' removed.
std::vector<std::string> ReadLinesWithGetline(const std::vector<std::string>& paths) {
  std::vector<std::string> lines;
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in.good()) << path;
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(line);
    }
  }
  return lines;
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

/// Random text: empty lines, short and long lines, LF and CRLF, sometimes no final '\n'.
std::string RandomText(std::mt19937_64& rng, size_t approx_size) {
  std::string text;
  std::uniform_int_distribution<int> kind(0, 9);
  std::uniform_int_distribution<int> letter('a', 'z');
  while (text.size() < approx_size) {
    int k = kind(rng);
    size_t len = k < 2 ? 0 : k < 8 ? rng() % 12 : rng() % 3000;
    for (size_t j = 0; j < len; ++j) text.push_back(static_cast<char>(letter(rng)));
    if (rng() % 4 == 0) text.push_back('\r');
    text.push_back('\n');
  }
  if (!text.empty() && rng() % 2 == 0) {
    text.pop_back();  // last line without '\n' (maybe ending in '\r')
  }
  return text;
}

class TextSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "text_source_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string dir_;
};

TEST_F(TextSourceTest, EveryLineExactlyOnceForAnyParallelism) {
  std::mt19937_64 rng(1234);
  for (int round = 0; round < 4; ++round) {
    std::string dir = dir_ + "/round" + std::to_string(round);
    fs::create_directories(dir);
    std::vector<std::string> files;
    int num_files = 1 + static_cast<int>(rng() % 6);
    for (int f = 0; f < num_files; ++f) {
      std::string path = dir + "/file-" + std::to_string(f);
      size_t size;
      switch (rng() % 5) {
        case 0: size = rng() % 4; break;        // smaller than p bytes (maybe empty)
        case 1: size = rng() % 64; break;
        default: size = rng() % 20000; break;
      }
      WriteFile(path, RandomText(rng, size));
      files.push_back(path);
    }
    // Tiny files that are exactly one empty line, one char, a lone CR.
    for (const char* tiny : {"\n", "x", "\r\n", "\n\n"}) {
      std::string path = dir + "/tiny-" + std::to_string(files.size());
      WriteFile(path, tiny);
      files.push_back(path);
    }
    std::sort(files.begin(), files.end());
    // Hidden files and subdirectories are not inputs.
    WriteFile(dir + "/.hidden", "must not appear\n");
    WriteFile(dir + "/_SUCCESS", "must not appear\n");
    fs::create_directories(dir + "/nested");
    WriteFile(dir + "/nested/file", "must not appear\n");

    std::vector<std::string> expected = ReadLinesWithGetline(files);
    SourceDef<std::string> def = text_lines(dir);
    EXPECT_TRUE(def.bounded);
    for (int p = 1; p <= 64; ++p) {
      // Splits are contiguous, so subtask order reproduces file order.
      ASSERT_EQ(RunAll(def, p), expected) << "round " << round << ", p=" << p;
    }
  }
}

TEST_F(TextSourceTest, LinesSpanningBufferRefillsInALargeFile) {
  std::mt19937_64 rng(99);
  std::string path = dir_ + "/big.txt";
  std::string text = RandomText(rng, 3 * 1024 * 1024 + 17);
  text += std::string(1500000, 'L') + "\n";  // one line longer than the 1 MiB buffer
  text += "tail";
  WriteFile(path, text);
  std::vector<std::string> expected = ReadLinesWithGetline({path});
  for (int p : {1, 2, 3, 5, 8}) {
    ASSERT_EQ(RunAll(text_lines(path), p), expected) << "p=" << p;
  }
}

TEST_F(TextSourceTest, SingleFilePathIsReadEvenIfHidden) {
  std::string path = dir_ + "/.dotfile";
  WriteFile(path, "a\r\nb\n\nc");
  EXPECT_EQ(RunAll(text_lines(path), 1), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(RunAll(text_lines(path), 7), (std::vector<std::string>{"a", "b", "", "c"}));
}

TEST_F(TextSourceTest, EmptyDirectoryYieldsNothing) {
  EXPECT_TRUE(RunAll(text_lines(dir_), 3).empty());
}

TEST_F(TextSourceTest, MissingPathFailsNamingIt) {
  std::string missing = dir_ + "/no/such/input";
  for (auto run : {+[](const std::string& p) { RunSubtask(text_lines(p), 0, 1); },
                   +[](const std::string& p) { RunSubtask(csv_rows(p), 1, 2); }}) {
    try {
      run(missing);
      ADD_FAILURE() << "expected std::runtime_error";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
    }
  }
}

TEST_F(TextSourceTest, StopsWhenCancelled) {
  std::string path = dir_ + "/lines";
  WriteFile(path, "1\n2\n3\n");
  std::atomic<bool> cancel{true};
  EXPECT_TRUE(RunSubtask(text_lines(path), 0, 1, &cancel).empty());
}

using Row = std::vector<std::string>;

Row Parse(std::string_view line, char delimiter = ',') {
  Row fields;
  ParseCsvLine(line, delimiter, &fields);
  return fields;
}

TEST_F(TextSourceTest, ParseCsvLineHandlesRfc4180Quoting) {
  EXPECT_EQ(Parse(R"("a,""b"",c")"), (Row{R"(a,"b",c)"}));
  EXPECT_EQ(Parse(R"(a,"""b""",c)"), (Row{"a", R"("b")", "c"}));
  EXPECT_EQ(Parse("a,b,c"), (Row{"a", "b", "c"}));
  EXPECT_EQ(Parse(",,"), (Row{"", "", ""}));
  EXPECT_EQ(Parse(""), (Row{""}));
  EXPECT_EQ(Parse(R"("",x)"), (Row{"", "x"}));
  EXPECT_EQ(Parse(R"(a"b,c)"), (Row{R"(a"b)", "c"}));      // quote inside unquoted field
  EXPECT_EQ(Parse(R"("ab"cd,e)"), (Row{"abcd", "e"}));      // lenient: text after quote
  EXPECT_EQ(Parse(R"(x,"unterminated,y)"), (Row{"x", "unterminated,y"}));
  EXPECT_EQ(Parse("a;\"b;c\";d", ';'), (Row{"a", "b;c", "d"}));
  EXPECT_EQ(Parse("a\tb", '\t'), (Row{"a", "b"}));
}

TEST_F(TextSourceTest, CsvRowsSplitsLikeTextAndSkipsHeaders) {
  WriteFile(dir_ + "/a.csv", "id,name\r\n1,\"Smith, J\"\r\n\r\n2,\"say \"\"hi\"\"\"\r\n");
  WriteFile(dir_ + "/b.csv", "id,name\n3,x\n4,");
  std::vector<Row> with_header = {{"id", "name"}, {"1", "Smith, J"}, {"2", R"(say "hi")"},
                                  {"id", "name"}, {"3", "x"},        {"4", ""}};
  std::vector<Row> without_header = {
      {"1", "Smith, J"}, {"2", R"(say "hi")"}, {"3", "x"}, {"4", ""}};
  for (int p = 1; p <= 20; ++p) {
    EXPECT_EQ(RunAll(csv_rows(dir_), p), with_header) << "p=" << p;
    EXPECT_EQ(RunAll(csv_rows(dir_, ',', /*skip_header=*/true), p), without_header) << "p=" << p;
  }
  WriteFile(dir_ + "/c.tsv", "x\ty\n");
  EXPECT_EQ(RunAll(csv_rows(dir_ + "/c.tsv", '\t'), 2), (std::vector<Row>{{"x", "y"}}));
}

}  // namespace
}  // namespace eddy::connectors::files

namespace eddy::connectors::files {
namespace {

TEST(FileSourceTest, ContinuousModeReadsFilesThatAppearLater) {
  std::string dir = (fs::path(::testing::TempDir()) / "continuous_XXXXXX").string();
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  WriteFile(dir + "/a.txt", "a1\na2\n");
  FileSourceOptions opts;
  opts.monitor_interval = std::chrono::milliseconds(20);
  auto def = text_lines(dir, opts);
  EXPECT_FALSE(def.bounded);
  auto reader = def.factory();
  RuntimeContext rt;
  testing::RecordingWaker waker;
  reader->Open(rt, &waker);
  bool wrote = false;
  auto lines = testing::PollReader<std::string>(
      *reader, waker, [](const auto& v) { return v.size() == 5; }, std::chrono::seconds(10),
      [&](const std::vector<std::string>& seen) {
        if (!wrote && seen.size() == 2) {
          // A new file appears complete (renamed into the directory), as the option asks.
          WriteFile(dir + "/.b.tmp", "b1\nb2\nb3\n");
          fs::rename(dir + "/.b.tmp", dir + "/b.txt");
          wrote = true;
        }
      });
  EXPECT_EQ(lines, (std::vector<std::string>{"a1", "a2", "b1", "b2", "b3"}));
  // Nothing more: the reader waits for the next listing instead of ending.
  Output<std::string> out;
  ReaderOutput<std::string> reader_out(&out);
  EXPECT_EQ(reader->PollNext(reader_out), InputStatus::kNothingAvailable);
  fs::remove_all(dir);
}

TEST(FileSourceTest, RateLimitPacesRecordsPerSubtask) {
  std::string dir = (fs::path(::testing::TempDir()) / "rate_XXXXXX").string();
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  std::string text;
  for (int i = 0; i < 30; ++i) text += std::to_string(i) + "\n";
  WriteFile(dir + "/lines", text);
  FileSourceOptions opts;
  opts.records_per_second = 100;
  auto start = std::chrono::steady_clock::now();
  auto lines = RunSubtask(text_lines(dir + "/lines", opts), 0, 1);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(lines.size(), 30u);
  // 30 records at 100/s: the last is due after 290 ms.
  EXPECT_GE(took, std::chrono::milliseconds(280));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace eddy::connectors::files
