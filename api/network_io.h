// Typed glue between a chain and the network: writers that serialize a record and pick its
// channel (forward, hash by key group, rebalance, broadcast), a decoder that turns bytes
// back into records, and a fan-out for a chain whose tail feeds several edges.
// Used by one task thread; no synchronization.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/job_builder.h"
#include "api/key_hash.h"
#include "api/serde.h"

namespace eddy::internal {

template <typename T>
class NetworkWriterBase : public OperatorBase, public Output<T> {
 public:
  NetworkWriterBase(RecordChannelWriter* writer, RuntimeContext* ctx) : writer_(writer), ctx_(ctx) {}

 protected:
  std::string_view Encode(const T& value) {
    ++ctx_->records_out;
    scratch_.clear();
    Serde<T>::Write(value, &scratch_);
    return scratch_;
  }
  RecordChannelWriter* writer_;
  RuntimeContext* ctx_;
  std::string scratch_;
};

template <typename T>
class ForwardWriter final : public NetworkWriterBase<T> {
 public:
  using NetworkWriterBase<T>::NetworkWriterBase;
  void Emit(const T& value) override { this->writer_->Write(0, this->Encode(value)); }
};

template <typename T>
class RebalanceWriter final : public NetworkWriterBase<T> {
 public:
  RebalanceWriter(RecordChannelWriter* writer, RuntimeContext* ctx)
      : NetworkWriterBase<T>(writer, ctx),
        channels_(writer->num_channels()),
        next_(ctx->subtask % writer->num_channels()) {}
  void Emit(const T& value) override {
    this->writer_->Write(next_, this->Encode(value));
    if (++next_ == channels_) next_ = 0;
  }

 private:
  int channels_;
  int next_;
};

template <typename T>
class BroadcastWriter final : public NetworkWriterBase<T> {
 public:
  using NetworkWriterBase<T>::NetworkWriterBase;
  void Emit(const T& value) override { this->writer_->Broadcast(this->Encode(value)); }
};

template <typename T, typename KeyFn>
class HashWriter final : public NetworkWriterBase<T> {
 public:
  HashWriter(RecordChannelWriter* writer, RuntimeContext* ctx, KeyFn key_fn)
      : NetworkWriterBase<T>(writer, ctx), key_fn_(std::move(key_fn)),
        channels_(writer->num_channels()) {}
  void Emit(const T& value) override {
    int32_t group = KeyGroupFor(KeyHash(std::invoke(key_fn_, value)), this->ctx_->max_parallelism);
    int channel = SubtaskForKeyGroup(group, this->ctx_->max_parallelism, channels_);
    this->writer_->Write(channel, this->Encode(value));
  }

 private:
  KeyFn key_fn_;
  int channels_;
};

/// Makes the writer for a non-hash partitioning.
template <typename T>
ChainLink MakePlainWriter(job::Partitioning partitioning, RecordChannelWriter* writer,
                          RuntimeContext* ctx) {
  ChainLink link;
  Output<T>* out = nullptr;
  switch (partitioning) {
    case job::BROADCAST: {
      auto w = std::make_unique<BroadcastWriter<T>>(writer, ctx);
      out = w.get();
      link.op = std::move(w);
      break;
    }
    case job::FORWARD: {
      auto w = std::make_unique<ForwardWriter<T>>(writer, ctx);
      out = w.get();
      link.op = std::move(w);
      break;
    }
    default: {
      auto w = std::make_unique<RebalanceWriter<T>>(writer, ctx);
      out = w.get();
      link.op = std::move(w);
      break;
    }
  }
  link.input = out;
  return link;
}

template <typename T>
class Decoder final : public RecordDecoder {
 public:
  Decoder(Output<T>* out, RuntimeContext* ctx) : out_(out), ctx_(ctx) {}
  absl::Status Push(std::string_view record) override {
    ByteReader reader(record);
    if (!Serde<T>::Read(reader, &value_) || !reader.empty()) {
      return absl::DataLossError(absl::StrCat("cannot decode a record of ", record.size(),
                                              " bytes received by ", ctx_->task_name));
    }
    ++ctx_->records_in;
    out_->Emit(value_);
    return absl::OkStatus();
  }

 private:
  Output<T>* out_;
  RuntimeContext* ctx_;
  T value_{};
};

template <typename T>
class FanOut final : public OperatorBase, public Output<T> {
 public:
  explicit FanOut(std::vector<Output<T>*> outs) : outs_(std::move(outs)) {}
  void Emit(const T& value) override {
    for (auto* o : outs_) o->Emit(value);
  }

 private:
  std::vector<Output<T>*> outs_;
};

}  // namespace eddy::internal
