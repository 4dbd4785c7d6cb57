// Pull-based, split-based sources (Flink's FLIP-27 shape). A SourceReader<T> owns the splits
// of one subtask (a file byte range, a generator's slice of ids) and is asked PollNext() by
// the task's mailbox loop: it emits a bounded batch and answers whether more is available
// now, nothing is available until a wake-up (rate limit, a directory being watched), or its
// input has ended. It reports which split each record comes from (ReaderOutput::ForSplit /
// ReleaseSplit), so that a source with a watermark strategy tracks watermarks per split.
// SnapshotState() returns each split's position. A reader is driven by one task thread;
// only the SourceWaker it is given may be called from other threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/operator.h"
#include "api/serde.h"
#include "api/stream_element.h"
#include "api/watermark_generator.h"
#include "common/check.h"
#include "common/ids.h"

namespace eddy {

/// What PollNext() tells the task.
enum class InputStatus {
  kMoreAvailable,     // call again soon
  kNothingAvailable,  // wait for the waker or the wake-up time
  kEndOfInput,        // a bounded reader has emitted everything
};

/// Lets a reader wake its task: from another thread (Wake), or at a time (WakeAt).
class SourceWaker {
 public:
  virtual ~SourceWaker() = default;
  /// Thread-safe: new input is available.
  virtual void Wake() = 0;
  /// Task thread: poll again no later than `when` (steady clock).
  virtual void WakeAt(std::chrono::steady_clock::time_point when) = 0;
};

/// A split of a reader, numbered by the reader itself: small dense numbers from 0 (the
/// index of a file split in the reader's list, 0 for a generator's only split).
using SplitIndex = NamedType<uint32_t, struct SplitIndexTag>;

template <typename T>
class ReaderOutput;

/// Receives the records a reader collected, one batch at a time, each with the slot of its
/// split (0: no split; split s: s + 1). Implemented by the source operator that assigns
/// timestamps and tracks watermarks per split; one virtual call per batch.
template <typename T>
class SplitRecordSink {
 public:
  virtual void ProcessSplitBatch(std::span<StreamRecord<T>> records,
                                 std::span<const uint32_t> slots) = 0;

 protected:
  ~SplitRecordSink() = default;
};

/// Emits the records of one split (ReaderOutput::ForSplit). A cheap handle: take a new
/// one per PollNext() rather than keeping it.
template <typename T>
class SplitOutput {
 public:
  void Collect(const T& value, EventTime timestamp = kNoTimestamp) {
    out_->Put(slot_, value, timestamp);
  }
  void Collect(T&& value, EventTime timestamp = kNoTimestamp) {
    out_->Put(slot_, std::move(value), timestamp);
  }

 private:
  friend class ReaderOutput<T>;
  SplitOutput(ReaderOutput<T>* out, uint32_t slot) : out_(out), slot_(slot) {}
  ReaderOutput<T>* out_;
  uint32_t slot_;
};

/// Where a reader emits: records with an optional event timestamp, either for one of its
/// splits (ForSplit; ReleaseSplit when the split is finished) or for the reader's default
/// split (Collect). When the source has no watermark strategy, records go straight into
/// the chain and splits are not tracked. With one, records are buffered per batch with
/// their split and handed to the source operator, which assigns timestamps and keeps one
/// watermark generator per split (the source emits the minimum over its active splits).
template <typename T>
class ReaderOutput {
 public:
  /// Emits straight into `out`; splits are not tracked.
  explicit ReaderOutput(Output<T>* out) : out_(out) {}
  /// Buffers up to Output<T>::kBatchSize records and hands them to `sink`; opens and releases
  /// splits in `watermarks`.
  ReaderOutput(SplitRecordSink<T>* sink, WatermarkMultiplexer* watermarks)
      : sink_(sink), watermarks_(watermarks) {
    batch_.reserve(Output<T>::kBatchSize);
    slots_.reserve(Output<T>::kBatchSize);
  }
  ReaderOutput(const ReaderOutput&) = delete;
  ReaderOutput& operator=(const ReaderOutput&) = delete;

  /// Emits a record of the default split.
  void Collect(const T& value, EventTime timestamp = kNoTimestamp) {
    Put(kDefaultSlot, value, timestamp);
  }
  void Collect(T&& value, EventTime timestamp = kNoTimestamp) {
    Put(kDefaultSlot, std::move(value), timestamp);
  }

  /// Returns the output of `split`, which becomes live (holds the watermark back) if it
  /// was not.
  SplitOutput<T> ForSplit(SplitIndex split) {
    const uint32_t slot = SlotOf(split);
    if (watermarks_ != nullptr && !watermarks_->live(slot)) [[unlikely]] {
      watermarks_->OpenSplit(slot);
    }
    return SplitOutput<T>(this, slot);
  }

  /// The split is finished: it no longer holds the watermark back. ForSplit() on it again
  /// starts it afresh.
  void ReleaseSplit(SplitIndex split) {
    if (watermarks_ == nullptr) return;
    Flush();  // its records come before the release
    watermarks_->ReleaseSplit(SlotOf(split));
  }

