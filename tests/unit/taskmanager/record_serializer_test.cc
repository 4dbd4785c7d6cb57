#include "taskmanager/network/record_serializer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/check.h"
#include "tests/support/fake_partition.h"

namespace eddy::net {
namespace {

using ::testing::HasSubstr;

/// Deterministic record `index` of stream `seed`: 0 B .. 100 KiB, mostly small.
std::string MakeRecord(uint64_t seed, uint64_t index) {
  std::mt19937_64 rng(seed * 1000003 + index);
  uint64_t bucket = rng() % 10;
  size_t size = bucket < 5 ? rng() % 64 : bucket < 8 ? rng() % 4096 : rng() % (100 * 1024 + 1);
  std::string s(size, '\0');
  uint64_t x = rng();
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((x >> ((i % 8) * 8)) ^ i);
  return s;
}

class RecordSerializerRoundTrip : public ::testing::TestWithParam<size_t> {};

TEST_P(RecordSerializerRoundTrip, RandomSizesSpanningBuffers) {
  const size_t buffer_size = GetParam();
  auto partition = std::make_shared<FakePartition>(1, buffer_size, 1 << 16);
  const int kRecords = buffer_size < 1024 ? 300 : 1500;
  RecordWriter writer(partition);
  for (int i = 0; i < kRecords; ++i) {
    std::string record = MakeRecord(buffer_size, static_cast<uint64_t>(i));
    if (buffer_size < 1024) record.resize(record.size() % 3000);  // keep tiny buffers cheap
    ASSERT_TRUE(writer.Write(0, record).ok());
    if (i % 97 == 0) {
      ASSERT_TRUE(writer.FlushAll().ok());  // partial buffers too
    }
  }
  ASSERT_TRUE(writer.Finish().ok());

  int eops = 0;
  absl::Status status;
  std::vector<std::string> got = ReadQueue(partition->queue(0), &eops, &status);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(eops, 1);
  ASSERT_EQ(got.size(), static_cast<size_t>(kRecords));
  for (int i = 0; i < kRecords; ++i) {
    std::string record = MakeRecord(buffer_size, static_cast<uint64_t>(i));
    if (buffer_size < 1024) record.resize(record.size() % 3000);
    ASSERT_EQ(got[static_cast<size_t>(i)], record) << "record " << i;
  }
  EXPECT_EQ(partition->pool().available(), partition->pool().total());
}

// 7 bytes: length prefixes straddle buffers; 32 KiB: the real size.
INSTANTIATE_TEST_SUITE_P(BufferSizes, RecordSerializerRoundTrip,
                         ::testing::Values(size_t{7}, size_t{16}, size_t{300}, kDefaultBufferSize));

TEST(RecordSerializerTest, EmptyRecordsAndExactFits) {
  auto partition = std::make_shared<FakePartition>(1, 16);
  RecordWriter writer(partition);
  // 1 prefix byte + 15 bytes fill a 16-byte buffer exactly.
  ASSERT_TRUE(writer.Write(0, std::string(15, 'a')).ok());
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(writer.Write(0, "").ok());
  ASSERT_TRUE(writer.Write(0, std::string(15, 'b')).ok());
  ASSERT_TRUE(writer.Finish().ok());
  int eops = 0;
  absl::Status status;
  auto got = ReadQueue(partition->queue(0), &eops, &status);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(got.size(), 42u);
  EXPECT_EQ(got.front(), std::string(15, 'a'));
  for (size_t i = 1; i <= 40; ++i) EXPECT_EQ(got[i], "");
  EXPECT_EQ(got.back(), std::string(15, 'b'));
}

TEST(RecordSerializerTest, RecordsInsideOneBufferAreViewsIntoIt) {
  auto partition = std::make_shared<FakePartition>(1, 1024);
  RecordWriter writer(partition);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(writer.Write(0, "record-" + std::to_string(i)).ok());
  ASSERT_TRUE(writer.FlushAll().ok());
  ASSERT_EQ(partition->queue(0).size(), 1u);
  Buffer b = std::move(partition->queue(0).front());
  partition->queue(0).pop_front();
  const char* begin = b.data();
  const char* end = b.data() + b.size();
  RecordReader reader;
  reader.SetBuffer(std::move(b));
  std::string_view record;
  for (int i = 0; i < 10; ++i) {
    auto more = reader.Next(&record);
    ASSERT_TRUE(more.ok() && *more);
    EXPECT_EQ(record, "record-" + std::to_string(i));
    EXPECT_GE(record.data(), begin);
    EXPECT_LE(record.data() + record.size(), end);
  }
  auto more = reader.Next(&record);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  EXPECT_FALSE(reader.has_partial_record());
  // The used-up buffer went back at once (its credit would be returned now).
  EXPECT_EQ(partition->pool().available(), partition->pool().total());
}

TEST(RecordSerializerTest, BroadcastAndEventsKeepOrder) {
  auto partition = std::make_shared<FakePartition>(3, 256);
  RecordWriter writer(partition);
  ASSERT_TRUE(writer.Broadcast("before").ok());
  ASSERT_TRUE(writer.BroadcastEvent("barrier-1").ok());
  ASSERT_TRUE(writer.Write(1, "after").ok());
  ASSERT_TRUE(writer.Finish().ok());
  for (int c = 0; c < 3; ++c) {
    auto& q = partition->queue(c);
    ASSERT_GE(q.size(), 3u) << "channel " << c;
    EXPECT_EQ(q[0].kind(), BufferKind::kData);
    EXPECT_EQ(q[1].kind(), BufferKind::kEvent);
    EXPECT_EQ(q[1].view(), "barrier-1");
    EXPECT_EQ(q.back().kind(), BufferKind::kEndOfPartition);
    int eops = 0;
    absl::Status status;
    auto got = ReadQueue(q, &eops, &status);
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(eops, 1);
    if (c == 1) {
      EXPECT_EQ(got, (std::vector<std::string>{"before", "after"}));
    } else {
      EXPECT_EQ(got, (std::vector<std::string>{"before"}));
    }
  }
}

TEST(RecordSerializerTest, EventLargerThanABufferIsAnError) {
  auto partition = std::make_shared<FakePartition>(1, 16);
  RecordWriter writer(partition);
  absl::Status s = writer.WriteEvent(0, std::string(17, 'x'));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(partition->pool().available(), partition->pool().total());
}

TEST(RecordSerializerTest, OldestPendingAgeTracksUnflushedBytes) {
  auto partition = std::make_shared<FakePartition>(2, 1024);
  RecordWriter writer(partition);
  EXPECT_EQ(writer.OldestPendingAge().count(), 0);
  ASSERT_TRUE(writer.Write(1, "x").ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (writer.OldestPendingAge() < std::chrono::milliseconds(2) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_GE(writer.OldestPendingAge(), std::chrono::milliseconds(2));
  EXPECT_TRUE(partition->queue(1).empty());  // not sent before a flush
  ASSERT_TRUE(writer.FlushAll().ok());
  EXPECT_EQ(writer.OldestPendingAge().count(), 0);
  ASSERT_EQ(partition->queue(1).size(), 1u);
  EXPECT_TRUE(partition->queue(0).empty());  // nothing pending there: no empty buffer sent
}

/// Returns a data buffer holding `bytes`.
Buffer DataBuffer(BufferPool& pool, std::string_view bytes) {
  Buffer b = pool.TryRequest();
  EDDY_CHECK(b && bytes.size() <= b.capacity());
  std::memcpy(b.data(), bytes.data(), bytes.size());
  b.set_size(bytes.size());
  return b;
}

TEST(RecordSerializerTest, LengthBeyondLimitIsAnError) {
  BufferPool pool(4, 64);
  // varint(2^31) = 80 80 80 80 08
  RecordReader reader;
  reader.SetBuffer(DataBuffer(pool, std::string("\x80\x80\x80\x80\x08zzzz", 9)));
  std::string_view record;
  auto r = reader.Next(&record);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("exceeds the limit"));
  // Sticky, and the buffer was let go.
  EXPECT_FALSE(reader.Next(&record).ok());
  EXPECT_EQ(pool.available(), pool.total());
}

TEST(RecordSerializerTest, OverlongLengthPrefixIsAnErrorAcrossBuffers) {
  BufferPool pool(4, 64);
  RecordReader reader;
  std::string_view record;
  reader.SetBuffer(DataBuffer(pool, "\xff\xff\xff"));
  auto r = reader.Next(&record);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_TRUE(reader.has_partial_record());
  reader.SetBuffer(DataBuffer(pool, "\xff\xff\xff"));
  r = reader.Next(&record);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("prefix too long"));
}

TEST(RecordSerializerTest, StreamEndingInsideARecordIsDetected) {
  auto partition = std::make_shared<FakePartition>(1, 64);
  RecordWriter writer(partition);
  ASSERT_TRUE(writer.Write(0, std::string(500, 'r')).ok());
  ASSERT_TRUE(writer.Finish().ok());
  auto& q = partition->queue(0);
  ASSERT_GT(q.size(), 3u);
  q.erase(q.end() - 2);  // lose the last data buffer before end-of-partition
  int eops = 0;
  absl::Status status;
  auto got = ReadQueue(q, &eops, &status);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("ended inside a record"));
}

TEST(RecordSerializerTest, RandomGarbageGivesErrorsNotCrashes) {
  BufferPool pool(8, kDefaultBufferSize);
  int errors = 0;
  int truncated = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    std::mt19937_64 rng(seed);
    RecordReader reader;
    std::string_view record;
    absl::Status status;
    const int buffers = 1 + static_cast<int>(rng() % 3);
    for (int b = 0; b < buffers && status.ok(); ++b) {
      std::string garbage(1 + rng() % kDefaultBufferSize, '\0');
      for (char& c : garbage) c = static_cast<char>(rng());
      reader.SetBuffer(DataBuffer(pool, garbage));
      while (true) {
        auto more = reader.Next(&record);
        if (!more.ok()) {
          status = more.status();
          break;
        }
        if (!*more) break;
        ASSERT_LE(record.size(), kMaxRecordBytes);
      }
    }
    if (!status.ok()) {
      EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
      ++errors;
    } else if (!reader.Finish().ok()) {
      ++truncated;
    }
    ASSERT_EQ(pool.available(), pool.total());
  }
  // Random bytes announce huge records: nearly every stream is rejected one way or the other.
  EXPECT_GT(errors, 0);
  EXPECT_GT(errors + truncated, 190);
}

