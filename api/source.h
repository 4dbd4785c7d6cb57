// Pull-based, split-based sources (Flink's FLIP-27 shape). A SourceReader<T> owns the splits
// of one subtask (a file byte range, a generator's slice of ids) and is asked PollNext() by
// the task's mailbox loop: it emits a bounded batch and answers whether more is available
// now, nothing is available until a wake-up (rate limit, a directory being watched), or its
// input has ended. SnapshotState() returns each split's position. A reader is driven by
// one task thread; only the SourceWaker it is given may be called from other threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/operator.h"
#include "api/stream_element.h"

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

/// Where a reader emits: records with an optional event timestamp.
template <typename T>
class ReaderOutput {
 public:
  explicit ReaderOutput(Output<T>* out) : out_(out) {}
  void Collect(const T& value, EventTime timestamp = kNoTimestamp) {
    ++emitted_;
    out_->Collect(value, timestamp);
  }
  void Collect(T&& value, EventTime timestamp = kNoTimestamp) {
    ++emitted_;
    out_->Collect(std::move(value), timestamp);
  }
  /// Records emitted through this output (the task's records-in counter).
  uint64_t emitted() const { return emitted_; }

 private:
  Output<T>* out_;
  uint64_t emitted_ = 0;
};

/// A split's serialized position, as SnapshotState() returns it.
struct SplitState {
  std::string split_id;
  std::string position;
};

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
  /// Returns the position of every split it owns (for checkpoints).
  virtual std::vector<SplitState> SnapshotState() { return {}; }
  virtual void Close() {}
};

}  // namespace eddy
