// The operator contract (v2) between operators and the TaskManager: StreamOperator (the
// lifecycle every operator shares), typed inputs fed by batches of StreamRecord<T> (one
// virtual call per batch, not per record), Output<T> (batches records for the operators or
// network writers behind it, forwards watermarks in order), side outputs by OutputTag, the
// processing-time service, and sinks. One task thread drives every operator of a chain;
// nothing here is thread-safe except RuntimeContext::cancelled().
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "api/latency_stats.h"
#include "api/state.h"
#include "api/stream_element.h"
#include "api/watermark_valve.h"
#include "common/check.h"

namespace eddy {

class Config;
class JobArgs;
class KeyedStateBackendFactory;

/// Runs callbacks on the task thread at a processing time (ms since the epoch, wall clock).
/// Implemented by the task's mailbox; tests drive it by hand.
class ProcessingTimeService {
 public:
  virtual ~ProcessingTimeService() = default;
  /// Returns the current processing time in ms since the epoch.
  virtual int64_t CurrentProcessingTime() const = 0;
  /// Runs `callback(time)` once, on the task thread, as soon as the clock reaches `time`.
  virtual void RegisterTimer(int64_t time, std::function<void(int64_t)> callback) = 0;
};

/// What an operator knows of where it runs.
struct RuntimeContext {
  std::string job_id;
  std::string task_name;      // vertex name with (subtask/parallelism)
  int subtask = 0;
  int attempt = 0;            // execution attempt number: 0 first, +1 per restart
  int parallelism = 1;        // of this operator
  int max_parallelism = 128;
  bool batch_mode = false;    // every source of the job is bounded
  const JobArgs* args = nullptr;
  const std::atomic<bool>* cancel_flag = nullptr;
  ProcessingTimeService* processing_time = nullptr;
  /// pipeline.auto-watermark-interval: how often periodic watermarks are emitted.
  int64_t auto_watermark_interval_ms = 200;
  /// metrics.latency.interval: how often sources emit latency markers (0: never).
  int64_t latency_interval_ms = 0;
  /// The plan index of this chain's source operator (latency markers name it).
  int32_t source_operator = 0;
  /// Where sinks record the latency of the markers they receive.
  LatencyStats* latency = nullptr;
  /// Makes keyed operators' state backends (state.backend.type).
  KeyedStateBackendFactory* keyed_state = nullptr;
  /// The job's -D configuration (job keys only).
  const std::map<std::string, std::string>* job_config = nullptr;
  /// The TaskManager's configuration with the job's keys applied (file systems read their
  /// s3.* keys from it); null in unit tests.
  const Config* config = nullptr;
  /// execution.checkpointing.interval > 0: the job takes checkpoints, so two-phase-commit
  /// sinks publish output when a checkpoint completes (not when they finish).
  bool checkpointing = false;
  /// Records that entered / left this chain (written by the task thread only).
  uint64_t records_in = 0;
  uint64_t records_out = 0;

  bool cancelled() const { return cancel_flag != nullptr && cancel_flag->load(std::memory_order_relaxed); }
};

/// Where an operator receives records of type T: one batch per call.
template <typename T>
class Input {
 public:
  virtual void ProcessBatch(std::span<const StreamRecord<T>> batch) = 0;

 protected:
  ~Input() = default;
};

class StreamOperator;

/// What an operator restores in InitializeState(): the keyed-state snapshots that overlap
/// its key groups (entries of other key groups are skipped when restoring) and its share of
/// the operator-state entries (redistributed round-robin when the parallelism changed).
/// `restored` is false when the job starts without a checkpoint.
struct StateInitContext {
  bool restored = false;
  int64_t checkpoint_id = 0;
  std::vector<std::string> keyed_snapshots;
  /// Native keyed snapshots (RocksDB's files, downloaded), restored after keyed_snapshots.
  std::vector<NativeRestore> keyed_native;
  std::vector<std::string> operator_state;
  /// Every distinct union-state entry of every old subtask (OperatorSnapshot::union_state).
  std::vector<std::string> union_state;
};

/// What an operator puts into a checkpoint in SnapshotState(): its keyed state (the
/// backend-independent snapshot of its key groups, timers included) and operator-state
/// entries (split positions, pending commits), each restorable by any subtask.
struct OperatorSnapshot {
  /// Set by the task before SnapshotState(): a savepoint, which must be self-contained
  /// (the backend-independent format, no files shared with checkpoints).
  bool self_contained = false;
  std::string keyed;
  /// Or: writes the keyed snapshot later, on the task's snapshot thread (the asynchronous
  /// part; keyed operators on RocksDB only take a DB snapshot or a native checkpoint on the
  /// task thread).
  KeyedStateBackend::CheckpointWriter keyed_writer;
  std::vector<std::string> operator_state;
  /// Entries every subtask receives on restore, each distinct one once, at any parallelism
  /// (Flink's union list state), where operator_state entries go to one subtask each.
  std::vector<std::string> union_state;
};

/// A typed input of an operator, erased for wiring (checked when cast back).
struct ErasedInput {
  void* input = nullptr;                  // Input<T>*
  const std::type_info* type = nullptr;   // typeid(T)
  StreamOperator* op = nullptr;           // the operator behind it
  int index = 0;                          // which of op's inputs

