// The typed network writers (api/network_io.h) serialize records straight into network
// buffers through the TaskManager's ChannelWriter. Every record must come back out of the
// buffers exactly, whatever its size relative to the free part of the buffer: in place
// (length below 128, or above with the body moved up), spilled half way, or written
// through the spanning slow path when buffers are smaller than a record or than the
// in-place minimum.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "api/key_hash.h"
#include "api/network_io.h"
#include "api/serde.h"
#include "api/stream_element.h"
#include "common/proto/job.pb.h"
#include "taskmanager/channel_writer.h"
#include "tests/support/fake_partition.h"

namespace eddy {
namespace {

struct Reading {
  int64_t sensor = 0;
  std::string site;
  std::vector<int64_t> samples;
  bool operator==(const Reading&) const = default;
};
EDDY_FIELDS(Reading, sensor, site, samples);

/// Record `i`: sizes from a few bytes to several KiB, so some fit in place, some need the
/// length prefix moved up and some spill; every third has no timestamp.
StreamRecord<Reading> MakeReading(std::mt19937_64& rng, int64_t i) {
  StreamRecord<Reading> r;
  r.value.sensor = static_cast<int64_t>(rng() % 1000) - 500;
  const size_t bucket = rng() % 10;
  const size_t site = bucket < 6 ? rng() % 100 : bucket < 9 ? 100 + rng() % 400 : rng() % 6000;
  r.value.site.assign(site, static_cast<char>('a' + i % 26));
  r.value.samples.resize(rng() % 8);
  for (auto& s : r.value.samples) s = static_cast<int64_t>(rng());
  r.timestamp = i % 3 == 0 ? kNoTimestamp : 1'000'000 + i;
  return r;
}

/// Decodes the record elements a channel received.
std::vector<StreamRecord<Reading>> Decode(const std::vector<std::string>& elements) {
  std::vector<StreamRecord<Reading>> out;
  for (const std::string& e : elements) {
    element::ElementView view;
    EXPECT_TRUE(element::DecodeElement(e, &view)) << "bad element of " << e.size() << " bytes";
    EXPECT_TRUE(view.tag == ElementTag::kRecord || view.tag == ElementTag::kTimestampedRecord);
    StreamRecord<Reading> r;
    r.timestamp = view.time;
    const absl::Status s = Deserialize(view.payload, &r.value);
    EXPECT_TRUE(s.ok()) << s;
    out.push_back(std::move(r));
  }
  return out;
}

void ExpectSame(const std::vector<StreamRecord<Reading>>& got,
                const std::vector<StreamRecord<Reading>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i].value, want[i].value) << "record " << i;
    ASSERT_EQ(got[i].timestamp, want[i].timestamp) << "record " << i;
  }
}

class NetworkWriterTest : public ::testing::TestWithParam<size_t> {
 protected:
  /// Enough buffers of the parameter's size for 8 MiB, none recycled.
  size_t Buffers() const { return ((size_t{8} << 20) / GetParam()) + 64; }
};

TEST_P(NetworkWriterTest, HashWriterRecordsComeBackExactlyOnTheirKeyGroupsChannel) {
  constexpr int kChannels = 3;
  constexpr int kMaxParallelism = 128;
  auto partition = std::make_shared<net::FakePartition>(kChannels, GetParam(), Buffers());
  ChannelWriter channels(partition);
  RuntimeContext ctx;
  auto key = [](const Reading& r) { return r.sensor; };
  internal::HashWriter<Reading, decltype(key)> writer(&channels, kMaxParallelism, key);
  writer.Setup(&ctx);

  std::mt19937_64 rng(GetParam());
  std::map<int, std::vector<StreamRecord<Reading>>> want;  // the plain loop's routing
  std::vector<StreamRecord<Reading>> batch;
  for (int64_t i = 0; i < 3000; ++i) {
    batch.push_back(MakeReading(rng, i));
    const int32_t group = KeyGroupFor(KeyHash(batch.back().value.sensor), kMaxParallelism);
    want[SubtaskForKeyGroup(group, kMaxParallelism, kChannels)].push_back(batch.back());
    if (batch.size() == 100) {
      writer.ProcessBatch(batch);
      batch.clear();
    }
    if (i % 1000 == 999) {
      ASSERT_TRUE(channels.writer().FlushAll().ok());  // partial buffers
    }
  }
  writer.ProcessBatch(batch);
  ASSERT_TRUE(channels.status().ok()) << channels.status();
  ASSERT_TRUE(channels.writer().Finish().ok());
  EXPECT_EQ(ctx.records_out, 3000u);

  for (int c = 0; c < kChannels; ++c) {
    int eops = 0;
    absl::Status status;
    auto elements = net::ReadQueue(partition->queue(c), &eops, &status);
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(eops, 1);
    ExpectSame(Decode(elements), want[c]);
  }
}

