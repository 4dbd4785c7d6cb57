// The connectors' sources with per-split watermarks: the file source reports each byte-range
// split (each file in continuous mode) through ReaderOutput::ForSplit/ReleaseSplit, datagen
// one split per subtask; a CSV source with a timestamp extractor emits watermarks that a
// plain loop over the files predicts, and never one that a later record falls at or below.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "api/datastream.h"
#include "connectors/datagen/datagen.h"
#include "connectors/files/text_source.h"
#include "tests/support/source_runner.h"

namespace eddy::connectors {
namespace {

namespace fs = std::filesystem;
using Row = std::vector<std::string>;

/// Polls a reader through an output that tracks splits (as a source with a watermark
/// strategy does) and records each record's split slot (0: no split; split s: s + 1).
template <typename T>
struct SplitRecorder final : SplitRecordSink<T> {
  void ProcessSplitBatch(std::span<StreamRecord<T>> records,
                         std::span<const uint32_t> record_slots) override {
    for (size_t i = 0; i < records.size(); ++i) {
      values.push_back(records[i].value);
      slots.push_back(record_slots[i]);
    }
  }
  /// Polls once and hands the records on, as the source operator does.
  InputStatus Poll(SourceReader<T>& reader) {
    InputStatus status = reader.PollNext(output);
    output.Flush();
    return status;
  }
  /// Returns true if the split of `slot` is open (not yet released).
  bool live(uint32_t slot) const { return watermarks.live(slot); }

  std::vector<T> values;
  std::vector<uint32_t> slots;
  Output<T> nowhere;  // the multiplexer's watermarks go nowhere
  WatermarkMultiplexer watermarks{monotonous(), &nowhere};
  ReaderOutput<T> output{this, &watermarks};
};

class SourceWatermarksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::path(::testing::TempDir()) / "source_watermarks_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void WriteFile(const std::string& name, const std::string& content) {
    std::ofstream out(dir_ + "/" + name, std::ios::binary | std::ios::trunc);
    out << content;
    ASSERT_TRUE(out.good()) << name;
  }

  std::string dir_;
};

TEST_F(SourceWatermarksTest, FileSourceReportsEachSplitAndReleasesItAtItsEnd) {
  WriteFile("a.txt", "a1\na2\na3\n");
  WriteFile("b.txt", "b1\nb2\n");
  WriteFile("c.txt", "c1\n");
  auto reader = files::text_lines(dir_).factory();
  RuntimeContext rt;
  testing::RecordingWaker waker;
  reader->Open(rt, &waker);
  SplitRecorder<std::string> rec;
  InputStatus status;
  do {
    status = rec.Poll(*reader);
  } while (status == InputStatus::kMoreAvailable);
  ASSERT_EQ(status, InputStatus::kEndOfInput);
  EXPECT_EQ(rec.values, (std::vector<std::string>{"a1", "a2", "a3", "b1", "b2", "c1"}));
  // Split i (the i-th file here) has slot i + 1; every split is released at its end.
  EXPECT_EQ(rec.slots, (std::vector<uint32_t>{1, 1, 1, 2, 2, 3}));
  for (uint32_t slot = 0; slot <= 3; ++slot) EXPECT_FALSE(rec.live(slot)) << slot;
}

TEST_F(SourceWatermarksTest, ContinuousFileSourceMakesEachFileASplit) {
  WriteFile("a.txt", "a1\na2\n");
  files::FileSourceOptions opts;
  opts.monitor_interval = std::chrono::milliseconds(10);
  auto reader = files::text_lines(dir_, opts).factory();
  RuntimeContext rt;
  testing::RecordingWaker waker;
  reader->Open(rt, &waker);
  SplitRecorder<std::string> rec;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool wrote = false;
  while (rec.values.size() < 4 && std::chrono::steady_clock::now() < deadline) {
    if (rec.Poll(*reader) == InputStatus::kNothingAvailable) {
      std::this_thread::sleep_until(std::min(waker.wake_at, deadline));
    }
    if (!wrote && rec.values.size() == 2) {
      WriteFile(".b.tmp", "b1\nb2\n");
      fs::rename(dir_ + "/.b.tmp", dir_ + "/b.txt");
      wrote = true;
    }
  }
  EXPECT_EQ(rec.values, (std::vector<std::string>{"a1", "a2", "b1", "b2"}));
  EXPECT_EQ(rec.slots, (std::vector<uint32_t>{1, 1, 2, 2}));
  EXPECT_FALSE(rec.live(1));
  // Both files are done: the reader waits for new files with no split open.
  EXPECT_EQ(rec.Poll(*reader), InputStatus::kNothingAvailable);
  EXPECT_FALSE(rec.live(2));
}