  /// Hands the buffered records on (the source operator calls this after each PollNext()).
  void Flush() {
    if (batch_.empty()) return;
    sink_->ProcessSplitBatch(std::span<StreamRecord<T>>(batch_.data(), batch_.size()),
                             std::span<const uint32_t>(slots_.data(), slots_.size()));
    batch_.clear();
    slots_.clear();
  }

  /// Records emitted through this output (the task's records-in counter).
  uint64_t emitted() const { return emitted_; }

 private:
  friend class SplitOutput<T>;
  static constexpr uint32_t kDefaultSlot = 0;

  static uint32_t SlotOf(SplitIndex split) {
    EDDY_CHECK_LT(split.value(), WatermarkMultiplexer::kMaxSplits) << "split numbers must be small";
    return split.value() + 1;
  }

  template <typename U>
  void Put(uint32_t slot, U&& value, EventTime timestamp) {
    ++emitted_;
    if (out_ != nullptr) {
      out_->Collect(std::forward<U>(value), timestamp);
      return;
    }
    batch_.push_back(std::forward<U>(value), timestamp);
    slots_.push_back(slot);
    if (batch_.size() == Output<T>::kBatchSize) Flush();
  }

  Output<T>* out_ = nullptr;
  SplitRecordSink<T>* sink_ = nullptr;
  WatermarkMultiplexer* watermarks_ = nullptr;
  RecordBatch<T> batch_;  // elements reused across batches
  std::vector<uint32_t> slots_;
  uint64_t emitted_ = 0;
};

/// A split's serialized position, as SnapshotState() returns it.
struct SplitState {
  std::string split_id;
  std::string position;
  /// Restored to every subtask (each distinct entry once) instead of to one: what all
  /// subtasks must know, e.g. the files a continuous source has assigned to any of them.
  bool everywhere = false;

  /// One operator-state entry: lp(split_id) + position.
  std::string Encode() const;
  /// Parses Encode()'s output; false if malformed.
  static bool Decode(std::string_view entry, SplitState* out);
};

inline std::string SplitState::Encode() const {
  std::string out;
  PutLengthPrefixed(&out, split_id);
  out += position;
  return out;
}

inline bool SplitState::Decode(std::string_view entry, SplitState* out) {
  ByteReader reader(entry);
  std::string_view id;
  if (!reader.GetLengthPrefixed(&id)) return false;
  out->split_id.assign(id);
  out->position.assign(entry.substr(reader.offset()));
  return true;
}

template <typename T>
class SourceReader {
 public:
  /// Records a reader should emit per PollNext() before returning (a unit of input).
  static constexpr int kBatchRecords = 256;

  virtual ~SourceReader() = default;
  /// Starts reading this subtask's splits (ctx.subtask of ctx.parallelism).
  virtual void Open(RuntimeContext& /*ctx*/, SourceWaker* /*waker*/) {}
  /// Emits up to about kBatchRecords records.
  virtual InputStatus PollNext(ReaderOutput<T>& output) = 0;
  /// Returns the position of every split it owns (for checkpoints), also of the splits it
  /// finished, so that a restore does not read them again.
  virtual std::vector<SplitState> SnapshotState() { return {}; }
  /// Called before Open() when the job restores a checkpoint: the splits (and positions)
  /// this subtask reads from now on, instead of the ones it would pick itself. May throw
  /// (the task fails with the message) when the reader cannot take them, e.g. a generator
  /// restored at another parallelism.
  virtual void RestoreState(std::vector<SplitState> splits) {
    if (!splits.empty()) {
      throw std::runtime_error("this source cannot restore split positions from a checkpoint");
    }
  }
  virtual void Close() {}
};

/// Checkpointing for readers that read one fixed slice per subtask (generators): the split
/// is "<kind>-<subtask>-of-<parallelism>", and a restore must hand back exactly that split,
/// since a slice cannot be divided again at another parallelism.
class SubtaskSlice {
 public:
  explicit SubtaskSlice(std::string kind) : kind_(std::move(kind)) {}
  /// From RestoreState().
  void Restore(std::vector<SplitState> splits) {
    restored_ = true;
    splits_ = std::move(splits);
  }
  /// From Open(): the restored position of this subtask's slice (nothing when the job did
  /// not restore). Throws, naming the splits, if the checkpoint does not fit.
  std::optional<std::string> Open(int subtask, int parallelism) {
    id_ = kind_ + "-" + std::to_string(subtask) + "-of-" + std::to_string(parallelism);
    if (!restored_) return std::nullopt;
    if (splits_.size() == 1 && splits_[0].split_id == id_) return splits_[0].position;
    std::string got;
    for (const auto& split : splits_) got += (got.empty() ? "" : ", ") + split.split_id;
    throw std::runtime_error("source " + kind_ + " cannot restore [" + got + "] as split " + id_ +
                             ": a generator source keeps the parallelism it was checkpointed at");
  }
  SplitState Snapshot(std::string position) const { return SplitState{id_, std::move(position)}; }

 private:
  std::string kind_;
  std::string id_;
  bool restored_ = false;
  std::vector<SplitState> splits_;
};

}  // namespace eddy
