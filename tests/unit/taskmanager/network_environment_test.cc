// Two NetworkEnvironments in one process, each with its own io_context thread, act as two
// TaskManagers talking over 127.0.0.1.
#include "taskmanager/network/network_environment.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstring>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "taskmanager/network/record_serializer.h"
#include "tests/support/process.h"

namespace eddy::net {
namespace {

using eddy::testing::WaitUntil;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

/// One simulated TaskManager: an io_context run by `io_threads` threads and an environment.
class TestTaskManager {
 public:
  explicit TestTaskManager(NetworkOptions options = {}, int io_threads = 1)
      : guard_(boost::asio::make_work_guard(io_)) {
    env_ = NetworkEnvironment::Create(io_, options);
    for (int i = 0; i < io_threads; ++i) threads_.emplace_back([this] { io_.run(); });
    auto port = env_->Listen("127.0.0.1", 0);
    EXPECT_TRUE(port.ok()) << port.status();
    port_ = port.ok() ? *port : 0;
  }
  ~TestTaskManager() {
    env_.reset();  // stops it
    guard_.reset();
    for (auto& t : threads_) t.join();  // every handler drains
  }

  NetworkEnvironment& env() { return *env_; }
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  /// A channel reading `id` from this TaskManager over TCP, with the job's credential (set
  /// here as a deployment would).
  ChannelSpec Remote(const PartitionId& id, int subpartition = 0) const {
    ChannelSpec spec;
    spec.partition = id;
    spec.subpartition = subpartition;
    spec.host = "127.0.0.1";
    spec.port = port_;
    spec.credential = "credential-of-" + id.job_id;
    env_->SetJobCredential(id.job_id, spec.credential);
    return spec;
  }
  static ChannelSpec Local(const PartitionId& id, int subpartition = 0) {
    ChannelSpec spec;
    spec.partition = id;
    spec.subpartition = subpartition;
    spec.local = true;
    return spec;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::unique_ptr<NetworkEnvironment> env_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
};

/// Deterministic record `index` of stream `stream`: mostly small, some up to 100 KiB.
std::string MakeRecord(uint64_t stream, uint64_t index) {
  std::mt19937_64 rng(stream * 1000003 + index);
  uint64_t r = rng() % 100;
  size_t size = r < 90 ? rng() % 257 : r < 99 ? rng() % 4097 : rng() % (100 * 1024 + 1);
  std::string s(size, '\0');
  uint64_t x = rng();
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((x >> ((i % 8) * 8)) ^ i);
  return s;
}

/// Writes `count` records of `stream` into subpartition 0, flushing now and then.
std::future<absl::Status> Produce(std::shared_ptr<ResultPartition> partition, uint64_t stream,
                                  int count) {
  return std::async(std::launch::async, [partition, stream, count]() -> absl::Status {
    RecordWriter writer(partition);
    for (int i = 0; i < count; ++i) {
      absl::Status s = writer.Write(0, MakeRecord(stream, static_cast<uint64_t>(i)));
      if (!s.ok()) return s;
      if (i % 1000 == 999) {
        s = writer.FlushAll();
        if (!s.ok()) return s;
      }
    }
    return writer.Finish();
  });
}

struct Received {
  std::vector<std::vector<std::string>> records;  // per channel
  std::vector<int> eops;
  std::vector<std::vector<std::pair<std::string, size_t>>> events;  // payload, records before
};

/// Reads the gate until finished(); checks each channel's stream ends on a record boundary.
absl::Status ConsumeAll(InputGate& gate, Received* out, seconds limit = seconds(120)) {
  const size_t n = static_cast<size_t>(gate.num_channels());
  out->records.assign(n, {});
  out->eops.assign(n, 0);
  out->events.assign(n, {});
  std::vector<RecordReader> readers(n);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!gate.finished()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError("gate did not finish in time");
    }
    auto next = gate.Next(milliseconds(500));
    if (!next.ok()) return next.status();
    if (!next->has_value()) continue;
    InputBuffer& in = **next;
    size_t c = static_cast<size_t>(in.channel);
    switch (in.buffer.kind()) {
      case BufferKind::kData: {
        readers[c].SetBuffer(std::move(in.buffer));
        std::string_view record;
        while (true) {
          auto more = readers[c].Next(&record);
          if (!more.ok()) return more.status();
          if (!*more) break;
          out->records[c].emplace_back(record);
        }
        break;
      }
      case BufferKind::kEvent:
        out->events[c].emplace_back(std::string(in.buffer.view()), out->records[c].size());
        break;
      case BufferKind::kEndOfPartition: {
        ++out->eops[c];
        absl::Status s = readers[c].Finish();
        if (!s.ok()) return s;
        break;
      }
    }
  }
  auto after = gate.Next(milliseconds(0));
  if (!after.ok()) return after.status();
  if (after->has_value()) return absl::InternalError("Next() returned data after finishing");
  return absl::OkStatus();
}

void ExpectRecords(const std::vector<std::string>& got, uint64_t stream, int count) {
  ASSERT_EQ(got.size(), static_cast<size_t>(count)) << "stream " << stream;
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(got[static_cast<size_t>(i)], MakeRecord(stream, static_cast<uint64_t>(i)))
        << "stream " << stream << " record " << i;
  }
}

