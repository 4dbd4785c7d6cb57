// What process functions see of their operator: the record's timestamp, the current
// watermark, processing time (with timers that run on the task thread) and side outputs.
// CoProcessFunction is the base for two-input process functions over connected streams;
// JoinContext the base of the join functions' contexts. Used by one task thread.
#pragma once

#include <functional>
#include <string>

#include "api/operator.h"

namespace eddy {

/// The context handed to process functions with each record.
class ProcessContext {
 public:
  /// Returns the current record's event timestamp (kNoTimestamp if it has none).
  EventTime timestamp() const { return timestamp_; }
  /// Returns the operator's current input watermark.
  EventTime current_watermark() const { return op_->current_watermark(); }
  /// Returns the current processing time (ms since the epoch).
  int64_t current_processing_time() const {
    return op_->runtime().processing_time->CurrentProcessingTime();
  }
  /// Runs `callback(time)` on the task thread once processing time reaches `time`.
  void register_processing_time_timer(int64_t time, std::function<void(int64_t)> callback) {
    op_->runtime().processing_time->RegisterTimer(time, std::move(callback));
  }
  ProcessingTimeService& processing_time_service() { return *op_->runtime().processing_time; }
  /// Emits `value` to the side output `tag`, with the current record's timestamp.
  template <typename U>
  void output(const OutputTag<U>& tag, const U& value) {
    OutputBase* out = op_->FindSideOutput(tag.id);
    if (out != nullptr) OutputAs<U>(out)->Collect(value, timestamp_);
  }
  const RuntimeContext& runtime() const { return op_->runtime(); }

  // Operator side.
  void Bind(StreamOperator* op) { op_ = op; }
  void set_timestamp(EventTime t) { timestamp_ = t; }

 private:
  StreamOperator* op_ = nullptr;
  EventTime timestamp_ = kNoTimestamp;
};

/// What a join function sees with each pair (Flink's ProcessJoinFunction.Context): the key
/// both records share, the timestamp of what it emits, the watermark and side outputs.
template <typename K>
class JoinContext {
 public:
  /// The key both records share.
  const K& current_key() const { return *key_; }
  /// The timestamp of what the function emits.
  EventTime timestamp() const { return timestamp_; }
  EventTime current_watermark() const { return op_->current_watermark(); }
  /// Emits `value` to the side output `tag` with the pair's timestamp.
  template <typename U>
  void output(const OutputTag<U>& tag, const U& value) {
    OutputBase* out = op_->FindSideOutput(tag.id);
    if (out != nullptr) OutputAs<U>(out)->Collect(value, timestamp_);
  }
  const RuntimeContext& runtime() const { return op_->runtime(); }

  // Operator side.
  void Bind(StreamOperator* op, const K* key) {
    op_ = op;
    key_ = key;
  }

 protected:
  void set_timestamp(EventTime t) { timestamp_ = t; }

 private:
  StreamOperator* op_ = nullptr;
  const K* key_ = nullptr;
  EventTime timestamp_ = kNoTimestamp;
};

namespace internal {

/// Calls f.open(ctx) if the function has one.
template <typename F>
void OpenFunction(F& f, RuntimeContext& ctx) {
  if constexpr (requires { f.open(ctx); }) f.open(ctx);
}
/// Calls f.close() if the function has one.
template <typename F>
void CloseFunction(F& f) {
  if constexpr (requires { f.close(); }) f.close();
}

}  // namespace internal

/// Base of a two-input process function; the operator calls the concrete type's methods
/// directly (no virtual call per record).
template <typename A, typename B, typename Out>
class CoProcessFunction {
 public:
  using output_type = Out;
  virtual ~CoProcessFunction() = default;
  virtual void process_element1(const A& value, ProcessContext& ctx, Collector<Out>& out) = 0;
  virtual void process_element2(const B& value, ProcessContext& ctx, Collector<Out>& out) = 0;
};

}  // namespace eddy