  template <typename T>
  static ErasedInput Of(Input<T>* in, StreamOperator* op, int index = 0) {
    return ErasedInput{in, &typeid(T), op, index};
  }
  template <typename T>
  Input<T>* As() const {
    EDDY_CHECK(type != nullptr && *type == typeid(T))
        << "input of type " << (type ? type->name() : "?") << " wired to a stream of "
        << typeid(T).name();
    return static_cast<Input<T>*>(input);
  }
};

/// The untyped side of an output: flushing and the non-record elements.
class OutputBase {
 public:
  virtual ~OutputBase() = default;
  /// Adds an input this output feeds (checked against the output's type).
  virtual void AddTarget(const ErasedInput& target) = 0;
  /// Hands the pending batch to every target and lets each flush its own outputs.
  virtual void Flush() = 0;
  /// Flushes, then forwards the watermark to every target.
  virtual void EmitWatermark(EventTime watermark) = 0;
  virtual void EmitWatermarkStatus(WatermarkStatus status) = 0;
  /// Flushes, then forwards the latency marker to every target.
  virtual void EmitLatencyMarker(const LatencyMarker& marker) = 0;
  virtual const std::type_info& type() const = 0;
};

/// Lifecycle and non-record elements, shared by every operator (DESIGN "Operators"):
/// InitializeState → Open → Process…/ProcessWatermark → PrepareSnapshotPreBarrier →
/// SnapshotState → NotifyCheckpointComplete/Aborted → EndInput → Finish → Close.
/// The watermarks and statuses of its inputs combine through a StatusWatermarkValve, as
/// the channels of one input do in the task.
class StreamOperator {
 public:
  virtual ~StreamOperator() = default;

  /// Number of logical inputs (0 for sources).
  virtual int num_inputs() const { return 1; }
  /// Restores or creates state (before Open()); `ctx.restored` says whether a checkpoint's
  /// state is handed over.
  virtual void InitializeState(const StateInitContext& /*ctx*/) {}
  virtual void Open() {}
  /// A new watermark on input `input`; by default combined over inputs and forwarded.
  virtual void ProcessWatermark(int input, EventTime watermark);
  /// Input `input` became idle or active; by default combined over inputs and forwarded.
  virtual void ProcessWatermarkStatus(int input, WatermarkStatus status);
  /// A latency marker on input `input`: forwarded to every output by default (sinks
  /// record it instead).
  virtual void ProcessLatencyMarker(int /*input*/, const LatencyMarker& marker) {
    for (OutputBase* o : outputs_) o->EmitLatencyMarker(marker);
  }
  /// Before the barrier goes downstream: emit what must precede it (buffered output).
  virtual void PrepareSnapshotPreBarrier(int64_t /*checkpoint_id*/) {}
  /// The synchronous part of a checkpoint: copy the state into `out` (the task uploads it
  /// afterwards, off the task thread).
  virtual void SnapshotState(int64_t /*checkpoint_id*/, OperatorSnapshot& /*out*/) {}
  virtual void NotifyCheckpointComplete(int64_t /*checkpoint_id*/) {}
  virtual void NotifyCheckpointAborted(int64_t /*checkpoint_id*/) {}
  /// Input `input` has ended (bounded input done); may still emit.
  virtual void EndInput(int /*input*/) {}
  /// Called once after every input ended; may still emit.
  virtual void Finish() {}
  /// Always last, also after failure or cancel.
  virtual void Close() {}

