// Typed glue between a chain and the network: writer operators that serialize each record
// as a stream element (tag, timestamp, value) and pick its channel (forward, hash by key
// group through a table, rebalance, broadcast), forward watermarks and watermark status to
// every channel, and a decoder that turns record elements back into batches.
// Used by one task thread; no synchronization.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/job_builder.h"
#include "api/key_hash.h"
#include "api/serde.h"

namespace eddy::internal {

/// Serializes elements into a reused scratch string and writes them to a channel writer.
template <typename T>
class NetworkWriterBase : public OneInputStreamOperator<T> {
 public:
  explicit NetworkWriterBase(RecordChannelWriter* writer) : writer_(writer) {}

  void OnWatermark(EventTime watermark) override {
    char frame[9];
    frame[0] = static_cast<char>(ElementTag::kWatermark);
    element::PutFixed64(frame + 1, watermark);
    writer_->Broadcast(std::string_view(frame, 9));
  }
  void ProcessWatermarkStatus(int input, WatermarkStatus status) override {
    const bool was_idle = idle_;
    idle_ = status == WatermarkStatus::kIdle;
    if (idle_ != was_idle) {
      char frame[2] = {static_cast<char>(ElementTag::kWatermarkStatus),
                       static_cast<char>(status)};
      writer_->Broadcast(std::string_view(frame, 2));
    }
    if (!idle_) StreamOperator::ProcessWatermarkStatus(input, status);
  }

 protected:
  std::string_view Encode(const StreamRecord<T>& record) {
    scratch_.resize(9);
    scratch_.resize(element::EncodeRecordHeader(record.timestamp, scratch_.data()));
    Serde<T>::Write(record.value, &scratch_);
    return scratch_;
  }
  RecordChannelWriter* writer_;

 private:
  std::string scratch_;
  bool idle_ = false;
};

template <typename T>
class ForwardWriter final : public NetworkWriterBase<T> {
 public:
  using NetworkWriterBase<T>::NetworkWriterBase;
  void ProcessBatch(std::span<const StreamRecord<T>> batch) override {
    this->runtime().records_out += batch.size();
    for (const auto& r : batch) this->writer_->Write(0, this->Encode(r));
  }
};

template <typename T>
class RebalanceWriter final : public NetworkWriterBase<T> {
 public:
  RebalanceWriter(RecordChannelWriter* writer, int subtask)
      : NetworkWriterBase<T>(writer),
        channels_(writer->num_channels()),
        next_(subtask % writer->num_channels()) {}
  void ProcessBatch(std::span<const StreamRecord<T>> batch) override {
    this->runtime().records_out += batch.size();
    for (const auto& r : batch) {
      this->writer_->Write(next_, this->Encode(r));
      if (++next_ == channels_) next_ = 0;
    }
  }

 private:
  int channels_;
  int next_;
};

template <typename T>
class BroadcastWriter final : public NetworkWriterBase<T> {
 public:
  using NetworkWriterBase<T>::NetworkWriterBase;
  void ProcessBatch(std::span<const StreamRecord<T>> batch) override {
    this->runtime().records_out += batch.size();
    for (const auto& r : batch) this->writer_->Broadcast(this->Encode(r));
  }
};

/// Routes each record by its key's key group; key group → channel is a table lookup.
template <typename T, typename KeyFn>
class HashWriter final : public NetworkWriterBase<T> {
 public:
  HashWriter(RecordChannelWriter* writer, int max_parallelism, KeyFn key_fn)
      : NetworkWriterBase<T>(writer), key_fn_(std::move(key_fn)), max_parallelism_(max_parallelism) {
    const int channels = writer->num_channels();
    channel_of_group_.resize(static_cast<size_t>(max_parallelism));
    for (int g = 0; g < max_parallelism; ++g) {
      channel_of_group_[static_cast<size_t>(g)] = SubtaskForKeyGroup(g, max_parallelism, channels);
    }
  }
  void ProcessBatch(std::span<const StreamRecord<T>> batch) override {
    this->runtime().records_out += batch.size();
    for (const auto& r : batch) {
      int32_t group = KeyGroupFor(KeyHash(std::invoke(key_fn_, r.value)), max_parallelism_);
      this->writer_->Write(channel_of_group_[static_cast<size_t>(group)], this->Encode(r));
    }
  }

 private:
  KeyFn key_fn_;
  int max_parallelism_;
  std::vector<int> channel_of_group_;
};

/// Makes the writer for a non-hash partitioning.
template <typename T>
std::unique_ptr<StreamOperator> MakePlainWriter(job::Partitioning partitioning,
                                                RecordChannelWriter* writer, RuntimeContext* ctx,
                                                ErasedInput* input) {
  std::unique_ptr<NetworkWriterBase<T>> w;
  switch (partitioning) {
    case job::BROADCAST:
      w = std::make_unique<BroadcastWriter<T>>(writer);
      break;
    case job::FORWARD:
      w = std::make_unique<ForwardWriter<T>>(writer);
      break;
    default:
      w = std::make_unique<RebalanceWriter<T>>(writer, ctx->subtask);
      break;
  }
  *input = ErasedInput::Of<T>(w.get(), w.get());
  return w;
}

/// Decodes record elements of type T into batches for one operator input.
template <typename T>
class Decoder final : public ElementDecoder {
 public:
  Decoder(ErasedInput target, RuntimeContext* ctx)
      : input_(target.As<T>()), op_(target.op), ctx_(ctx) {}
  absl::Status DecodeBatch(std::span<const element::ElementView> records) override {
    if (batch_.size() < records.size()) batch_.resize(records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      ByteReader reader(records[i].payload);
      if (!Serde<T>::Read(reader, &batch_[i].value) || !reader.empty()) {
        return absl::DataLossError(absl::StrCat("cannot decode a record of ",
                                                records[i].payload.size(), " bytes received by ",
                                                ctx_->task_name));
      }
      batch_[i].timestamp = records[i].time;
    }
    ctx_->records_in += records.size();
    input_->ProcessBatch(std::span<const StreamRecord<T>>(batch_.data(), records.size()));
    op_->FlushOutputs();
    return absl::OkStatus();
  }

 private:
  Input<T>* input_;
  StreamOperator* op_;
  RuntimeContext* ctx_;
  std::vector<StreamRecord<T>> batch_;  // values reused across batches
};

}  // namespace eddy::internal