TEST_F(SourceWatermarksTest, DatagenUsesOneSplitPerSubtaskReleasedAtTheEnd) {
  for (int subtask = 0; subtask < 2; ++subtask) {
    for (const SourceDef<int64_t>& def :
         {datagen::sequence(1, 600),
          datagen::generator<int64_t>([](int64_t i, std::mt19937_64&) { return i; },
                                      {.count = 600})}) {
      auto reader = def.factory();
      RuntimeContext rt;
      rt.subtask = subtask;
      rt.parallelism = 2;
      testing::RecordingWaker waker;
      reader->Open(rt, &waker);
      SplitRecorder<int64_t> rec;
      ASSERT_EQ(rec.Poll(*reader), InputStatus::kMoreAvailable);
      EXPECT_TRUE(rec.live(1));
      while (rec.Poll(*reader) == InputStatus::kMoreAvailable) {
      }
      EXPECT_EQ(rec.values.size(), 300u);
      EXPECT_EQ(rec.slots, std::vector<uint32_t>(300, 1)) << def.name;
      EXPECT_FALSE(rec.live(1)) << def.name;
    }
  }
}

/// The timestamp column of a CSV row.
int64_t RowTime(const Row& row) { return std::stoll(row.at(1)); }

TEST_F(SourceWatermarksTest, CsvSourceWithExtractorMatchesAPlainLoopOverTheFiles) {
  // Three files of rows "id,ts,payload", in time order across files, each row out of order
  // by at most 40 ms (less than the strategy's 50 ms).
  constexpr int64_t kDisorder = 50;
  constexpr int kFiles = 3;
  constexpr int kRowsPerFile = 1'500;
  std::mt19937_64 rng(7);
  std::vector<std::vector<int64_t>> file_times(kFiles);
  for (int f = 0; f < kFiles; ++f) {
    std::string text = "id,ts,payload\n";
    for (int i = 0; i < kRowsPerFile; ++i) {
      const int64_t ts = (f * kRowsPerFile + i) * 10 + static_cast<int64_t>(rng() % 41);
      file_times[f].push_back(ts);
      text += std::to_string(i) + "," + std::to_string(ts) + ",\"x,y\"\n";
    }
    WriteFile("part-" + std::to_string(f) + ".csv", text);
  }
  // The reference: the files read with std::getline, the ts column parsed by hand.
  std::vector<int64_t> all_times;
  std::vector<int> file_of;
  for (int f = 0; f < kFiles; ++f) {
    std::ifstream in(dir_ + "/part-" + std::to_string(f) + ".csv");
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      const size_t a = line.find(',');
      all_times.push_back(std::stoll(line.substr(a + 1, line.find(',', a + 1) - a - 1)));
      file_of.push_back(f);
    }
  }
  ASSERT_EQ(all_times.size(), size_t{kFiles * kRowsPerFile});

  for (int parallelism : {1, 3}) {
    std::vector<int64_t> times;  // over all subtasks, in subtask order
    for (int subtask = 0; subtask < parallelism; ++subtask) {
      JobBuilder job("csv", parallelism);
      auto stream = job.source(files::csv_rows(dir_, ',', /*skip_header=*/true), &RowTime,
                               bounded_out_of_orderness(std::chrono::milliseconds(kDisorder)));
      testing::SourceHarness<Row> h(job.node(stream.node_index()), subtask, parallelism);
      h.Open();
      // One poll per periodic emission; with one subtask each split is one file, so a plain
      // loop predicts every watermark: the largest time read so far in the file being read,
      // minus the bound, minus 1, whenever that exceeds the last one emitted.
      std::vector<EventTime> expected;
      InputStatus status;
      do {
        status = h.Poll();
        const size_t n = h.records().size();
        if (parallelism == 1 && status != InputStatus::kEndOfInput && n > 0) {
          int64_t max_ts = kNoTimestamp;
          for (size_t i = n; i-- > 0 && file_of[i] == file_of[n - 1];) {
            max_ts = std::max(max_ts, all_times[i]);
          }
          const EventTime wm = max_ts - kDisorder - 1;
          if (expected.empty() || wm > expected.back()) expected.push_back(wm);
        }
        h.AdvanceProcessingTime(200);
      } while (status != InputStatus::kEndOfInput);
      h.Close();
      ASSERT_FALSE(h.watermarks().empty());
      EXPECT_EQ(h.watermarks().back(), kMaxWatermark);
      if (parallelism == 1) {
        expected.push_back(kMaxWatermark);
        EXPECT_EQ(h.watermarks(), expected);
      }
      // No record ever at or below a watermark emitted before it; watermarks only rise.
      EventTime last = kMinWatermark;
      size_t r = 0;
      size_t w = 0;
      for (char c : h.trace()) {
        if (c == 'r') {
          const auto& rec = h.records()[r++];
          EXPECT_EQ(rec.timestamp, RowTime(rec.value));
          EXPECT_GT(rec.timestamp, last) << "record " << r << " of subtask " << subtask;
          times.push_back(rec.timestamp);
        } else if (c == 'w') {
          EXPECT_GT(h.watermarks()[w], last);
          last = h.watermarks()[w++];
        }
      }
      EXPECT_GT(w, 2u);  // periodic watermarks, not only the final one
    }
    EXPECT_EQ(times, all_times) << "p=" << parallelism;
  }
}

}  // namespace
}  // namespace eddy::connectors