  /// Sets the runtime context (before Open()).
  void Setup(RuntimeContext* ctx) { ctx_ = ctx; }
  /// Sets the operator's id (the job plan's; keyed state and snapshots are filed under it).
  void SetOperatorId(std::string id) { operator_id_ = std::move(id); }
  const std::string& operator_id() const { return operator_id_; }
  /// Registers an output (main or side) so that flushes and watermarks reach it.
  void AddOutput(OutputBase* out) { outputs_.push_back(out); }
  /// Registers a side output under `tag_id`.
  void AddSideOutput(const std::string& tag_id, OutputBase* out) {
    side_outputs_.emplace_back(tag_id, out);
    outputs_.push_back(out);
  }
  /// Flushes every output (after each batch of input).
  void FlushOutputs() {
    for (OutputBase* o : outputs_) o->Flush();
  }
  /// Returns the combined input watermark.
  EventTime current_watermark() const { return inputs_.watermark(); }
  RuntimeContext& runtime() { return *ctx_; }
  const RuntimeContext& runtime() const { return *ctx_; }
  /// Returns the side output registered for `tag_id`, or nullptr (nobody consumes it).
  OutputBase* FindSideOutput(const std::string& tag_id) const {
    for (const auto& [id, out] : side_outputs_) {
      if (id == tag_id) return out;
    }
    return nullptr;
  }

 protected:
  /// Called when the combined watermark advances; forwards it by default.
  virtual void OnWatermark(EventTime watermark) { EmitWatermark(watermark); }
  /// Called when the combined status changes (every input idle, or one active again);
  /// forwards it by default.
  virtual void OnWatermarkStatus(WatermarkStatus status) { EmitWatermarkStatus(status); }
  void EmitWatermark(EventTime watermark) {
    for (OutputBase* o : outputs_) o->EmitWatermark(watermark);
  }
  void EmitWatermarkStatus(WatermarkStatus status) {
    for (OutputBase* o : outputs_) o->EmitWatermarkStatus(status);
  }
  RuntimeContext* ctx_ = nullptr;

 private:
  std::string operator_id_;
  StatusWatermarkValve inputs_;  // one input per logical input, sized on first use
  std::vector<OutputBase*> outputs_;
  std::vector<std::pair<std::string, OutputBase*>> side_outputs_;

  /// Returns the valve's input for `input` (sizing the valve to num_inputs() first).
  int ValveInput(int input);
  void ForwardInputChange(const StatusWatermarkValve::Change& change);
};

inline int StreamOperator::ValveInput(int input) {
  if (inputs_.num_inputs() == 0) inputs_ = StatusWatermarkValve(std::max(num_inputs(), 1));
  return std::clamp(input, 0, inputs_.num_inputs() - 1);
}

inline void StreamOperator::ForwardInputChange(const StatusWatermarkValve::Change& change) {
  change.Apply([this](EventTime watermark) { OnWatermark(watermark); },
               [this](WatermarkStatus status) { OnWatermarkStatus(status); });
}

inline void StreamOperator::ProcessWatermark(int input, EventTime watermark) {
  const int i = ValveInput(input);
  ForwardInputChange(inputs_.OnWatermark(i, watermark));
}

inline void StreamOperator::ProcessWatermarkStatus(int input, WatermarkStatus status) {
  const int i = ValveInput(input);
  ForwardInputChange(inputs_.OnStatus(i, status));
}

/// Collects records of type T into batches for the inputs behind it (chained operators or
/// network writers). With no target it drops what it is given.
template <typename T>
class Output final : public OutputBase {
 public:
  static constexpr size_t kBatchSize = 256;

  Output() { batch_.reserve(kBatchSize); }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  void AddTarget(const ErasedInput& target) override {
    targets_.push_back(Target{target.As<T>(), target.op, target.index});
  }
  bool has_targets() const { return !targets_.empty(); }

  void Collect(const T& value, EventTime timestamp) {
    batch_.push_back(value, timestamp);
    if (batch_.size() == kBatchSize) Flush();
  }
  void Collect(T&& value, EventTime timestamp) {
    batch_.push_back(std::move(value), timestamp);
    if (batch_.size() == kBatchSize) Flush();
  }

  /// Hands `records` to every target as they are (no copy), after the pending batch.
  void EmitBatch(std::span<const StreamRecord<T>> records) {
    Flush();
    if (!records.empty()) Deliver(records);
  }

  void Flush() override {
    if (batch_.empty()) return;
    Deliver(std::span<const StreamRecord<T>>(batch_.data(), batch_.size()));
    batch_.clear();
  }
  void EmitWatermark(EventTime watermark) override {
    Flush();
    for (const Target& t : targets_) t.op->ProcessWatermark(t.index, watermark);
  }
  void EmitWatermarkStatus(WatermarkStatus status) override {
    Flush();
    for (const Target& t : targets_) t.op->ProcessWatermarkStatus(t.index, status);
  }
  void EmitLatencyMarker(const LatencyMarker& marker) override {
    Flush();
    for (const Target& t : targets_) t.op->ProcessLatencyMarker(t.index, marker);
  }
  const std::type_info& type() const override { return typeid(T); }

