#include "connectors/files/text_source.h"

#include "common/config.h"
#include "connectors/files/line_reader.h"
#include "tests/support/process.h"
#include "tests/support/s3rver.h"
#include "tests/support/source_runner.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <memory>
#include <random>
#include <set>
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
  text += std::string(SplitLineReader::kDefaultChunkSize + 1500000, 'L') +
          "\n";  // one line longer than a read chunk
  text += RandomText(rng, 1024 * 1024);
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

constexpr std::chrono::milliseconds kWatchInterval{20};

/// Watches `path` (continuous mode, TaskManager configuration `config`) until it has read
/// five lines, calling `add_file` once it has read two; returns the lines. Checks that the
/// reader then waits for the next listing instead of ending.
std::vector<std::string> WatchFiveLines(const std::string& path, const Config* config,
                                        const std::function<void()>& add_file) {
  FileSourceOptions opts;
  opts.monitor_interval = kWatchInterval;
  auto reader = text_lines(path, opts).factory();
  RuntimeContext rt;
  rt.config = config;
  testing::RecordingWaker waker;
  reader->Open(rt, &waker);
  bool added = false;
  auto lines = testing::PollReader<std::string>(
      *reader, waker, [](const auto& v) { return v.size() == 5; }, std::chrono::seconds(30),
      [&](const std::vector<std::string>& seen) {
        if (!added && seen.size() == 2) {
          add_file();
          added = true;
        }
      });
  Output<std::string> out;
  ReaderOutput<std::string> reader_out(&out);
  EXPECT_EQ(reader->PollNext(reader_out), InputStatus::kNothingAvailable);
  reader->Close();
  return lines;
}

// ---------------------------------------------------------------------------------------
// S3 input (s3rver), objects put with the independent client

class S3TextSourceTest : public TextSourceTest {
 protected:
  void SetUp() override {
    TextSourceTest::SetUp();
    s3_ = std::make_unique<testing::S3rver>(dir_ + "/s3", std::vector<std::string>{"input"});
    ASSERT_TRUE(s3_->running());
    config_ = s3_->MakeConfig();
  }
  void TearDown() override {
    s3_.reset();
    TextSourceTest::TearDown();
  }

  /// Writes `content` to a local file and uploads it as `key` with the independent client;
  /// returns the local file (the reference reads it).
  std::string Put(const std::string& key, const std::string& content) {
    const std::string file = dir_ + "/local-" + std::to_string(uploads_++);
    WriteFile(file, content);
    absl::StatusOr<std::string> put = s3_->Client({"put", "input", key, file});
    EXPECT_TRUE(put.ok()) << put.status();
    return file;
  }

  template <typename T>
  std::vector<T> RunAllOnS3(const SourceDef<T>& def, int parallelism) {
    std::vector<T> all;
    for (int i = 0; i < parallelism; ++i) {
      std::vector<T> part = RunSubtask(def, i, parallelism, nullptr, nullptr, &config_);
      all.insert(all.end(), part.begin(), part.end());
    }
    return all;
  }

  std::unique_ptr<testing::S3rver> s3_;
  Config config_;
  int uploads_ = 0;
};

TEST_F(S3TextSourceTest, ReadsAPrefixInNameOrderEveryLineOnceForAnyParallelism) {
  std::mt19937_64 rng(2026);
  // b.txt spans several 4 MiB read chunks and holds a line longer than one.
  std::string big = RandomText(rng, 5 * 1024 * 1024);
  big += std::string(SplitLineReader::kDefaultChunkSize + 1000, 'L') + "\n";
  big += RandomText(rng, 2 * 1024 * 1024);
  std::vector<std::string> files = {Put("day/a.txt", RandomText(rng, 20000)),
                                    Put("day/b.txt", big), Put("day/c.txt", "x\r\ny"),
                                    Put("day/d.txt", "")};
  Put("day/_SUCCESS", "must not appear\n");
  Put("day/.hidden", "must not appear\n");
  Put("day/nested/e.txt", "must not appear\n");
  const std::vector<std::string> expected = ReadLinesWithGetline(files);
  for (int p : {1, 2, 5, 16}) {
    EXPECT_EQ(RunAllOnS3(text_lines("s3://input/day"), p), expected) << "p=" << p;
  }
  // One object as input.
  EXPECT_EQ(RunAllOnS3(text_lines("s3://input/day/c.txt"), 3),
            (std::vector<std::string>{"x", "y"}));
}

TEST_F(S3TextSourceTest, CsvRowsFromS3SkipHeaders) {
  Put("csv/1.csv", "id,name\n1,\"Smith, J\"\n");
  Put("csv/2.csv", "id,name\r\n2,x\r\n");
  for (int p : {1, 4}) {
    EXPECT_EQ(RunAllOnS3(csv_rows("s3://input/csv", ',', /*skip_header=*/true), p),
              (std::vector<Row>{{"1", "Smith, J"}, {"2", "x"}}))
        << "p=" << p;
  }
}

TEST_F(S3TextSourceTest, AMissingPrefixFailsNamingIt) {
  try {
    RunAllOnS3(text_lines("s3://input/no/such/day"), 1);
    ADD_FAILURE() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("s3://input/no/such/day"), std::string::npos) << e.what();
  }
}