TEST(RecordSerializerTest, RoundTripThroughLocalPartitionAndGate) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });
  {
    NetworkOptions options;
    options.num_buffers = 64;
    auto env = NetworkEnvironment::Create(io, options);
    PartitionId id{"job-rs", "edge-1", 0};
    auto partition = env->CreatePartition(id, 1);
    ASSERT_TRUE(partition.ok()) << partition.status();
    ChannelSpec spec;
    spec.partition = id;
    spec.local = true;
    auto gate = env->CreateInputGate({spec});
    ASSERT_TRUE(gate.ok()) << gate.status();

    constexpr int kRecords = 3000;
    absl::Status produced;
    std::thread producer([&] {
      RecordWriter writer(*partition);
      for (int i = 0; i < kRecords && produced.ok(); ++i)
        produced = writer.Write(0, MakeRecord(7, i));
      if (produced.ok()) produced = writer.Finish();
    });
    RecordReader reader;
    int next = 0;
    bool ended = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!(*gate)->finished() && std::chrono::steady_clock::now() < deadline) {
      auto in = (*gate)->Next(std::chrono::milliseconds(1000));
      ASSERT_TRUE(in.ok()) << in.status();
      if (!in->has_value()) continue;
      if ((*in)->buffer.kind() == BufferKind::kEndOfPartition) {
        ended = true;
        EXPECT_TRUE(reader.Finish().ok());
        continue;
      }
      reader.SetBuffer(std::move((*in)->buffer));
      std::string_view record;
      while (true) {
        auto more = reader.Next(&record);
        ASSERT_TRUE(more.ok()) << more.status();
        if (!*more) break;
        ASSERT_LT(next, kRecords);
        ASSERT_EQ(record, MakeRecord(7, next)) << "record " << next;
        ++next;
      }
    }
    producer.join();
    EXPECT_TRUE(produced.ok()) << produced;
    EXPECT_TRUE(ended);
    EXPECT_EQ(next, kRecords);
    EXPECT_TRUE((*gate)->finished());
  }
  guard.reset();
  io_thread.join();
}

