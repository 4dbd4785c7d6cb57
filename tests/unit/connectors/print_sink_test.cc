#include "connectors/print_sink.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace eddy::connectors {
namespace {

template <typename T>
void RunSink(SinkFunction<T>& sink, int subtask, const std::vector<T>& records) {
  RuntimeContext rt;
  rt.subtask = subtask;
  rt.parallelism = 4;
  sink.Open(rt);
  std::vector<StreamRecord<T>> batch;
  for (const T& r : records) batch.push_back({r, kNoTimestamp});
  sink.WriteBatch(batch);
  sink.Finish();
  sink.Close();
}

TEST(PrintSinkTest, PrintsSubtaskNumberAndPrefix) {
  auto plain = print<int>([](const int& x) { return "v" + std::to_string(x); });
  auto prefixed = print<int>([](const int& x) { return std::to_string(x); }, "out");
  ::testing::internal::CaptureStdout();
  RunSink(*plain.factory(), 0, {1, 2});
  RunSink(*prefixed.factory(), 3, {7});
  std::string printed = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(printed, "1> v1\n1> v2\nout:4> 7\n");
}

TEST(PrintSinkTest, LinesOfConcurrentSubtasksDoNotInterleave) {
  auto def = print<std::string>([](const std::string& s) { return s; });
  const std::string long_line(3000, 'z');
  ::testing::internal::CaptureStdout();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto sink = def.factory();
      RunSink(*sink, t, std::vector<std::string>(200, long_line));
    });
  }
  for (auto& th : threads) th.join();
  std::string printed = ::testing::internal::GetCapturedStdout();
  size_t lines = 0, start = 0;
  while (start < printed.size()) {
    size_t nl = printed.find('\n', start);
    ASSERT_NE(nl, std::string::npos);
    std::string line = printed.substr(start, nl - start);
    ASSERT_EQ(line.size(), 3 + long_line.size()) << "interleaved line";
    ASSERT_EQ(line.substr(3), long_line);
    ++lines;
    start = nl + 1;
  }
  EXPECT_EQ(lines, 800u);
}

TEST(PrintSinkTest, DiscardCountsAndDropsRecords) {
  auto def = discard<std::string>();
  auto sink = def.factory();
  RunSink<std::string>(*sink, 0, {"a", "b", "c"});
  EXPECT_EQ(static_cast<internal::DiscardSink<std::string>&>(*sink).count(), 3u);
}

}  // namespace
}  // namespace eddy::connectors