TEST_F(S3TextSourceTest, ContinuousModeReadsObjectsThatAppearLater) {
  Put("watch/a.txt", "a1\na2\n");
  // An S3 object appears whole.
  EXPECT_EQ(WatchFiveLines("s3://input/watch", &config_,
                           [&] { Put("watch/b.txt", "b1\nb2\nb3\n"); }),
            (std::vector<std::string>{"a1", "a2", "b1", "b2", "b3"}));
}

}  // namespace
}  // namespace eddy::connectors::files

namespace eddy::connectors::files {
namespace {

TEST(FileSourceTest, ContinuousModeReadsFilesThatAppearLater) {
  std::string dir = (fs::path(::testing::TempDir()) / "continuous_XXXXXX").string();
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  WriteFile(dir + "/a.txt", "a1\na2\n");
  FileSourceOptions watching;
  watching.monitor_interval = kWatchInterval;
  EXPECT_FALSE(text_lines(dir, watching).bounded);
  EXPECT_EQ(WatchFiveLines(dir, nullptr,
                           [&] {
                             // A new file appears complete (renamed into the directory), as
                             // the option asks.
                             WriteFile(dir + "/.b.tmp", "b1\nb2\nb3\n");
                             fs::rename(dir + "/.b.tmp", dir + "/b.txt");
                           }),
            (std::vector<std::string>{"a1", "a2", "b1", "b2", "b3"}));
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

namespace eddy::connectors::files {
namespace {

/// One subtask's reader of a source, polled by hand.
struct DrivenReader {
  std::unique_ptr<SourceReader<std::string>> reader;
  testing::RecordingWaker waker;
  testing::CollectingInput<std::string> sink;
  Output<std::string> out;
  std::unique_ptr<ReaderOutput<std::string>> reader_out;

  DrivenReader(const SourceDef<std::string>& def, int subtask, int parallelism,
               std::vector<SplitState>* restore) {
    reader = def.factory();
    if (restore != nullptr) reader->RestoreState(std::move(*restore));
    out.AddTarget(ErasedInput::Of<std::string>(&sink, &sink));
    reader_out = std::make_unique<ReaderOutput<std::string>>(&out);
    RuntimeContext rt;
    rt.subtask = subtask;
    rt.parallelism = parallelism;
    reader->Open(rt, &waker);
  }
  /// One poll; appends what it emitted to `lines`.
  InputStatus Poll(std::vector<std::string>* lines) {
    const InputStatus status = reader->PollNext(*reader_out);
    out.Flush();
    for (auto& r : sink.records) lines->push_back(std::move(r.value));
    sink.records.clear();
    return status;
  }
};

// A continuous source checkpointed at parallelism 2 and restored at 3: every subtask learns
// which files any old subtask had taken, so no file is read twice, and each unfinished one is
// resumed by exactly one subtask.
TEST(FileSourceTest, ContinuousModeRescaledReadsEveryLineOnce) {
  std::string dir = (fs::path(::testing::TempDir()) / "continuous_rescale_XXXXXX").string();
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  std::vector<std::string> expected;
  for (int f = 0; f < 12; ++f) {
    std::string text;
    for (int l = 0; l < 50; ++l) {
      const std::string line = "f" + std::to_string(f) + "-l" + std::to_string(l);
      text += line + "\n";
      expected.push_back(line);
    }
    WriteFile(dir + "/file-" + std::to_string(f) + ".txt", text);
  }
  FileSourceOptions watching;
  watching.monitor_interval = kWatchInterval;
  const SourceDef<std::string> def = text_lines(dir, watching);

  // Parallelism 2: each subtask reads a part of its files (one poll: up to a batch of lines,
  // finishing some files and stopping inside another), then the checkpoint.
  std::vector<std::string> lines;
  std::vector<SplitState> regular;
  std::set<std::string> everywhere;
  for (int subtask = 0; subtask < 2; ++subtask) {
    DrivenReader r(def, subtask, 2, nullptr);
    r.Poll(&lines);  // the first scan was at Open()
    for (SplitState& s : r.reader->SnapshotState()) {
      if (s.everywhere) {
        everywhere.insert(s.Encode());
      } else {
        regular.push_back(std::move(s));
      }
    }
  }
  ASSERT_GT(lines.size(), 0u);
  ASSERT_LT(lines.size(), expected.size());
  ASSERT_FALSE(everywhere.empty());

  // Parallelism 3, as the JobManager assigns state: the k-th split entry to subtask k % 3,
  // every distinct union entry to all.
  std::vector<std::unique_ptr<DrivenReader>> readers;
  for (int subtask = 0; subtask < 3; ++subtask) {
    std::vector<SplitState> restore;
    for (size_t k = 0; k < regular.size(); ++k) {
      if (static_cast<int>(k % 3) == subtask) restore.push_back(regular[k]);
    }
    for (const std::string& entry : everywhere) {
      SplitState s;
      ASSERT_TRUE(SplitState::Decode(entry, &s));
      s.everywhere = true;
      restore.push_back(std::move(s));
    }
    readers.push_back(std::make_unique<DrivenReader>(def, subtask, 3, &restore));
  }
  // Each restored subtask scans at its first poll; polled until every one has nothing more
  // to read (after its scan), so a file taken twice would have been read by then.
  std::vector<bool> idle(3, false);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::count(idle.begin(), idle.end(), true) < 3) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << lines.size() << " lines";
    for (int subtask = 0; subtask < 3; ++subtask) {
      if (!idle[subtask]) {
        idle[subtask] = readers[subtask]->Poll(&lines) == InputStatus::kNothingAvailable;
      }
    }
  }
  std::sort(lines.begin(), lines.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(lines, expected);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace eddy::connectors::files