/// Fills a raw buffer with its index so the consumer can check order.
void Stamp(Buffer& b, uint32_t index, size_t size) {
  std::memset(b.data(), static_cast<int>(index & 0xff), size);
  std::memcpy(b.data(), &index, sizeof(index));
  b.set_size(size);
}
uint32_t StampOf(const Buffer& b) {
  uint32_t index = 0;
  std::memcpy(&index, b.data(), sizeof(index));
  return index;
}

TEST(NetworkEnvironmentTest, RemoteChannelTransfersRecordsInOrder) {
  TestTaskManager producer, consumer;
  PartitionId id{"job-a", "edge-1", 0};
  auto partition = producer.env().CreatePartition(id, 1);
  ASSERT_TRUE(partition.ok()) << partition.status();
  auto gate = consumer.env().CreateInputGate({producer.Remote(id)});
  ASSERT_TRUE(gate.ok()) << gate.status();

  constexpr int kRecords = 12000;
  auto produced = Produce(*partition, 1, kRecords);
  Received got;
  absl::Status consumed = ConsumeAll(**gate, &got);
  ASSERT_TRUE(consumed.ok()) << consumed;
  ASSERT_EQ(produced.wait_for(seconds(60)), std::future_status::ready);
  EXPECT_TRUE(produced.get().ok());
  ExpectRecords(got.records[0], 1, kRecords);
  EXPECT_EQ(got.eops[0], 1);

  const NetworkStats& sent = producer.env().stats();
  const NetworkStats& received = consumer.env().stats();
  EXPECT_GT(sent.bytes_sent_remote.load(), 0u);
  EXPECT_EQ(sent.buffers_sent_local.load(), 0u);
  // The sender counts a frame once its write completed, which may follow the delivery.
  EXPECT_TRUE(WaitUntil(
      [&] { return sent.bytes_sent_remote.load() == received.bytes_received_remote.load(); },
      milliseconds(10000)));
  EXPECT_EQ(sent.buffers_sent_remote.load(), received.buffers_received_remote.load());
  // Consumed partitions are released; every buffer is back in its pool.
  EXPECT_TRUE(WaitUntil([&] { return !producer.env().HasPartition(id); }, milliseconds(10000)));
  partition->reset();
  gate->reset();
  EXPECT_TRUE(WaitUntil(
      [&] {
        return producer.env().pool().available() == producer.env().pool().total() &&
               consumer.env().pool().available() == consumer.env().pool().total();
      },
      milliseconds(10000)));
}

TEST(NetworkEnvironmentTest, LocalChannelHandsBuffersOverWithoutSocket) {
  TestTaskManager tm;
  PartitionId id{"job-b", "edge-1", 3};
  auto partition = tm.env().CreatePartition(id, 2);
  ASSERT_TRUE(partition.ok());
  auto gate = tm.env().CreateInputGate({TestTaskManager::Local(id, 1)});
  ASSERT_TRUE(gate.ok()) << gate.status();

  constexpr int kRecords = 5000;
  auto produced = std::async(std::launch::async, [p = *partition]() -> absl::Status {
    RecordWriter writer(p);
    for (int i = 0; i < kRecords; ++i) {
      absl::Status s = writer.Write(1, MakeRecord(2, static_cast<uint64_t>(i)));
      if (!s.ok()) return s;
      if (i == kRecords / 2) {
        s = writer.WriteEvent(1, "watermark-42");
        if (!s.ok()) return s;
      }
    }
    return writer.Finish();
  });
  Received got;
  absl::Status consumed = ConsumeAll(**gate, &got);
  ASSERT_TRUE(consumed.ok()) << consumed;
  EXPECT_TRUE(produced.get().ok());
  ExpectRecords(got.records[0], 2, kRecords);
  ASSERT_EQ(got.events[0].size(), 1u);
  EXPECT_EQ(got.events[0][0].first, "watermark-42");
  EXPECT_EQ(got.events[0][0].second, static_cast<size_t>(kRecords / 2 + 1));
  EXPECT_GT(tm.env().stats().buffers_sent_local.load(), 0u);
  EXPECT_EQ(tm.env().stats().bytes_sent_remote.load(), 0u);
  // Subpartition 0 was never read, so the partition stays registered.
  EXPECT_TRUE(tm.env().HasPartition(id));
}

