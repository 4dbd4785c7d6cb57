// Connects a chain's typed network writers (api/network_io.h) to the network stack: the
// API's RecordChannelWriter over one result partition's RecordWriter. Task thread only.
#pragma once

#include <memory>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "api/job_builder.h"
#include "taskmanager/network/record_serializer.h"

namespace eddy {

/// Adapts the network RecordWriter to the API's RecordChannelWriter. A failed write
/// (only when the partition is cancelled) is remembered and later writes are dropped.
class ChannelWriter final : public RecordChannelWriter {
 public:
  explicit ChannelWriter(std::shared_ptr<net::ResultPartition> partition)
      : ChannelWriter(partition, std::make_unique<net::RecordWriter>(partition)) {}
  void Refill(int channel) override {
    if (!status_.ok()) return;
    status_ = writer_->Refill(channel);
  }
  void Write(int channel, std::string_view element) override {
    if (!status_.ok()) return;
    status_ = writer_->Write(channel, element);
  }
  void Broadcast(std::string_view element) override {
    if (!status_.ok()) return;
    status_ = writer_->Broadcast(element);
  }
  net::RecordWriter& writer() { return *writer_; }
  net::ResultPartition& partition() { return *partition_; }
  const absl::Status& status() const { return status_; }
  void Fail(absl::Status s) {
    if (status_.ok()) status_ = std::move(s);
  }

 private:
  ChannelWriter(std::shared_ptr<net::ResultPartition> partition,
                std::unique_ptr<net::RecordWriter> writer)
      : RecordChannelWriter(writer->num_channels(), writer->windows()),
        partition_(std::move(partition)),
        writer_(std::move(writer)) {}

  std::shared_ptr<net::ResultPartition> partition_;
  std::unique_ptr<net::RecordWriter> writer_;  // a pointer: the base needs its windows first
  absl::Status status_;
};

}  // namespace eddy
