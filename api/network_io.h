// Typed glue between a chain and the network: writer operators that serialize each record
// as a stream element (tag, timestamp, value) straight into the channel's network buffer and pick its channel (forward, hash by key
// group through a table, rebalance, broadcast), forward watermarks and watermark status to
// every channel, and a decoder that turns record elements back into batches.
// Used by one task thread; no synchronization.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/job_builder.h"
#include "api/key_hash.h"
#include "api/serde.h"

namespace eddy::internal {

/// A byte sink (see Serde) over the free part of a network buffer: bytes go straight into
/// the buffer; once something does not fit, everything from `begin` on moves to `spill`
/// and the rest of the record is appended there.
class WindowSink {
 public:
  WindowSink(char* begin, char* end, std::string* spill)
      : begin_(begin), pos_(begin), end_(end), spill_(spill) {}
  void push_back(char c) {
    if (pos_ != end_) [[likely]] {
      *pos_++ = c;
      return;
    }
    Spill();
    spill_->push_back(c);
  }
  void append(const char* data, size_t n) {
    if (static_cast<size_t>(end_ - pos_) >= n) [[likely]] {
      std::memcpy(pos_, data, n);
      pos_ += n;
      return;
    }
    Spill();
    spill_->append(data, n);
  }
  template <typename Fill>
  void AppendContiguous(size_t n, Fill& fill) {
    if (static_cast<size_t>(end_ - pos_) >= n) {
      fill(pos_);
      pos_ += n;
      return;
    }
    Spill();
    const size_t start = spill_->size();
    spill_->resize(start + n);
    fill(spill_->data() + start);
  }
  /// Where the next byte goes (only while !spilled()).
  char* pos() const { return pos_; }
  void Advance(size_t n) { pos_ += n; }
  bool spilled() const { return spilled_; }

 private:
  void Spill() {
    if (spilled_) return;
    spilled_ = true;
    spill_->assign(begin_, static_cast<size_t>(pos_ - begin_));
    end_ = pos_;  // every later write takes the spill path
  }

  char* begin_;
  char* pos_;
  char* end_;
  std::string* spill_;
  bool spilled_ = false;
};

/// Serializes record elements straight into the channels' network buffers (a varint
/// length, the element header, the value); forwards watermarks and status to every channel.
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
  void OnWatermarkStatus(WatermarkStatus status) override {
    char frame[2] = {static_cast<char>(ElementTag::kWatermarkStatus), static_cast<char>(status)};
    writer_->Broadcast(std::string_view(frame, 2));
  }
  /// A latency marker goes to one channel, the next in turn (Flink picks one at random).
  void ProcessLatencyMarker(int /*input*/, const LatencyMarker& marker) override {
    char frame[element::kLatencyMarkerBytes];
    element::EncodeLatencyMarker(marker, frame);
    writer_->Write(next_marker_channel_, std::string_view(frame, sizeof(frame)));
    if (++next_marker_channel_ == writer_->num_channels()) next_marker_channel_ = 0;
  }

 protected:
  /// Writes one record element to `channel`, in place when it fits the current buffer.
  void WriteRecord(int channel, const StreamRecord<T>& record) {
    WriteWindow& w = writer_->window(channel);
    if (w.free() < kMinWindow) [[unlikely]] {
      writer_->Refill(channel);
      if (w.free() < kMinWindow) {  // cancelled, or buffers too small to write in place
        writer_->Write(channel, Encode(record));
        return;
      }
    }
    // One byte is kept for the length: enough below 128 bytes, moved up otherwise.
    WindowSink sink(w.pos + 1, w.end, &scratch_);
    sink.Advance(element::EncodeRecordHeader(record.timestamp, sink.pos()));
    Serde<T>::Write(record.value, &sink);
    if (!sink.spilled()) [[likely]] {
      const auto length = static_cast<size_t>(sink.pos() - (w.pos + 1));
      if (length < 0x80) [[likely]] {
        *w.pos = static_cast<char>(length);
        w.pos = sink.pos();
        return;
      }
      const size_t prefix = VarintLength(length);
      if (prefix - 1 <= static_cast<size_t>(w.end - sink.pos())) {
        std::memmove(w.pos + prefix, w.pos + 1, length);
        PutVarint(length, w.pos);
        w.pos += prefix + length;
        return;
      }
      scratch_.assign(w.pos + 1, length);
    }
    writer_->Write(channel, scratch_);  // spans buffers
  }
  /// Returns the element in a scratch string (for broadcast and the rare slow path).
  std::string_view Encode(const StreamRecord<T>& record) {
    scratch_.resize(9);
    scratch_.resize(element::EncodeRecordHeader(record.timestamp, scratch_.data()));
    Serde<T>::Write(record.value, &scratch_);
    return scratch_;
  }
  RecordChannelWriter* writer_;

 private:
  /// Below this many free bytes a buffer is sent on rather than started on.
  static constexpr size_t kMinWindow = 64;
  static size_t VarintLength(size_t n) {
    size_t bytes = 1;
    while (n >= 0x80) {
      n >>= 7;
      ++bytes;
    }
    return bytes;
  }
  static void PutVarint(size_t n, char* out) {
    while (n >= 0x80) {
      *out++ = static_cast<char>(n | 0x80);
      n >>= 7;
    }
    *out = static_cast<char>(n);
  }

  std::string scratch_;
  int next_marker_channel_ = 0;
};

template <typename T>
class ForwardWriter final : public NetworkWriterBase<T> {
 public:
  using NetworkWriterBase<T>::NetworkWriterBase;
  void ProcessBatch(std::span<const StreamRecord<T>> batch) override {
    this->runtime().records_out += batch.size();
    for (const auto& r : batch) this->WriteRecord(0, r);
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
      this->WriteRecord(next_, r);
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
      this->WriteRecord(channel_of_group_[static_cast<size_t>(group)], r);
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