 private:
  struct Target {
    Input<T>* input;
    StreamOperator* op;
    int index;
  };
  void Deliver(std::span<const StreamRecord<T>> records) {
    for (const Target& t : targets_) {
      t.input->ProcessBatch(records);
      t.op->FlushOutputs();
    }
  }
  RecordBatch<T> batch_;  // elements reused across batches
  std::vector<Target> targets_;
};

/// Casts a wired output back to its type (checked).
template <typename T>
Output<T>* OutputAs(OutputBase* out) {
  EDDY_CHECK(out != nullptr && out->type() == typeid(T))
      << "output of type " << (out ? out->type().name() : "null") << " used as "
      << typeid(T).name();
  return static_cast<Output<T>*>(out);
}

/// An operator with one input of type In.
template <typename In>
class OneInputStreamOperator : public StreamOperator, public Input<In> {
 public:
  int num_inputs() const override { return 1; }
};

/// An operator with two inputs of different types (`a.connect(b)`).
template <typename A, typename B>
class TwoInputStreamOperator : public StreamOperator {
 public:
  int num_inputs() const override { return 2; }
  virtual void ProcessBatch1(std::span<const StreamRecord<A>> batch) = 0;
  virtual void ProcessBatch2(std::span<const StreamRecord<B>> batch) = 0;
  Input<A>* input1() { return &first_; }
  Input<B>* input2() { return &second_; }

 private:
  struct First final : Input<A> {
    explicit First(TwoInputStreamOperator* op) : op(op) {}
    void ProcessBatch(std::span<const StreamRecord<A>> batch) override { op->ProcessBatch1(batch); }
    TwoInputStreamOperator* op;
  };
  struct Second final : Input<B> {
    explicit Second(TwoInputStreamOperator* op) : op(op) {}
    void ProcessBatch(std::span<const StreamRecord<B>> batch) override { op->ProcessBatch2(batch); }
    TwoInputStreamOperator* op;
  };
  First first_{this};
  Second second_{this};
};

/// Names a side output of type T: `ctx.output(tag, value)`, `stream.side_output(tag)`.
template <typename T>
struct OutputTag {
  explicit OutputTag(std::string id) : id(std::move(id)) {}
  std::string id;
};

/// Passed to flat_map and process functions: emits records with the current timestamp.
template <typename T>
class Collector {
 public:
  explicit Collector(Output<T>* out) : out_(out) {}
  void collect(const T& value) { out_->Collect(value, timestamp_); }
  void collect(T&& value) { out_->Collect(std::move(value), timestamp_); }
  void operator()(const T& value) { collect(value); }
  void operator()(T&& value) { collect(std::move(value)); }
  /// Emits with an explicit timestamp.
  void collect_with_timestamp(T value, EventTime timestamp) {
    out_->Collect(std::move(value), timestamp);
  }
  void set_timestamp(EventTime t) { timestamp_ = t; }

 private:
  Output<T>* out_;
  EventTime timestamp_ = kNoTimestamp;
};

/// A sink consumes batches of records; it is the end of a chain.
template <typename T>
class SinkFunction {
 public:
  virtual ~SinkFunction() = default;
  virtual void Open(RuntimeContext& /*ctx*/) {}
  /// Consumes one batch of records.
  virtual void WriteBatch(std::span<const StreamRecord<T>> batch) = 0;
  /// Restores what SnapshotState() saved (before Open(); also when not restored: empty).
  virtual void InitializeState(const std::vector<std::string>& /*entries*/) {}
  /// A checkpoint's barrier arrived: pre-commit what was written and save what a commit
  /// needs into `entries`.
  virtual void SnapshotState(int64_t /*checkpoint_id*/, std::vector<std::string>* /*entries*/) {}
  /// The checkpoint completed: publish what it covers.
  virtual void NotifyCheckpointComplete(int64_t /*checkpoint_id*/) {}
  /// End of input: make the output complete (may fail the task by throwing). With
  /// checkpoints (RuntimeContext::checkpointing) a two-phase-commit sink pre-commits here
  /// and publishes on the final checkpoint's completion.
  virtual void Finish() {}
  virtual void Close() {}
};

}  // namespace eddy