TEST_P(NetworkWriterTest, ProtobufRecordsAreWrittenInPlaceToo) {
  auto partition = std::make_shared<net::FakePartition>(1, GetParam(), Buffers());
  ChannelWriter channels(partition);
  RuntimeContext ctx;
  internal::ForwardWriter<job::OperatorDef> writer(&channels);
  writer.Setup(&ctx);
  std::vector<StreamRecord<job::OperatorDef>> batch(400);
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i].value.set_id("op-" + std::to_string(i));
    batch[i].value.set_name(std::string(i * 7 % 900, 'n'));
    batch[i].timestamp = static_cast<EventTime>(i);
  }
  writer.ProcessBatch(batch);
  ASSERT_TRUE(channels.writer().Finish().ok());
  int eops = 0;
  absl::Status status;
  auto elements = net::ReadQueue(partition->queue(0), &eops, &status);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(elements.size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    element::ElementView view;
    ASSERT_TRUE(element::DecodeElement(elements[i], &view));
    EXPECT_EQ(view.time, static_cast<EventTime>(i));
    job::OperatorDef got;
    ASSERT_TRUE(Deserialize(view.payload, &got).ok());
    EXPECT_EQ(got.id(), batch[i].value.id());
    EXPECT_EQ(got.name(), batch[i].value.name());
  }
}

// 32 bytes: below the in-place minimum, every record takes the slow path; 200 and 1024:
// records spill and span; 32 KiB: the default.
INSTANTIATE_TEST_SUITE_P(BufferSizes, NetworkWriterTest, ::testing::Values(32, 200, 1024, 32768));

TEST(NetworkWriterTest, LatencyMarkersGoToOneChannelInTurnInOrderWithRecords) {
  constexpr int kChannels = 3;
  auto partition = std::make_shared<net::FakePartition>(kChannels, 1024);
  ChannelWriter channels(partition);
  RuntimeContext ctx;
  auto key = [](const int64_t& v) { return v; };
  internal::HashWriter<int64_t, decltype(key)> writer(&channels, 128, key);
  writer.Setup(&ctx);
  std::vector<StreamRecord<int64_t>> batch;
  for (int64_t i = 0; i < 30; ++i) batch.push_back({i});
  for (int m = 0; m < 4; ++m) {
    writer.ProcessBatch(batch);
    writer.ProcessLatencyMarker(0, LatencyMarker{1000 + m, 4, 2});
  }
  ASSERT_TRUE(channels.writer().Finish().ok());
  std::vector<int64_t> marker_times(kChannels, 0);
  for (int c = 0; c < kChannels; ++c) {
    int eops = 0;
    absl::Status status;
    auto elements = net::ReadQueue(partition->queue(c), &eops, &status);
    ASSERT_TRUE(status.ok()) << status;
    std::vector<int64_t> markers;
    for (const std::string& e : elements) {
      element::ElementView view;
      ASSERT_TRUE(element::DecodeElement(e, &view));
      if (view.tag != ElementTag::kLatencyMarker) continue;
      EXPECT_EQ(view.source, 4);
      EXPECT_EQ(view.subtask, 2);
      markers.push_back(view.time);
    }
    // Channel c gets markers c, c+3, ...: 1000+c first.
    ASSERT_FALSE(markers.empty()) << "channel " << c;
    EXPECT_EQ(markers.front(), 1000 + c);
    EXPECT_EQ(markers.size(), c == 0 ? 2u : 1u);
  }
}

TEST(NetworkWriterTest, CancelledPartitionDropsRecordsAndReportsOnce) {
  // Two buffers only: once both are sent (and never recycled), Refill cannot get a third
  // and the fake pool times out, as a cancelled partition's request fails.
  auto partition = std::make_shared<net::FakePartition>(1, 1024, 2);
  ChannelWriter channels(partition);
  RuntimeContext ctx;
  internal::ForwardWriter<std::string> writer(&channels);
  writer.Setup(&ctx);
  std::vector<StreamRecord<std::string>> batch(10, StreamRecord<std::string>{std::string(500, 'x')});
  writer.ProcessBatch(batch);
  EXPECT_FALSE(channels.status().ok());
  writer.ProcessBatch(batch);  // dropped, no crash
  EXPECT_FALSE(channels.status().ok());
}

}  // namespace
}  // namespace eddy
