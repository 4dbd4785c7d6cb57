// Test doubles for the network's writer side: a ResultPartition that keeps what it is
// given per subpartition, and a helper that reads the records back out of its buffers.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "taskmanager/network/record_serializer.h"

namespace eddy::net {

/// A ResultPartition that just collects what it is given, per subpartition.
class FakePartition final : public ResultPartition {
 public:
  FakePartition(int subpartitions, size_t buffer_size, size_t num_buffers = 4096)
      : pool_(num_buffers, buffer_size), queues_(static_cast<size_t>(subpartitions)) {}
  const PartitionId& id() const override { return id_; }
  int num_subpartitions() const override { return static_cast<int>(queues_.size()); }
  absl::StatusOr<Buffer> RequestBuffer() override {
    return RequestBufferFor(std::chrono::milliseconds(1000));
  }
  absl::StatusOr<Buffer> RequestBufferFor(std::chrono::milliseconds timeout) override {
    Buffer b = pool_.Request(timeout);
    if (!b) return absl::DeadlineExceededError("fake pool exhausted");
    return b;
  }
  void Add(int subpartition, Buffer buffer) override {
    queues_[static_cast<size_t>(subpartition)].push_back(std::move(buffer));
  }
  void Finish() override {
    for (auto& q : queues_) q.push_back(Buffer::EndOfPartition());
  }
  void Cancel() override {}
  bool IsAvailable() const override { return true; }
  void SetAvailabilityListener(std::shared_ptr<AvailabilityListener>) override {}

  std::deque<Buffer>& queue(int subpartition) { return queues_[static_cast<size_t>(subpartition)]; }
  BufferPool& pool() { return pool_; }

 private:
  PartitionId id_{"job", "edge", 0};
  BufferPool pool_;
  std::vector<std::deque<Buffer>> queues_;
};

/// Feeds every data buffer of `queue` through a reader; returns the records.
inline std::vector<std::string> ReadQueue(std::deque<Buffer>& queue, int* eops,
                                          absl::Status* status) {
  std::vector<std::string> out;
  RecordReader reader;
  *eops = 0;
  while (!queue.empty()) {
    Buffer b = std::move(queue.front());
    queue.pop_front();
    if (b.kind() == BufferKind::kEndOfPartition) {
      ++*eops;
      *status = reader.Finish();
      continue;
    }
    if (b.kind() != BufferKind::kData) continue;
    reader.SetBuffer(std::move(b));
    std::string_view record;
    while (true) {
      auto more = reader.Next(&record);
      if (!more.ok()) {
        *status = more.status();
        return out;
      }
      if (!*more) break;
      out.emplace_back(record);
    }
  }
  return out;
}

}  // namespace eddy::net