TEST(NetworkEnvironmentTest, RemoteEventsArriveInOrderWithData) {
  TestTaskManager producer, consumer;
  PartitionId id{"job-ev", "edge-1", 0};
  auto partition = producer.env().CreatePartition(id, 1);
  ASSERT_TRUE(partition.ok());
  auto gate = consumer.env().CreateInputGate({producer.Remote(id)});
  ASSERT_TRUE(gate.ok());
  auto produced = std::async(std::launch::async, [p = *partition]() -> absl::Status {
    RecordWriter writer(p);
    for (int i = 0; i < 300; ++i) {
      absl::Status s = writer.Write(0, MakeRecord(9, static_cast<uint64_t>(i)));
      if (s.ok() && i % 100 == 99) s = writer.WriteEvent(0, "barrier-" + std::to_string(i));
      if (!s.ok()) return s;
    }
    return writer.Finish();
  });
  Received got;
  absl::Status consumed = ConsumeAll(**gate, &got);
  ASSERT_TRUE(consumed.ok()) << consumed;
  EXPECT_TRUE(produced.get().ok());
  ExpectRecords(got.records[0], 9, 300);
  std::vector<std::pair<std::string, size_t>> expected = {
      {"barrier-99", 100}, {"barrier-199", 200}, {"barrier-299", 300}};
  EXPECT_EQ(got.events[0], expected);
}

TEST(NetworkEnvironmentTest, GateMixesLocalAndRemoteChannels) {
  NetworkOptions options;
  TestTaskManager producer(options, /*io_threads=*/2), consumer(options, /*io_threads=*/2);
  std::vector<PartitionId> ids;
  std::vector<std::shared_ptr<ResultPartition>> partitions;
  std::vector<ChannelSpec> specs;
  for (int p = 0; p < 4; ++p) {
    PartitionId id{"job-c", "edge-1", p};
    bool local = p % 2 == 0;
    auto partition = (local ? consumer : producer).env().CreatePartition(id, 1);
    ASSERT_TRUE(partition.ok()) << partition.status();
    partitions.push_back(*partition);
    specs.push_back(local ? TestTaskManager::Local(id) : producer.Remote(id));
    ids.push_back(id);
  }
  auto gate = consumer.env().CreateInputGate(specs);
  ASSERT_TRUE(gate.ok()) << gate.status();
  EXPECT_EQ((*gate)->num_channels(), 4);

  constexpr int kRecords = 4000;
  std::vector<std::future<absl::Status>> producers;
  for (int p = 0; p < 4; ++p) producers.push_back(Produce(partitions[p], 100 + p, kRecords));
  Received got;
  absl::Status consumed = ConsumeAll(**gate, &got);
  ASSERT_TRUE(consumed.ok()) << consumed;
  EXPECT_TRUE((*gate)->finished());
  for (int p = 0; p < 4; ++p) {
    EXPECT_TRUE(producers[p].get().ok());
    ExpectRecords(got.records[p], 100 + p, kRecords);
    EXPECT_EQ(got.eops[p], 1) << "channel " << p;
  }
  // Both connections (one per producer TaskManager) carried two channels' traffic.
  EXPECT_GT(producer.env().stats().bytes_sent_remote.load(), 0u);
  EXPECT_GT(consumer.env().stats().buffers_sent_local.load(), 0u);
  EXPECT_TRUE(WaitUntil(
      [&] {
        for (const auto& id : ids) {
          if (producer.env().HasPartition(id) || consumer.env().HasPartition(id)) return false;
        }
        return true;
      },
      milliseconds(10000)));
}

TEST(NetworkEnvironmentTest, SlowRemoteConsumerBackpressuresProducer) {
  NetworkOptions options;
  options.num_buffers = 32;
  options.exclusive_buffers_per_channel = 2;
  options.extra_buffers_per_partition = 3;
  constexpr int kQuota = 1 + 3;  // subpartitions + extra
  constexpr int kCredits = 2;    // exclusive buffers of the receiving channel
  constexpr int kBound = kQuota + kCredits;
  constexpr size_t kPayload = 1000;
  TestTaskManager producer(options), consumer(options);
  const size_t total = options.num_buffers;
  PartitionId id{"job-d", "edge-1", 0};
  auto partition = producer.env().CreatePartition(id, 1);
  ASSERT_TRUE(partition.ok());
  auto gate = consumer.env().CreateInputGate({producer.Remote(id)});
  ASSERT_TRUE(gate.ok());
  EXPECT_EQ(consumer.env().pool().available(), total - kCredits);

  // The consumer does not read: the producer gets exactly kBound buffers.
  for (uint32_t i = 0; i < kBound; ++i) {
    auto b = (*partition)->RequestBufferFor(milliseconds(20000));
    ASSERT_TRUE(b.ok()) << "buffer " << i << ": " << b.status();
    Stamp(*b, i, kPayload);
    (*partition)->Add(0, std::move(*b));
  }
  const NetworkStats& received = consumer.env().stats();
  ASSERT_TRUE(WaitUntil([&] { return received.buffers_received_remote.load() == kCredits; },
                        milliseconds(10000)));
  auto blocked = (*partition)->RequestBufferFor(milliseconds(300));
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(received.buffers_received_remote.load(), static_cast<uint64_t>(kCredits));
  EXPECT_EQ(received.bytes_received_remote.load(), kCredits * (kPayload + 14));
  EXPECT_EQ(producer.env().pool().available(), total - kQuota);
  EXPECT_EQ(consumer.env().pool().available(), total - kCredits);

  // Reading resumes the flow; memory stays within the same bounds throughout.
  constexpr uint32_t kTotal = 200;
  auto produced = std::async(std::launch::async, [p = *partition]() -> absl::Status {
    for (uint32_t i = kBound; i < kTotal; ++i) {
      auto b = p->RequestBuffer();
      if (!b.ok()) return b.status();
      Stamp(*b, i, kPayload);
      p->Add(0, std::move(*b));
    }
    p->Finish();
    return absl::OkStatus();
  });
  uint32_t expected = 0;
  size_t producer_floor = total, consumer_floor = total;
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (!(*gate)->finished() && std::chrono::steady_clock::now() < deadline) {
    auto in = (*gate)->Next(milliseconds(500));
    ASSERT_TRUE(in.ok()) << in.status();
    producer_floor = std::min(producer_floor, producer.env().pool().available());
    consumer_floor = std::min(consumer_floor, consumer.env().pool().available());
    if (!in->has_value() || (*in)->buffer.kind() != BufferKind::kData) continue;
    ASSERT_EQ((*in)->buffer.size(), kPayload);
    ASSERT_EQ(StampOf((*in)->buffer), expected);
    ++expected;
  }
  EXPECT_EQ(expected, kTotal);
  EXPECT_TRUE(produced.get().ok());
  EXPECT_GE(producer_floor, total - kQuota);
  EXPECT_GE(consumer_floor, total - kCredits);
}

