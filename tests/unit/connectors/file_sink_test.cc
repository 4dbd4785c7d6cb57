#include "connectors/files/file_sink.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/operator_harness.h"

namespace eddy::connectors::files {
namespace {

namespace fs = std::filesystem;

template <typename T>
void WriteOne(SinkFunction<T>& sink, const T& value) {
  StreamRecord<T> record{value, kNoTimestamp};
  sink.WriteBatch(std::span<const StreamRecord<T>>(&record, 1));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class FileSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "file_sink_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// Runs subtask `subtask` of a sink over `records` through its whole lifecycle.
  template <typename T>
  void RunSink(const SinkDef<T>& def, int subtask, int parallelism, const std::vector<T>& records) {
    std::unique_ptr<SinkFunction<T>> sink = def.factory();
    RuntimeContext rt;
    rt.subtask = subtask;
    rt.parallelism = parallelism;
    sink->Open(rt);
    for (const T& r : records) WriteOne(*sink, r);
    sink->Finish();
    sink->Close();
  }

  std::string dir_;
};

TEST_F(FileSinkTest, WritesOnePartFilePerSubtask) {
  std::string out = dir_ + "/out/nested";  // created on Open
  auto def = file_sink<std::pair<int, std::string>>(
      out, [](const std::pair<int, std::string>& p) { return std::to_string(p.first) + "," + p.second; });
  EXPECT_EQ(def.name, "FileSink");
  RunSink<std::pair<int, std::string>>(def, 0, 3, {{1, "a"}, {2, ""}});
  RunSink<std::pair<int, std::string>>(def, 1, 3, {});
  RunSink<std::pair<int, std::string>>(def, 2, 3, {{3, "c c"}});
  EXPECT_EQ(ReadFile(out + "/part-0"), "1,a\n2,\n");
  EXPECT_EQ(ReadFile(out + "/part-1"), "");
  EXPECT_EQ(ReadFile(out + "/part-2"), "3,c c\n");
}

TEST_F(FileSinkTest, TruncatesAndWritesMoreThanTheBuffer) {
  std::string stale(100, 'x');
  fs::create_directories(dir_);
  std::ofstream(dir_ + "/part-0") << stale << "\n";
  std::vector<std::string> lines;
  std::string expected;
  for (int i = 0; i < 40000; ++i) {  // ~2.4 MiB: several buffer flushes
    lines.push_back(std::string(static_cast<size_t>(i % 97), 'a' + static_cast<char>(i % 26)) +
                    std::to_string(i));
    expected += lines.back() + "\n";
  }
  auto def = text_sink(dir_);
  EXPECT_EQ(def.name, "TextSink");
  RunSink(def, 0, 1, lines);
  EXPECT_EQ(ReadFile(dir_ + "/part-0"), expected);
  // A second run replaces the previous output.
  RunSink<std::string>(def, 0, 1, {"only"});
  EXPECT_EQ(ReadFile(dir_ + "/part-0"), "only\n");
}

TEST_F(FileSinkTest, RolloverCommitsWhatWasWrittenEveryIntervalWhileTheStreamRuns) {
  FileSinkOptions opts;
  opts.rollover_interval = std::chrono::milliseconds(1000);
  auto def = file_sink<std::string>(dir_, [](const std::string& s) { return s; }, "Rolling", opts);
  eddy::testing::ManualProcessingTime time;
  RuntimeContext rt;
  rt.subtask = 2;
  rt.processing_time = &time;
  auto sink = def.factory();
  sink->Open(rt);
  WriteOne<std::string>(*sink, "a");
  WriteOne<std::string>(*sink, "b");
  EXPECT_FALSE(fs::exists(dir_ + "/part-2-0"));  // not yet: still in progress
  time.AdvanceTo(1000, [] {});
  EXPECT_EQ(ReadFile(dir_ + "/part-2-0"), "a\nb\n");
  time.AdvanceTo(2000, [] {});  // nothing written: nothing committed
  EXPECT_FALSE(fs::exists(dir_ + "/part-2-1"));
  WriteOne<std::string>(*sink, "c");
  time.AdvanceTo(3000, [] {});
  EXPECT_EQ(ReadFile(dir_ + "/part-2-1"), "c\n");
  WriteOne<std::string>(*sink, "d");
  sink->Finish();  // the rest is committed at the end
  sink->Close();
  EXPECT_EQ(ReadFile(dir_ + "/part-2-2"), "d\n");
  time.AdvanceTo(10'000, [] {});  // a late roll after the end does nothing
  size_t visible = 0;
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
    ++visible;
  }
  EXPECT_EQ(visible, 3u);
}

TEST_F(FileSinkTest, CloseWithoutFinishLeavesNothingVisible) {
  // A cancelled or failed attempt: its output must not look like a result.
  auto sink = text_sink(dir_).factory();
  RuntimeContext rt;
  sink->Open(rt);
  WriteOne<std::string>(*sink, "partial");
  sink->Close();
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(FileSinkTest, WriteErrorFailsNamingTheFile) {
  // A full disk: the in-progress part file is a link to /dev/full, where every write
  // fails with ENOSPC.
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  fs::create_symlink("/dev/full", dir_ + "/.part-0.inprogress.0");
  auto sink = text_sink(dir_).factory();
  RuntimeContext rt;
  sink->Open(rt);
  WriteOne<std::string>(*sink, "doomed");
  try {
    sink->Finish();
    ADD_FAILURE() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(dir_ + "/.part-0.inprogress.0"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("No space left"), std::string::npos) << e.what();
  }
  sink->Close();  // already closed: no second error
}

TEST_F(FileSinkTest, UncreatableDirectoryFailsNamingIt) {
  std::ofstream(dir_ + "/file") << "x";
  auto sink = text_sink(dir_ + "/file/sub").factory();
  RuntimeContext rt;
  try {
    sink->Open(rt);
    ADD_FAILURE() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(dir_ + "/file/sub"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace eddy::connectors::files