TEST(RecordSerializerTest, GarbageDataBufferThroughAGateIsAnError) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });
  {
    auto env = NetworkEnvironment::Create(io, NetworkOptions{});
    PartitionId id{"job-rs", "edge-2", 0};
    auto partition = env->CreatePartition(id, 1);
    ASSERT_TRUE(partition.ok());
    auto b = (*partition)->RequestBuffer();
    ASSERT_TRUE(b.ok());
    std::memset(b->data(), 0xff, b->capacity());  // an endless length prefix
    b->set_size(b->capacity());
    (*partition)->Add(0, std::move(*b));
    ChannelSpec spec;
    spec.partition = id;
    spec.local = true;
    auto gate = env->CreateInputGate({spec});
    ASSERT_TRUE(gate.ok());
    auto in = (*gate)->Next(std::chrono::seconds(30));
    ASSERT_TRUE(in.ok() && in->has_value());
    RecordReader reader;
    reader.SetBuffer(std::move((*in)->buffer));
    std::string_view record;
    auto more = reader.Next(&record);
    EXPECT_FALSE(more.ok());
  }
  guard.reset();
  io_thread.join();
}

}  // namespace
}  // namespace eddy::net

namespace eddy::net {
namespace {

TEST(RecordSerializerTest, RetainedBufferKeepsViewsValidUntilDropped) {
  // 16-byte buffers: "aaaaaaaaaa" (1 + 10 bytes) fits, then "bbbbbbbbbb" starts in the same
  // buffer (length prefix and 4 bytes) and spans into the next.
  auto partition = std::make_shared<FakePartition>(1, 16, 4);
  RecordWriter writer(partition);
  ASSERT_TRUE(writer.Write(0, "aaaaaaaaaa").ok());
  ASSERT_TRUE(writer.Write(0, "bbbbbbbbbb").ok());
  ASSERT_TRUE(writer.FlushAll().ok());
  auto& queue = partition->queue(0);
  ASSERT_EQ(queue.size(), 2u);
  RecordReader reader;
  reader.set_retain_used_buffer(true);
  reader.SetBuffer(std::move(queue.front()));
  queue.pop_front();
  std::string_view first;
  ASSERT_TRUE(*reader.Next(&first));
  const size_t free_before = partition->pool().available();
  std::string_view ignored;
  ASSERT_FALSE(*reader.Next(&ignored));  // used up: the second record spans
  // The used-up buffer is still held, so `first` still points at its bytes.
  EXPECT_EQ(partition->pool().available(), free_before);
  EXPECT_EQ(first, "aaaaaaaaaa");
  reader.DropUsedBuffer();
  EXPECT_EQ(partition->pool().available(), free_before + 1);
  reader.SetBuffer(std::move(queue.front()));
  queue.pop_front();
  std::string_view second;
  ASSERT_TRUE(*reader.Next(&second));
  EXPECT_EQ(second, "bbbbbbbbbb");
}

}  // namespace
}  // namespace eddy::net