TEST(NetworkEnvironmentTest, SlowLocalConsumerBackpressuresProducer) {
  NetworkOptions options;
  options.num_buffers = 32;
  options.extra_buffers_per_partition = 2;
  constexpr int kQuota = 2 + 2;  // two subpartitions + extra
  TestTaskManager tm(options);
  PartitionId id{"job-d", "edge-2", 0};
  auto partition = tm.env().CreatePartition(id, 2);
  ASSERT_TRUE(partition.ok());
  auto gate = tm.env().CreateInputGate({TestTaskManager::Local(id, 0)});
  ASSERT_TRUE(gate.ok());
  for (uint32_t i = 0; i < kQuota; ++i) {
    auto b = (*partition)->RequestBufferFor(milliseconds(20000));
    ASSERT_TRUE(b.ok()) << b.status();
    Stamp(*b, i, 100);
    (*partition)->Add(0, std::move(*b));
  }
  EXPECT_EQ((*partition)->RequestBufferFor(milliseconds(200)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(tm.env().pool().available(), options.num_buffers - kQuota);

  // A buffer the consumer holds still counts; dropping it frees one.
  auto in = (*gate)->Next(seconds(20));
  ASSERT_TRUE(in.ok() && in->has_value());
  EXPECT_EQ(StampOf((*in)->buffer), 0u);
  EXPECT_EQ((*partition)->RequestBufferFor(milliseconds(200)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  (*in)->buffer.Reset();
  auto freed = (*partition)->RequestBufferFor(milliseconds(20000));
  EXPECT_TRUE(freed.ok()) << freed.status();
}

TEST(NetworkEnvironmentTest, CancelWakesBlockedProducer) {
  NetworkOptions options;
  options.extra_buffers_per_partition = 0;
  TestTaskManager tm(options);
  auto partition = tm.env().CreatePartition(PartitionId{"job-x", "e", 0}, 1);
  ASSERT_TRUE(partition.ok());
  auto held = (*partition)->RequestBuffer();
  ASSERT_TRUE(held.ok());
  auto blocked = std::async(std::launch::async, [p = *partition] { return p->RequestBuffer(); });
  (*partition)->Cancel();
  ASSERT_EQ(blocked.wait_for(seconds(30)), std::future_status::ready);
  auto result = blocked.get();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(tm.env().HasPartition(PartitionId{"job-x", "e", 0}));
}

TEST(NetworkEnvironmentTest, RequestBeforePartitionExistsIsRetried) {
  TestTaskManager producer, consumer;
  PartitionId remote_id{"job-e", "edge-1", 0};
  PartitionId local_id{"job-e", "edge-1", 1};
  auto gate = consumer.env().CreateInputGate(
      {producer.Remote(remote_id), TestTaskManager::Local(local_id)});
  ASSERT_TRUE(gate.ok()) << gate.status();
  // Both sides have answered "not found" at least once before the producers exist.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return producer.env().stats().partition_requests_not_found.load() > 0 &&
               consumer.env().stats().partition_requests_not_found.load() > 0;
      },
      milliseconds(10000)));
  auto remote = producer.env().CreatePartition(remote_id, 1);
  auto local = consumer.env().CreatePartition(local_id, 1);
  ASSERT_TRUE(remote.ok() && local.ok());
  auto p1 = Produce(*remote, 31, 500);
  auto p2 = Produce(*local, 32, 500);
  Received got;
  absl::Status consumed = ConsumeAll(**gate, &got);
  ASSERT_TRUE(consumed.ok()) << consumed;
  EXPECT_TRUE(p1.get().ok());
  EXPECT_TRUE(p2.get().ok());
  ExpectRecords(got.records[0], 31, 500);
  ExpectRecords(got.records[1], 32, 500);
}

TEST(NetworkEnvironmentTest, PartitionNeverCreatedFailsAfterTimeout) {
  NetworkOptions options;
  options.partition_request_timeout = milliseconds(300);
  TestTaskManager producer(options), consumer(options);
  PartitionId id{"job-e", "edge-9", 4};
  const auto start = std::chrono::steady_clock::now();
  auto gate = consumer.env().CreateInputGate({producer.Remote(id)});
  ASSERT_TRUE(gate.ok());
  auto next = (*gate)->Next(seconds(30));
  ASSERT_FALSE(next.ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(300));
  EXPECT_EQ(next.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(next.status().message()), HasSubstr(id.ToString()));
  EXPECT_THAT(std::string(next.status().message()), HasSubstr(producer.address()));

  auto local_gate = consumer.env().CreateInputGate({TestTaskManager::Local(id)});
  ASSERT_TRUE(local_gate.ok());
  auto local_next = (*local_gate)->Next(seconds(30));
  ASSERT_FALSE(local_next.ok());
  EXPECT_EQ(local_next.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(local_next.status().message()), HasSubstr(id.ToString()));
  EXPECT_THAT(std::string(local_next.status().message()), HasSubstr(consumer.address()));
}

TEST(NetworkEnvironmentTest, StoppedProducerFailsConsumerWithItsAddress) {
  TestTaskManager consumer;
  auto producer = std::make_unique<TestTaskManager>();
  const std::string producer_address = producer->address();
  PartitionId id{"job-f", "edge-1", 0};
  auto partition = producer->env().CreatePartition(id, 1);
  ASSERT_TRUE(partition.ok());
  auto gate = consumer.env().CreateInputGate({producer->Remote(id)});
  ASSERT_TRUE(gate.ok());
  // The producer writes until it blocks (the consumer reads only the first buffer).
  auto produced = std::async(std::launch::async, [p = *partition]() -> absl::Status {
    for (uint32_t i = 0;; ++i) {
      auto b = p->RequestBuffer();
      if (!b.ok()) return b.status();
      Stamp(*b, i, 64);
      p->Add(0, std::move(*b));
    }
  });
  auto first = (*gate)->Next(seconds(30));
  ASSERT_TRUE(first.ok() && first->has_value()) << first.status();

  producer->env().Stop();
  ASSERT_EQ(produced.wait_for(seconds(30)), std::future_status::ready);
  EXPECT_EQ(produced.get().code(), absl::StatusCode::kCancelled);
  absl::Status failure;
  const auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (failure.ok() && std::chrono::steady_clock::now() < deadline) {
    auto next = (*gate)->Next(milliseconds(500));
    if (!next.ok()) failure = next.status();
  }
  ASSERT_FALSE(failure.ok());
  EXPECT_THAT(std::string(failure.message()), HasSubstr(producer_address));
  partition->reset();
  producer.reset();
}

TEST(NetworkEnvironmentTest, LostConnectionFailsEveryChannelOnIt) {
  TestTaskManager consumer;
  auto producer = std::make_unique<TestTaskManager>();
  const std::string producer_address = producer->address();
  PartitionId a{"job-f", "edge-2", 0}, b{"job-f", "edge-2", 1};
  auto pa = producer->env().CreatePartition(a, 1);
  auto pb = producer->env().CreatePartition(b, 1);
  ASSERT_TRUE(pa.ok() && pb.ok());
  auto gate1 = consumer.env().CreateInputGate({producer->Remote(a)});
  auto gate2 = consumer.env().CreateInputGate({producer->Remote(b)});
  ASSERT_TRUE(gate1.ok() && gate2.ok());
  producer.reset();  // the whole TaskManager goes away
  for (InputGate* gate : {gate1->get(), gate2->get()}) {
    auto next = gate->Next(seconds(30));
    ASSERT_FALSE(next.ok());
    EXPECT_THAT(std::string(next.status().message()), HasSubstr(producer_address));
  }
}

int ConnectRaw(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Returns true if the peer closes `fd` within `timeout` (reading and discarding any data).
bool ClosedByPeer(int fd, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (true) {
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return true;  // EOF or reset
  }
}

TEST(NetworkEnvironmentTest, GarbageFramesCloseOnlyTheirConnection) {
  TestTaskManager producer, consumer;
  PartitionId id{"job-g", "edge-1", 0};
  auto partition = producer.env().CreatePartition(id, 1);
  ASSERT_TRUE(partition.ok());
  auto gate = consumer.env().CreateInputGate({producer.Remote(id)});
  ASSERT_TRUE(gate.ok());
  // A healthy channel is streaming before and after the bad peers.
  RecordWriter writer(*partition);
  ASSERT_TRUE(writer.Write(0, "before").ok());
  ASSERT_TRUE(writer.FlushAll().ok());
  auto first = (*gate)->Next(seconds(30));
  ASSERT_TRUE(first.ok() && first->has_value()) << first.status();

  struct Attack {
    std::string bytes;
    bool truncated;  // only end of stream reveals it
  };
  std::vector<Attack> attacks = {
      {std::string("\xff\xff\xff\xff\x0a", 5), false},                  // oversized buffer frame
      {std::string("\x00\x10\x00\x00\x01", 5), false},                  // oversized control frame
      {std::string("\x00\x00\x00\x05\x63\x00\x00\x00\x00", 9), false},  // unknown type
      {std::string("\x00\x00\x00\x00\x01", 5), false},                  // frame without a type
      {std::string("\x00\x00\x00\x03\x01\x00\x00", 7), false},          // request too short
      {std::string("\x00\x00\x00\x0e\x0a\x00\x00\x00\x01\x00\x00\x00\x00\x00zzzz", 18),
       false},                                                 // buffer from a consumer
      {std::string("\x00\x00\x00\x64\x01partial", 12), true},  // truncated request
      {std::string("\x00\x00", 2), true},                      // truncated header
  };
  std::mt19937 rng(7);
  std::string noise(3000, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  noise[4] = 0x63;  // an unknown message type, whatever the length says
  attacks.push_back({noise, false});
  for (size_t i = 0; i < attacks.size(); ++i) {
    int fd = ConnectRaw(producer.port());
    ASSERT_GE(fd, 0);
    const std::string& bytes = attacks[i].bytes;
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
    if (attacks[i].truncated) ::shutdown(fd, SHUT_WR);
    EXPECT_TRUE(ClosedByPeer(fd, milliseconds(10000))) << "attack " << i;
    ::close(fd);
  }

  // The existing channel still works...
  ASSERT_TRUE(writer.Write(0, "after").ok());
  ASSERT_TRUE(writer.Finish().ok());
  Received got;
  absl::Status consumed = ConsumeAll(**gate, &got);
  ASSERT_TRUE(consumed.ok()) << consumed;
  EXPECT_EQ(got.records[0], std::vector<std::string>{"after"});
  // ... and so do new ones.
  PartitionId id2{"job-g", "edge-1", 1};
  auto partition2 = producer.env().CreatePartition(id2, 1);
  ASSERT_TRUE(partition2.ok());
  auto gate2 = consumer.env().CreateInputGate({producer.Remote(id2)});
  ASSERT_TRUE(gate2.ok());
  auto produced = Produce(*partition2, 77, 100);
  Received got2;
  consumed = ConsumeAll(**gate2, &got2);
  ASSERT_TRUE(consumed.ok()) << consumed;
  EXPECT_TRUE(produced.get().ok());
  ExpectRecords(got2.records[0], 77, 100);
}

TEST(NetworkEnvironmentTest, PartitionRequestsWithoutTheJobsCredentialAreRefused) {
  TestTaskManager producer, stranger, consumer;
  PartitionId id{"job-s", "edge-1", 0};
  auto partition = producer.env().CreatePartition(id, 1);
  ASSERT_TRUE(partition.ok());
  const ChannelSpec deployed = producer.Remote(id);
  for (const std::string& credential : {std::string(), std::string("a-guess"),
                                        deployed.credential + "x"}) {
    ChannelSpec forged = deployed;
    forged.credential = credential;
    auto gate = stranger.env().CreateInputGate({forged});
    ASSERT_TRUE(gate.ok());
    auto next = (*gate)->Next(seconds(30));
    ASSERT_FALSE(next.ok()) << "a stranger read the partition with credential '" << credential << "'";
    EXPECT_EQ(next.status().code(), absl::StatusCode::kPermissionDenied) << next.status();
    EXPECT_THAT(std::string(next.status().message()), HasSubstr("refused"));
  }
  EXPECT_EQ(producer.env().stats().partition_requests_refused.load(), 3u);
  // A job's credential does not open another job's partitions.
  PartitionId other{"job-t", "edge-1", 0};
  auto other_partition = producer.env().CreatePartition(other, 1);
  ASSERT_TRUE(other_partition.ok());
  producer.env().SetJobCredential("job-t", "credential-of-job-t");
  ChannelSpec cross = deployed;
  cross.partition = other;
  auto cross_gate = stranger.env().CreateInputGate({cross});
  ASSERT_TRUE(cross_gate.ok());
  EXPECT_EQ((*cross_gate)->Next(seconds(30)).status().code(), absl::StatusCode::kPermissionDenied);

  // The deployed consumer is undisturbed: it reads every record.
  auto gate = consumer.env().CreateInputGate({deployed});
  ASSERT_TRUE(gate.ok());
  auto produced = Produce(*partition, 1, 500);
  Received got;
  absl::Status consumed = ConsumeAll(**gate, &got);
  ASSERT_TRUE(consumed.ok()) << consumed;
  EXPECT_TRUE(produced.get().ok());
  ExpectRecords(got.records[0], 1, 500);
}

TEST(NetworkEnvironmentTest, StalledPartialFrameTimesOut) {
  NetworkOptions options;
  options.frame_timeout = milliseconds(200);
  TestTaskManager producer(options);
  int fd = ConnectRaw(producer.port());
  ASSERT_GE(fd, 0);
  const std::string partial(
      "\x00\x00\x00\x40\x01"
      "abc",
      8);  // 3 of 63 body bytes, then silence
  ASSERT_EQ(::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL), 8);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(ClosedByPeer(fd, milliseconds(10000)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(150));
  ::close(fd);
  // An idle connection between frames is fine.
  fd = ConnectRaw(producer.port());
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(ClosedByPeer(fd, milliseconds(500)));
  ::close(fd);
}

TEST(NetworkEnvironmentTest, ReleaseJobCancelsPartitionsAndGates) {
  NetworkOptions options;
  options.partition_request_timeout = milliseconds(2000);
  TestTaskManager producer(options), consumer(options);
  PartitionId id{"job-h", "edge-1", 0};
  PartitionId other{"job-other", "edge-1", 0};
  auto partition = producer.env().CreatePartition(id, 1);
  auto kept = producer.env().CreatePartition(other, 1);
  ASSERT_TRUE(partition.ok() && kept.ok());
  auto gate = consumer.env().CreateInputGate({producer.Remote(id)});
  ASSERT_TRUE(gate.ok());
  {
    RecordWriter writer(*partition);
    ASSERT_TRUE(writer.Write(0, "first").ok());
    ASSERT_TRUE(writer.FlushAll().ok());
  }
  auto first = (*gate)->Next(seconds(30));  // the channel is being served
  ASSERT_TRUE(first.ok() && first->has_value());
  producer.env().ReleaseJob("job-h");
  EXPECT_FALSE(producer.env().HasPartition(id));
  EXPECT_TRUE(producer.env().HasPartition(other));
  EXPECT_EQ((*partition)->RequestBuffer().status().code(), absl::StatusCode::kCancelled);
  // The consumer learns it from the producer.
  auto next = (*gate)->Next(seconds(30));
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(std::string(next.status().message()), HasSubstr(producer.address()));
  EXPECT_THAT(std::string(next.status().message()), HasSubstr(id.ToString()));

  consumer.env().ReleaseJob("job-h");
  auto gate2 = consumer.env().CreateInputGate({producer.Remote(other)});
  ASSERT_TRUE(gate2.ok());
  consumer.env().ReleaseJob("job-other");
  auto cancelled = (*gate2)->Next(seconds(30));
  ASSERT_FALSE(cancelled.ok());
  EXPECT_EQ(cancelled.status().code(), absl::StatusCode::kCancelled);
}

TEST(NetworkEnvironmentTest, CreateErrors) {
  TestTaskManager tm;
  PartitionId id{"job-i", "edge-1", 0};
  ASSERT_TRUE(tm.env().CreatePartition(id, 1).ok());
  EXPECT_EQ(tm.env().CreatePartition(id, 1).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(tm.env().CreatePartition(PartitionId{"job-i", "e", 1}, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tm.env().CreateInputGate({}).status().code(), absl::StatusCode::kInvalidArgument);
  ChannelSpec no_address;
  no_address.partition = id;
  EXPECT_EQ(tm.env().CreateInputGate({no_address}).status().code(),
            absl::StatusCode::kInvalidArgument);
  tm.env().Stop();
  EXPECT_FALSE(tm.env().CreatePartition(PartitionId{"job-i", "e", 2}, 1).ok());
  EXPECT_FALSE(tm.env().CreateInputGate({TestTaskManager::Local(id)}).ok());
}

// Not a correctness test: prints the remote throughput of full 32 KiB buffers for a few
// credit settings (exclusive buffers per channel).
class NetworkThroughputTest : public ::testing::TestWithParam<int> {};

TEST_P(NetworkThroughputTest, RemoteThroughput) {
  NetworkOptions options;
  options.exclusive_buffers_per_channel = GetParam();
  TestTaskManager producer(options), consumer(options);
  PartitionId id{"job-t", "edge-1", 0};
  auto partition = producer.env().CreatePartition(id, 1);
  ASSERT_TRUE(partition.ok());
  auto gate = consumer.env().CreateInputGate({producer.Remote(id)});
  ASSERT_TRUE(gate.ok());
  constexpr int kBuffers = 4096;  // 128 MiB
  const auto start = std::chrono::steady_clock::now();
  auto produced = std::async(std::launch::async, [p = *partition]() -> absl::Status {
    for (int i = 0; i < kBuffers; ++i) {
      auto b = p->RequestBuffer();
      if (!b.ok()) return b.status();
      b->set_size(b->capacity());
      p->Add(0, std::move(*b));
    }
    p->Finish();
    return absl::OkStatus();
  });
  int got = 0;
  while (!(*gate)->finished()) {
    auto in = (*gate)->Next(seconds(30));
    ASSERT_TRUE(in.ok()) << in.status();
    ASSERT_TRUE(in->has_value());
    if ((*in)->buffer.kind() == BufferKind::kData) ++got;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(produced.get().ok());
  EXPECT_EQ(got, kBuffers);
  std::printf("remote throughput with %d credits: %.0f MiB/s (%d buffers of 32 KiB in %.3f s)\n",
              GetParam(), kBuffers * 32.0 / 1024 / secs, kBuffers, secs);
}

INSTANTIATE_TEST_SUITE_P(Credits, NetworkThroughputTest, ::testing::Values(2, 8));

// Not a correctness test: prints the end-to-end rate of 100-byte records over TCP.
TEST(NetworkEnvironmentTest, RemoteRecordRate) {
  TestTaskManager producer, consumer;
  PartitionId id{"job-t", "edge-2", 0};
  auto partition = producer.env().CreatePartition(id, 1);
  ASSERT_TRUE(partition.ok());
  auto gate = consumer.env().CreateInputGate({producer.Remote(id)});
  ASSERT_TRUE(gate.ok());
  constexpr int kRecords = 1000000;
  const std::string record(100, 'r');
  const auto start = std::chrono::steady_clock::now();
  auto produced = std::async(std::launch::async, [p = *partition, &record]() -> absl::Status {
    RecordWriter writer(p);
    for (int i = 0; i < kRecords; ++i) {
      absl::Status s = writer.Write(0, record);
      if (!s.ok()) return s;
    }
    return writer.Finish();
  });
  RecordReader reader;
  int got = 0;
  while (!(*gate)->finished()) {
    auto in = (*gate)->Next(seconds(30));
    ASSERT_TRUE(in.ok()) << in.status();
    ASSERT_TRUE(in->has_value());
    if ((*in)->buffer.kind() != BufferKind::kData) continue;
    reader.SetBuffer(std::move((*in)->buffer));
    std::string_view r;
    while (true) {
      auto more = reader.Next(&r);
      ASSERT_TRUE(more.ok());
      if (!*more) break;
      ++got;
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(produced.get().ok());
  EXPECT_EQ(got, kRecords);
  std::printf("remote record rate: %.2f M records/s of 100 B (%.3f s)\n", kRecords / secs / 1e6,
              secs);
}

}  // namespace
}  // namespace eddy::net

namespace eddy::net {
namespace {

/// Counts availability notifications.
struct CountingListener final : AvailabilityListener {
  void OnAvailable() override { ++count; }
  std::atomic<int> count{0};
};

TEST(InputGateTest, BlockedChannelIsSkippedUntilResumedAndListenerIsWoken) {
  TestTaskManager tm;
  PartitionId a{"job-b", "e", 0, 0}, b{"job-b", "e", 1, 0};
  auto pa = tm.env().CreatePartition(a, 1);
  auto pb = tm.env().CreatePartition(b, 1);
  ASSERT_TRUE(pa.ok() && pb.ok());
  auto gate = tm.env().CreateInputGate({TestTaskManager::Local(a), TestTaskManager::Local(b)});
  ASSERT_TRUE(gate.ok()) << gate.status();
  auto listener_ptr = std::make_shared<CountingListener>();
  CountingListener& listener = *listener_ptr;
  (*gate)->SetAvailabilityListener(listener_ptr);
  (*gate)->BlockChannel(0);
  RecordWriter wa(*pa), wb(*pb);
  ASSERT_TRUE(wa.Write(0, "from-a").ok());
  ASSERT_TRUE(wa.FlushAll().ok());
  ASSERT_TRUE(wb.Write(0, "from-b").ok());
  ASSERT_TRUE(wb.FlushAll().ok());
  ASSERT_TRUE(WaitUntil([&] { return listener.count.load() > 0; }, milliseconds(10000)));
  // Only channel 1 delivers while channel 0 is blocked, and nothing more after it.
  auto first = (*gate)->Next(milliseconds(5000));
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->channel, 1);
  auto none = (*gate)->Next(milliseconds(200));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  const int before = listener.count.load();
  (*gate)->ResumeChannel(0);
  EXPECT_GT(listener.count.load(), before);
  auto second = (*gate)->Next(milliseconds(5000));
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_EQ((*second)->channel, 0);
  RecordReader reader;
  reader.SetBuffer(std::move((*second)->buffer));
  std::string_view record;
  ASSERT_TRUE(*reader.Next(&record));
  EXPECT_EQ(record, "from-a");
}

TEST(ResultPartitionTest, AvailabilityFollowsTheQuotaAndReturnsWakeTheListener) {
  NetworkOptions options;
  options.extra_buffers_per_partition = 0;
  TestTaskManager tm(options);
  auto p = tm.env().CreatePartition(PartitionId{"job-q", "e", 0, 0}, 1);  // quota: 1 buffer
  ASSERT_TRUE(p.ok());
  auto listener_ptr = std::make_shared<CountingListener>();
  CountingListener& listener = *listener_ptr;
  (*p)->SetAvailabilityListener(listener_ptr);
  EXPECT_TRUE((*p)->IsAvailable());
  auto buffer = (*p)->RequestBuffer();
  ASSERT_TRUE(buffer.ok());
  EXPECT_FALSE((*p)->IsAvailable());
  buffer->Reset();  // back to the quota
  EXPECT_TRUE((*p)->IsAvailable());
  EXPECT_EQ(listener.count.load(), 1);
}

}  // namespace
}  // namespace eddy::net
