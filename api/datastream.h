// The DataStream API: DataStream<T> with map, filter, flat_map, process (timestamps, the
// watermark, processing time, side outputs), assign_timestamps, key_by, union_with,
// connect (two inputs of different types), rebalance, broadcast, side_output and sink;
// KeyedStream<T, K> with rolling reduce, sum and count, process, connect (keyed two-input
// operators), interval_join and window_join (api/windows.h). Each call records an operator in
// the JobBuilder with factories that instantiate it in the TaskManager; user functions are
// inlined into the operator templates, and operators exchange batches of records, so a
// chain costs one virtual call per operator per batch. Builder-time objects; single-threaded.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "api/interval_join.h"
#include "api/job_builder.h"
#include "api/keyed_operator.h"
#include "api/network_io.h"
#include "api/process_function.h"
#include "api/watermark_strategy.h"

namespace eddy {

namespace internal {

/// Deduces R from a function whose last parameter is Collector<R>&.
template <typename F>
struct CollectorArg : CollectorArg<decltype(&F::operator())> {};
template <typename C, typename Ret, typename A, typename R>
struct CollectorArg<Ret (C::*)(A, Collector<R>&) const> {
  using type = R;
};
template <typename C, typename Ret, typename A, typename R>
struct CollectorArg<Ret (C::*)(A, Collector<R>&)> {
  using type = R;
};
template <typename Ret, typename A, typename R>
struct CollectorArg<Ret (*)(A, Collector<R>&)> {
  using type = R;
};
template <typename C, typename Ret, typename A, typename Ctx, typename R>
struct CollectorArg<Ret (C::*)(A, Ctx, Collector<R>&) const> {
  using type = R;
};
template <typename C, typename Ret, typename A, typename Ctx, typename R>
struct CollectorArg<Ret (C::*)(A, Ctx, Collector<R>&)> {
  using type = R;
};
// Joins (a, b, ctx, collector) and window functions (key, window, result, collector).
template <typename C, typename Ret, typename A, typename B, typename Ctx, typename R>
struct CollectorArg<Ret (C::*)(A, B, Ctx, Collector<R>&) const> {
  using type = R;
};
template <typename C, typename Ret, typename A, typename B, typename Ctx, typename R>
struct CollectorArg<Ret (C::*)(A, B, Ctx, Collector<R>&)> {
  using type = R;
};

/// Deduces R from a keyed process function's process_element(..., Collector<R>&).
template <typename F, typename T, typename K>
struct KeyedCollectorArg : CollectorArg<decltype(&F::process_element)> {};

template <typename In, typename Out, typename F>
class MapOperator final : public OneInputStreamOperator<In> {
 public:
  MapOperator(F f, Output<Out>* out) : f_(std::move(f)), out_(out) {}
  void ProcessBatch(std::span<const StreamRecord<In>> batch) override {
    for (const auto& r : batch) out_->Collect(std::invoke(f_, r.value), r.timestamp);
  }

 private:
  F f_;
  Output<Out>* out_;
};

template <typename T, typename F>
class FilterOperator final : public OneInputStreamOperator<T> {
 public:
  FilterOperator(F f, Output<T>* out) : f_(std::move(f)), out_(out) {}
  void ProcessBatch(std::span<const StreamRecord<T>> batch) override {
    for (const auto& r : batch) {
      if (std::invoke(f_, r.value)) out_->Collect(r.value, r.timestamp);
    }
  }

 private:
  F f_;
  Output<T>* out_;
};

template <typename In, typename Out, typename F>
class FlatMapOperator final : public OneInputStreamOperator<In> {
 public:
  FlatMapOperator(F f, Output<Out>* out) : f_(std::move(f)), collector_(out) {}
  void ProcessBatch(std::span<const StreamRecord<In>> batch) override {
    for (const auto& r : batch) {
      collector_.set_timestamp(r.timestamp);
      std::invoke(f_, r.value, collector_);
    }
  }

 private:
  F f_;
  Collector<Out> collector_;
};

template <typename In, typename Out, typename F>
class ProcessOperator final : public OneInputStreamOperator<In> {
 public:
  ProcessOperator(F f, Output<Out>* out) : f_(std::move(f)), collector_(out) {}
  void Open() override {
    context_.Bind(this);
    OpenFunction(f_, this->runtime());
  }
  void ProcessBatch(std::span<const StreamRecord<In>> batch) override {
    for (const auto& r : batch) {
      context_.set_timestamp(r.timestamp);
      collector_.set_timestamp(r.timestamp);
      f_(r.value, context_, collector_);
    }
  }
  /// F may have on_watermark(EventTime, ProcessContext&, Collector<Out>&), called before the
  /// watermark moves on: what it emits comes before the watermark (e.g. a local
  /// pre-aggregation flushing what the watermark completed; a bounded input ends with MAX).
  void OnWatermark(EventTime watermark) override {
    if constexpr (requires { f_.on_watermark(watermark, context_, collector_); }) {
      context_.set_timestamp(kNoTimestamp);
      f_.on_watermark(watermark, context_, collector_);
    }
    OneInputStreamOperator<In>::OnWatermark(watermark);
  }
  /// F may have prepare_snapshot_pre_barrier(int64_t checkpoint_id, ProcessContext&,
  /// Collector<Out>&), called when a checkpoint's barrier is about to go downstream: what it
  /// emits precedes the barrier, so what a function buffers in members (a local
  /// pre-aggregation) needs no state if it is emitted here (Flink's prepareSnapshotPreBarrier).
  void PrepareSnapshotPreBarrier(int64_t checkpoint_id) override {
    if constexpr (requires { f_.prepare_snapshot_pre_barrier(checkpoint_id, context_, collector_); }) {
      context_.set_timestamp(kNoTimestamp);
      f_.prepare_snapshot_pre_barrier(checkpoint_id, context_, collector_);
    }
  }
  void Close() override { CloseFunction(f_); }

 private:
  F f_;
  Collector<Out> collector_;
  ProcessContext context_;
};

template <typename A, typename B, typename Out, typename F>
class CoProcessOperator final : public TwoInputStreamOperator<A, B> {
 public:
  CoProcessOperator(F f, Output<Out>* out) : f_(std::move(f)), collector_(out) {}
  void Open() override {
    context_.Bind(this);
    OpenFunction(f_, this->runtime());
  }
  void ProcessBatch1(std::span<const StreamRecord<A>> batch) override {
    for (const auto& r : batch) {
      context_.set_timestamp(r.timestamp);
      collector_.set_timestamp(r.timestamp);
      f_.process_element1(r.value, context_, collector_);
    }
  }
  void ProcessBatch2(std::span<const StreamRecord<B>> batch) override {
    for (const auto& r : batch) {
      context_.set_timestamp(r.timestamp);
      collector_.set_timestamp(r.timestamp);
      f_.process_element2(r.value, context_, collector_);
    }
  }
  void Close() override { CloseFunction(f_); }

 private:
  F f_;
  Collector<Out> collector_;
  ProcessContext context_;
};

/// Forwards records unchanged (union, side outputs).
template <typename T>
class IdentityOperator final : public OneInputStreamOperator<T> {
 public:
  explicit IdentityOperator(Output<T>* out) : out_(out) {}
  void ProcessBatch(std::span<const StreamRecord<T>> batch) override {
    for (const auto& r : batch) out_->Collect(r.value, r.timestamp);
  }

 private:
  Output<T>* out_;
};

/// Rolling reduce per key, its running value in keyed state (ValueState<T> "reduce", so in
/// the configured backend and its snapshots). Streaming: emits the updated value after every
/// record. Batch mode (all sources bounded): emits each key's final value once, at end of
/// input, read back from the backend.
template <typename T, typename K, typename KeyFn, typename ReduceFn>
class KeyedReduceOperator final : public KeyedOperator<OneInputStreamOperator<T>> {
 public:
  static constexpr const char* kStateName = "reduce";

  KeyedReduceOperator(KeyFn key_fn, ReduceFn reduce_fn, Output<T>* out)
      : key_fn_(std::move(key_fn)), reduce_fn_(std::move(reduce_fn)), out_(out) {}
  void Open() override {
    batch_ = this->runtime().batch_mode;
    auto state = this->backend().get_state(ValueStateDescriptor<T>{kStateName});
    if (!state.ok()) throw std::runtime_error(std::string(state.status().message()));
    state_ = *state;
  }
  void ProcessBatch(std::span<const StreamRecord<T>> batch) override {
    KeyedStateBackend& backend = this->backend();
    for (const auto& r : batch) {
      backend.set_current_key(std::invoke(key_fn_, r.value));
      std::optional<T> value = state_->value();
      if (value) {
        *value = std::invoke(reduce_fn_, std::as_const(*value), r.value);
      } else {
        value.emplace(r.value);
      }
      state_->update(*value);
      if (!batch_) out_->Collect(*value, r.timestamp);
    }
  }
  void Finish() override {
    if (!batch_) return;
    const absl::Status status = this->backend().template for_each_value<K, T>(
        kStateName, [this](const K&, const T& value) { out_->Collect(value, kNoTimestamp); });
    if (!status.ok()) throw std::runtime_error(std::string(status.message()));
  }

 private:
  KeyFn key_fn_;
  ReduceFn reduce_fn_;
  Output<T>* out_;
  bool batch_ = false;
  ValueState<T>* state_ = nullptr;
};

/// Invokes a timestamp extractor (a callable or a member pointer) on a record: int64 ms.
template <typename Extractor, typename T>
EventTime ExtractTimestamp(const Extractor& extractor, const T& value) {
  return static_cast<EventTime>(std::invoke(extractor, value));
}

/// Extracts event timestamps and emits watermarks periodically (every
/// pipeline.auto-watermark-interval of processing time) following a WatermarkStrategy;
/// marks the stream idle when no record arrived for the strategy's idle timeout. Upstream
/// watermarks are dropped, except the final MAX watermark of a bounded input. The stream is
/// the WatermarkMultiplexer's one split.
template <typename T, typename Extractor>
class TimestampsAndWatermarksOperator final : public OneInputStreamOperator<T> {
 public:
  TimestampsAndWatermarksOperator(Extractor extractor, WatermarkStrategy strategy, Output<T>* out)
      : extractor_(std::move(extractor)), out_(out), watermarks_(strategy, out) {}

  void Open() override { watermarks_.Start(this->runtime()); }
  void ProcessBatch(std::span<const StreamRecord<T>> batch) override {
    if (batch.empty()) return;
    watermarks_.MarkActive();
    for (const auto& r : batch) {
      const EventTime ts = ExtractTimestamp(extractor_, r.value);
      watermarks_.OnRecord(0, ts);
      out_->Collect(r.value, ts);
    }
  }
  void ProcessWatermark(int /*input*/, EventTime watermark) override {
    if (watermark == kMaxWatermark) watermarks_.EmitFinalWatermark();
  }
  void ProcessWatermarkStatus(int, WatermarkStatus) override {}

 private:
  Extractor extractor_;
  Output<T>* out_;
  WatermarkMultiplexer watermarks_;
};

template <typename T>
class SinkOperator final : public OneInputStreamOperator<T> {
 public:
  explicit SinkOperator(std::unique_ptr<SinkFunction<T>> sink) : sink_(std::move(sink)) {}
  void InitializeState(const StateInitContext& init) override {
    sink_->InitializeState(init.operator_state);
  }
  void Open() override { sink_->Open(this->runtime()); }
  void ProcessBatch(std::span<const StreamRecord<T>> batch) override {
    this->runtime().records_out += batch.size();
    sink_->WriteBatch(batch);
  }
  void SnapshotState(int64_t checkpoint_id, OperatorSnapshot& out) override {
    sink_->SnapshotState(checkpoint_id, &out.operator_state);
  }
  void NotifyCheckpointComplete(int64_t checkpoint_id) override {
    sink_->NotifyCheckpointComplete(checkpoint_id);
  }
  /// Sinks end latency markers: they record how long each took to get here.
  void ProcessLatencyMarker(int /*input*/, const LatencyMarker& marker) override {
    RuntimeContext& ctx = this->runtime();
    if (ctx.latency != nullptr && ctx.processing_time != nullptr) {
      ctx.latency->Add(marker, ctx.processing_time->CurrentProcessingTime());
    }
  }
  void Finish() override { sink_->Finish(); }
  void Close() override { sink_->Close(); }

 private:
  std::unique_ptr<SinkFunction<T>> sink_;
};

/// Extractor of a source without a watermark strategy: records go straight into the chain.
struct NoWatermarks {};
/// Extractor of a source whose reader gives the timestamps (ReaderOutput::Collect(v, ts)).
struct ReaderTimestamps {};

/// Drives a SourceReader. With a watermark strategy (Extractor other than NoWatermarks) the
/// reader's records arrive here a batch at a time with their splits: each gets its timestamp
/// from the inlined extractor, feeds its split's watermark generator, and the batch goes on
/// without a copy; the WatermarkMultiplexer emits the minimum over the active splits.
template <typename T, typename Extractor = NoWatermarks>
class SourceOperator final : public StreamOperator,
                             public SourceOperatorBase,
                             public SplitRecordSink<T> {
  static constexpr bool kWatermarks = !std::is_same_v<Extractor, NoWatermarks>;

 public:
  SourceOperator(std::unique_ptr<SourceReader<T>> reader, Output<T>* out)
    requires(!kWatermarks)
      : reader_(std::move(reader)), out_(out), watermarks_({}, out), output_(out) {}
  SourceOperator(std::unique_ptr<SourceReader<T>> reader, Extractor extractor,
                 WatermarkStrategy strategy, Output<T>* out)
    requires kWatermarks
      : reader_(std::move(reader)),
        extractor_(std::move(extractor)),
        out_(out),
        watermarks_(strategy, out),
        output_(this, &watermarks_) {}

  int num_inputs() const override { return 0; }
  void SetWaker(SourceWaker* waker) override { waker_ = waker; }
  /// Hands the reader its checkpointed splits (operator-state entries).
  void InitializeState(const StateInitContext& init) override {
    if (!init.restored) return;
    std::vector<SplitState> splits;
    for (const auto* entries : {&init.operator_state, &init.union_state}) {
      for (const std::string& entry : *entries) {
        SplitState split;
        if (!SplitState::Decode(entry, &split)) {
          throw std::runtime_error("malformed split state in the checkpoint of source '" +
                                   operator_id() + "'");
        }
        split.everywhere = entries == &init.union_state;
        splits.push_back(std::move(split));
      }
    }
    reader_->RestoreState(std::move(splits));
  }
  /// Saves the reader's split positions.
  void SnapshotState(int64_t /*checkpoint_id*/, OperatorSnapshot& out) override {
    for (const SplitState& split : reader_->SnapshotState()) {
      (split.everywhere ? out.union_state : out.operator_state).push_back(split.Encode());
    }
  }
  void Open() override {
    reader_->Open(runtime(), waker_);
    if constexpr (kWatermarks) watermarks_.Start(runtime());
    ProcessingTimeService* time = runtime().processing_time;
    if (runtime().latency_interval_ms > 0 && time != nullptr) {
      ScheduleLatencyMarker(time->CurrentProcessingTime() + runtime().latency_interval_ms);
    }
  }
  InputStatus EmitNext() override {
    InputStatus status = reader_->PollNext(output_);
    if constexpr (kWatermarks) output_.Flush();
    runtime().records_in = output_.emitted();
    return status;
  }
  /// The task's MAX watermark at the end of a bounded input.
  void ProcessWatermark(int input, EventTime watermark) override {
    if constexpr (kWatermarks) {
      if (watermark == kMaxWatermark) watermarks_.EmitFinalWatermark();
    } else {
      StreamOperator::ProcessWatermark(input, watermark);
    }
  }
  void ProcessSplitBatch(std::span<StreamRecord<T>> records,
                         std::span<const uint32_t> slots) override {
    if constexpr (kWatermarks) {
      watermarks_.MarkActive();
      for (size_t i = 0; i < records.size(); ++i) {
        if constexpr (!std::is_same_v<Extractor, ReaderTimestamps>) {
          records[i].timestamp = ExtractTimestamp(extractor_, std::as_const(records[i].value));
        }
        watermarks_.OnRecord(slots[i], records[i].timestamp);
      }
      out_->EmitBatch(records);
    }
  }
  void Close() override { reader_->Close(); }

 private:
  /// Emits a latency marker at `at` and every latency interval after it.
  void ScheduleLatencyMarker(int64_t at) {
    runtime().processing_time->RegisterTimer(at, [this](int64_t now) {
      out_->EmitLatencyMarker(LatencyMarker{now, runtime().source_operator, runtime().subtask});
      ScheduleLatencyMarker(now + runtime().latency_interval_ms);
    });
  }

  std::unique_ptr<SourceReader<T>> reader_;
  [[no_unique_address]] Extractor extractor_{};
  Output<T>* out_;
  WatermarkMultiplexer watermarks_;  // idle without a strategy
  ReaderOutput<T> output_;
  SourceWaker* waker_ = nullptr;
};

/// Fills the factories that depend on a node's output type T.
template <typename T>
void SetOutputType(OperatorNode& node) {
  node.make_output = [] { return std::unique_ptr<OutputBase>(std::make_unique<Output<T>>()); };
  node.make_decoder = [](ErasedInput target, RuntimeContext* ctx) -> std::unique_ptr<ElementDecoder> {
    return std::make_unique<Decoder<T>>(target, ctx);
  };
}

/// Wraps a one-input operator into an OperatorInstance.
template <typename In, typename Op>
OperatorInstance OneInput(std::unique_ptr<Op> op) {
  OperatorInstance inst;
  inst.inputs.push_back(ErasedInput::Of<In>(op.get(), op.get()));
  inst.op = std::move(op);
  return inst;
}

}  // namespace internal

template <typename T, typename K, typename KeyFn>
class KeyedStream;
template <typename A, typename B>
class ConnectedStreams;
template <typename A, typename B, typename K, typename KeyFnA, typename KeyFnB>
class KeyedConnectedStreams;
template <typename A, typename B, typename K, typename KeyFnA, typename KeyFnB>
class IntervalJoin;
template <typename A, typename B>
class JoinedStreams;

template <typename T>
class DataStream {
 public:
  using value_type = T;
  DataStream(JobBuilder* builder, int node) : builder_(builder), node_(node) {}

  /// Applies `f` to every record: R f(const T&).
  template <typename F>
  auto map(F f, std::string name = "Map") {
    using R = std::decay_t<std::invoke_result_t<F&, const T&>>;
    return Then<R>(std::move(name), "map", [f](OutputBase* out) {
      using Op = internal::MapOperator<T, R, F>;
      return internal::OneInput<T>(std::make_unique<Op>(f, OutputAs<R>(out)));
    });
  }

  /// Keeps the records for which `f` returns true.
  template <typename F>
  DataStream<T> filter(F f, std::string name = "Filter") {
    return Then<T>(std::move(name), "filter", [f](OutputBase* out) {
      using Op = internal::FilterOperator<T, F>;
      return internal::OneInput<T>(std::make_unique<Op>(f, OutputAs<T>(out)));
    });
  }

  /// Emits zero or more records per record: void f(const T&, Collector<R>&).
  template <typename F, typename R = typename internal::CollectorArg<F>::type>
  DataStream<R> flat_map(F f, std::string name = "FlatMap") {
    return Then<R>(std::move(name), "flat_map", [f](OutputBase* out) {
      using Op = internal::FlatMapOperator<T, R, F>;
      return internal::OneInput<T>(std::make_unique<Op>(f, OutputAs<R>(out)));
    });
  }

  /// Runs `f(const T&, ProcessContext&, Collector<R>&)` on every record; the context gives
  /// the record's timestamp, the current watermark, the processing-time service and side
  /// outputs. `f` may be a class with operator(), and optional open(RuntimeContext&)/close().
  template <typename F, typename R = typename internal::CollectorArg<F>::type>
  DataStream<R> process(F f, std::string name = "Process") {
    return Then<R>(std::move(name), "process", [f](OutputBase* out) {
      using Op = internal::ProcessOperator<T, R, F>;
      return internal::OneInput<T>(std::make_unique<Op>(f, OutputAs<R>(out)));
    });
  }

  /// Assigns event timestamps with `extractor` (int64 ms from a record, or a member
  /// pointer) and emits watermarks following `strategy`.
  template <typename Extractor>
  DataStream<T> assign_timestamps(Extractor extractor, WatermarkStrategy strategy,
                                  std::string name = "Timestamps/Watermarks") {
    return Then<T>(std::move(name), "timestamps", [extractor, strategy](OutputBase* out) {
      using Op = internal::TimestampsAndWatermarksOperator<T, Extractor>;
      return internal::OneInput<T>(std::make_unique<Op>(extractor, strategy, OutputAs<T>(out)));
    });
  }

  /// Groups every record into windows of `assigner` in one subtask (parallelism 1):
  /// returns an AllWindowedStream (api/windows.h, which must be included to call this).
  template <typename Assigner>
  auto window_all(Assigner assigner);

  /// Starts a window join with `other` (Flink's `a.join(b).where(ka).equalTo(kb).window(w)
  /// .apply(f)`); returns JoinedStreams (api/windows.h, which must be included to call this).
  template <typename U>
  JoinedStreams<T, U> join(const DataStream<U>& other) const;

  /// Partitions by the key `key_fn` extracts (a function or a member pointer).
  template <typename KeyFn>
  auto key_by(KeyFn key_fn) {
    using K = std::decay_t<std::invoke_result_t<KeyFn&, const T&>>;
    return KeyedStream<T, K, KeyFn>(builder_, node_, std::move(key_fn));
  }

  /// Merges streams of the same type.
  template <typename... More>
  DataStream<T> union_with(const More&... others) {
    OperatorNode node;
    node.name = "Union";
    node.kind = "union";
    node.inputs.push_back(InputFrom(*this));
    (node.inputs.push_back(InputFrom(others)), ...);
    node.make_operator = [](OutputBase* out) {
      using Op = internal::IdentityOperator<T>;
      return internal::OneInput<T>(std::make_unique<Op>(OutputAs<T>(out)));
    };
    internal::SetOutputType<T>(node);
    return DataStream<T>(builder_, builder_->AddNode(std::move(node)));
  }

  /// Connects a stream of another type: `a.connect(b).process(CoProcessFunction)`.
  template <typename U>
  ConnectedStreams<T, U> connect(const DataStream<U>& other) const {
    return ConnectedStreams<T, U>(*this, other);
  }

  /// The records the producing operator emitted to `tag` (ctx.output(tag, value)).
  template <typename U>
  DataStream<U> side_output(const OutputTag<U>& tag) {
    OperatorNode node;
    node.name = absl::StrCat("SideOutput(", tag.id, ")");
    node.kind = "side_output";
    node.side_tag = tag.id;
    OperatorNode::Input in;
    in.node = node_;
    in.partitioning = job::FORWARD;
    in.make_writer = nullptr;  // always chained to its producer
    node.inputs.push_back(std::move(in));
    node.make_operator = [](OutputBase* out) {
      using Op = internal::IdentityOperator<U>;
      return internal::OneInput<U>(std::make_unique<Op>(OutputAs<U>(out)));
    };
    internal::SetOutputType<U>(node);
    return DataStream<U>(builder_, builder_->AddNode(std::move(node)));
  }

  /// Distributes records round robin over the next operator's subtasks.
  DataStream<T> rebalance() const { return WithPartitioning(job::REBALANCE); }
  /// Sends every record to every subtask of the next operator.
  DataStream<T> broadcast() const { return WithPartitioning(job::BROADCAST); }

  /// Ends the stream in a sink.
  DataStream<T> sink(SinkDef<T> def) {
    OperatorNode node;
    node.name = def.name;
    node.kind = "sink";
    node.inputs.push_back(InputFrom(*this));
    auto factory = def.factory;
    node.make_operator = [factory](OutputBase*) {
      return internal::OneInput<T>(std::make_unique<internal::SinkOperator<T>>(factory()));
    };
    internal::SetOutputType<T>(node);
    return DataStream<T>(builder_, builder_->AddNode(std::move(node)));
  }

  /// Names the operator that produces this stream (shown in the REST API and CLI).
  DataStream<T>& name(std::string name) {
    builder_->node(node_).name = std::move(name);
    return *this;
  }
  /// Gives the producing operator a stable id (its operator id; kept across job versions
  /// so that state maps to it).
  DataStream<T>& uid(std::string uid) {
    builder_->SetUid(node_, std::move(uid));
    return *this;
  }
  /// Sets the producing operator's parallelism.
  DataStream<T>& parallelism(int p) {
    builder_->node(node_).parallelism = p;
    return *this;
  }

  int node_index() const { return node_; }
  JobBuilder* builder() const { return builder_; }

  /// Adds an operator consuming this stream (used by the methods above and connectors).
  template <typename R>
  DataStream<R> Then(std::string name, std::string kind,
                     std::function<OperatorInstance(OutputBase*)> make_operator) {
    OperatorNode node;
    node.name = std::move(name);
    node.kind = std::move(kind);
    node.inputs.push_back(InputFrom(*this));
    node.make_operator = std::move(make_operator);
    internal::SetOutputType<R>(node);
    return DataStream<R>(builder_, builder_->AddNode(std::move(node)));
  }

  static OperatorNode::Input InputFrom(const DataStream<T>& s, int logical_input = 0) {
    OperatorNode::Input in;
    in.node = s.node_;
    in.partitioning = s.partitioning_;
    in.logical_input = logical_input;
    in.make_writer = [](RecordChannelWriter* w, RuntimeContext* ctx, job::Partitioning p,
                        ErasedInput* input) {
      return internal::MakePlainWriter<T>(p, w, ctx, input);
    };
    return in;
  }

 private:
  template <typename, typename, typename>
  friend class KeyedStream;

  DataStream<T> WithPartitioning(job::Partitioning p) const {
    DataStream<T> copy = *this;
    copy.partitioning_ = p;
    return copy;
  }

  JobBuilder* builder_;
  int node_;
  std::optional<job::Partitioning> partitioning_;
};

namespace internal {

/// Adds a node whose two-input operator (`make_op(out)` returns a unique_ptr to a
/// TwoInputStreamOperator<A, B>) reads `first` as logical input 0 and `second` as input 1.
template <typename A, typename B, typename R, typename MakeOp>
DataStream<R> AddTwoInputNode(JobBuilder* builder, std::string name, std::string kind,
                              OperatorNode::Input first, OperatorNode::Input second,
                              MakeOp make_op) {
  OperatorNode node;
  node.name = std::move(name);
  node.kind = std::move(kind);
  node.num_logical_inputs = 2;
  first.logical_input = 0;
  second.logical_input = 1;
  node.inputs.push_back(std::move(first));
  node.inputs.push_back(std::move(second));
  node.make_operator = [make_op](OutputBase* out) {
    auto op = make_op(out);
    OperatorInstance inst;
    inst.inputs.push_back(ErasedInput::Of<A>(op->input1(), op.get(), 0));
    inst.inputs.push_back(ErasedInput::Of<B>(op->input2(), op.get(), 1));
    inst.op = std::move(op);
    return inst;
  };
  SetOutputType<R>(node);
  return DataStream<R>(builder, builder->AddNode(std::move(node)));
}

}  // namespace internal

/// Two streams of different types feeding one two-input operator.
template <typename A, typename B>
class ConnectedStreams {
 public:
  ConnectedStreams(DataStream<A> first, DataStream<B> second)
      : first_(std::move(first)), second_(std::move(second)) {}

  /// Runs a CoProcessFunction: F has process_element1(const A&, ProcessContext&,
  /// Collector<R>&) and process_element2(const B&, ...), and `using output_type = R`.
  template <typename F, typename R = typename F::output_type>
  DataStream<R> process(F f, std::string name = "CoProcess") {
    return internal::AddTwoInputNode<A, B, R>(
        first_.builder(), std::move(name), "co_process", DataStream<A>::InputFrom(first_, 0),
        DataStream<B>::InputFrom(second_, 1), [f](OutputBase* out) {
          return std::make_unique<internal::CoProcessOperator<A, B, R, F>>(f, OutputAs<R>(out));
        });
  }

 private:
  DataStream<A> first_;
  DataStream<B> second_;
};

template <typename T, typename K, typename KeyFn>
class KeyedStream {
 public:
  KeyedStream(JobBuilder* builder, int node, KeyFn key_fn)
      : builder_(builder), node_(node), key_fn_(std::move(key_fn)) {}

  /// Groups each key's records into the windows of `assigner` (e.g.
  /// TumblingEventTimeWindows::of(60s)): returns a WindowedStream (api/windows.h, which must
  /// be included to call this).
  template <typename Assigner>
  auto window(Assigner assigner) const;

  /// Adds an operator fed by this stream partitioned by key (windows, joins).
  template <typename R>
  DataStream<R> AddKeyedOperator(std::string name, std::string kind,
                                 std::function<OperatorInstance(OutputBase*)> make_operator) const {
    OperatorNode node;
    node.name = std::move(name);
    node.kind = std::move(kind);
    node.inputs.push_back(HashInput());
    node.make_operator = std::move(make_operator);
    internal::SetOutputType<R>(node);
    return DataStream<R>(builder_, builder_->AddNode(std::move(node)));
  }

  /// Rolling reduce: T f(const T& accumulated, const T& next), per key.
  template <typename F>
  DataStream<T> reduce(F f, std::string name = "Reduce") {
    return AddKeyedOperator<T>(std::move(name), "reduce", [key_fn = key_fn_, f](OutputBase* out) {
      using Op = internal::KeyedReduceOperator<T, K, KeyFn, F>;
      return internal::OneInput<T>(std::make_unique<Op>(key_fn, f, OutputAs<T>(out)));
    });
  }

  /// Runs a KeyedProcessFunction (see api/keyed_operator.h): per-key state declared in
  /// open(KeyedStateStore&), keyed event- and processing-time timers with on_timer(...).
  template <typename F, typename R = typename internal::KeyedCollectorArg<F, T, K>::type>
  DataStream<R> process(F f, std::string name = "KeyedProcess") {
    return AddKeyedOperator<R>(std::move(name), "keyed_process",
                               [key_fn = key_fn_, f](OutputBase* out) {
                                 using Op = internal::KeyedProcessOperator<T, K, KeyFn, R, F>;
                                 return internal::OneInput<T>(
                                     std::make_unique<Op>(key_fn, f, OutputAs<R>(out)));
                               });
  }

  /// Connects a keyed stream whose key has the same type (Flink's
  /// `a.keyBy(ka).connect(b.keyBy(kb))`): `.process(KeyedCoProcessFunction)` then sees both
  /// inputs' records of a key with that key's state and timers.
  template <typename U, typename K2, typename KeyFnU>
  KeyedConnectedStreams<T, U, K, KeyFn, KeyFnU> connect(
      const KeyedStream<U, K2, KeyFnU>& other) const {
    static_assert(std::is_same_v<K, K2>, "connect: both keyed streams need the same key type");
    return KeyedConnectedStreams<T, U, K, KeyFn, KeyFnU>(*this, other);
  }

  /// Starts an interval join with a keyed stream whose key has the same type (Flink's
  /// `a.keyBy(ka).intervalJoin(b.keyBy(kb)).between(lower, upper).process(f)`).
  template <typename U, typename K2, typename KeyFnU>
  IntervalJoin<T, U, K, KeyFn, KeyFnU> interval_join(
      const KeyedStream<U, K2, KeyFnU>& other) const {
    static_assert(std::is_same_v<K, K2>,
                  "interval_join: both keyed streams need the same key type");
    return IntervalJoin<T, U, K, KeyFn, KeyFnU>(*this, other);
  }

  /// Starts a window join with a keyed stream whose key has the same type (Flink's
  /// `a.join(b).where(ka).equalTo(kb).window(assigner)`): `.apply(f)` gets every pair of
  /// records of a key that share a window of `assigner` (tumbling or sliding), once, when
  /// the window fires. Returns a WindowJoin (api/windows.h, which must be included to call
  /// this).
  template <typename U, typename K2, typename KeyFnU, typename Assigner>
  auto window_join(const KeyedStream<U, K2, KeyFnU>& other, Assigner assigner) const;

  /// Rolling sum of a numeric member (e.g. &std::pair<std::string, int64_t>::second).
  template <typename M, typename U = T>
  DataStream<T> sum(M U::*field) {
    return reduce(
        [field](const T& acc, const T& next) {
          T out = acc;
          out.*field += next.*field;
          return out;
        },
        "Sum");
  }

  /// Rolling sum of the records themselves (T arithmetic).
  DataStream<T> sum() {
    static_assert(std::is_arithmetic_v<T>, "sum() without a field needs an arithmetic type");
    return reduce([](const T& a, const T& b) { return static_cast<T>(a + b); }, "Sum");
  }

  /// Rolling count per key: emits (key, count).
  DataStream<std::pair<K, int64_t>> count(std::string name = "Count") {
    KeyFn key_fn = key_fn_;
    auto counted = DataStream<T>(builder_, node_).map(
        [key_fn](const T& v) { return std::pair<K, int64_t>(std::invoke(key_fn, v), 1); },
        name + " (key)");
    return counted.key_by(&std::pair<K, int64_t>::first)
        .sum(&std::pair<K, int64_t>::second)
        .name(std::move(name));
  }

  /// Returns the input of an operator reading this stream hash-partitioned by key group.
  OperatorNode::Input HashInput() const {
    OperatorNode::Input in;
    in.node = node_;
    in.partitioning = job::HASH;
    KeyFn key_fn = key_fn_;
    in.make_writer = [key_fn](RecordChannelWriter* w, RuntimeContext* ctx, job::Partitioning,
                              ErasedInput* input) -> std::unique_ptr<StreamOperator> {
      auto writer = std::make_unique<internal::HashWriter<T, KeyFn>>(w, ctx->max_parallelism, key_fn);
      *input = ErasedInput::Of<T>(writer.get(), writer.get());
      return writer;
    };
    return in;
  }
  JobBuilder* builder() const { return builder_; }
  const KeyFn& key_fn() const { return key_fn_; }

 private:
  JobBuilder* builder_;
  int node_;
  KeyFn key_fn_;
};

namespace internal {

/// Adds a node whose keyed two-input operator reads `left` and `right`, both partitioned by
/// key group, as inputs 0 and 1; `make_op(key_fn_left, key_fn_right, Output<R>*)` returns a
/// unique_ptr to it.
template <typename R, typename A, typename B, typename K, typename KeyFnA, typename KeyFnB,
          typename MakeOp>
DataStream<R> AddKeyedTwoInputNode(const KeyedStream<A, K, KeyFnA>& left,
                                   const KeyedStream<B, K, KeyFnB>& right, std::string name,
                                   std::string kind, MakeOp make_op) {
  return AddTwoInputNode<A, B, R>(
      left.builder(), std::move(name), std::move(kind), left.HashInput(), right.HashInput(),
      [make_op, key_a = left.key_fn(), key_b = right.key_fn()](OutputBase* out) {
        return make_op(key_a, key_b, OutputAs<R>(out));
      });
}

}  // namespace internal

/// Two keyed streams with keys of one type K feeding one keyed two-input operator; both
/// are hash-partitioned by key group, so a key's records of either side meet in one subtask.
template <typename A, typename B, typename K, typename KeyFnA, typename KeyFnB>
class KeyedConnectedStreams {
 public:
  KeyedConnectedStreams(KeyedStream<A, K, KeyFnA> first, KeyedStream<B, K, KeyFnB> second)
      : first_(std::move(first)), second_(std::move(second)) {}

  /// Runs a KeyedCoProcessFunction (see KeyedCoProcessOperator in api/keyed_operator.h):
  /// process_element1(const A&, KeyedProcessContext<K>&, Collector<R>&), process_element2
  /// likewise for B, optional on_timer, open(KeyedStateStore&) and close().
  template <typename F, typename R = typename internal::CollectorArg<
                            decltype(&F::process_element1)>::type>
  DataStream<R> process(F f, std::string name = "KeyedCoProcess") {
    return internal::AddKeyedTwoInputNode<R>(
        first_, second_, std::move(name), "keyed_co_process",
        [f](const KeyFnA& key_a, const KeyFnB& key_b, Output<R>* out) {
          using Op = internal::KeyedCoProcessOperator<A, B, K, KeyFnA, KeyFnB, R, F>;
          return std::make_unique<Op>(key_a, key_b, f, out);
        });
  }

 private:
  KeyedStream<A, K, KeyFnA> first_;
  KeyedStream<B, K, KeyFnB> second_;
};

/// An interval join being described: `.between(lower, upper)`, optionally exclusive ends,
/// then `.process(f)`. Event time only: both inputs need timestamps and watermarks.
template <typename A, typename B, typename K, typename KeyFnA, typename KeyFnB>
class IntervalJoin {
 public:
  IntervalJoin(KeyedStream<A, K, KeyFnA> left, KeyedStream<B, K, KeyFnB> right)
      : left_(std::move(left)), right_(std::move(right)) {}

  /// Joins a left record l with the right records r of its key whose timestamps lie in
  /// [l.ts + lower, l.ts + upper] (ms; inclusive unless made exclusive below).
  IntervalJoin& between(int64_t lower, int64_t upper) {
    bounds_.lower = lower;
    bounds_.upper = upper;
    return *this;
  }
  IntervalJoin& between(std::chrono::milliseconds lower, std::chrono::milliseconds upper) {
    return between(static_cast<int64_t>(lower.count()), static_cast<int64_t>(upper.count()));
  }
  /// Excludes r.ts == l.ts + lower.
  IntervalJoin& lower_bound_exclusive() {
    bounds_.lower_inclusive = false;
    return *this;
  }
  /// Excludes r.ts == l.ts + upper.
  IntervalJoin& upper_bound_exclusive() {
    bounds_.upper_inclusive = false;
    return *this;
  }

  /// Runs `f.process_element(const A& left, const B& right, IntervalJoinContext<K>&,
  /// Collector<R>&)` once per matching pair; what it emits carries max(l.ts, r.ts). Records
  /// behind the watermark are dropped (Flink's rule); buffered records are removed when the
  /// watermark passes l.ts + upper (left) or r.ts - lower (right).
  template <typename F, typename R = typename internal::CollectorArg<
                            decltype(&F::process_element)>::type>
  DataStream<R> process(F f, std::string name = "IntervalJoin") {
    return internal::AddKeyedTwoInputNode<R>(
        left_, right_, std::move(name), "interval_join",
        [bounds = bounds_, f](const KeyFnA& key_a, const KeyFnB& key_b, Output<R>* out) {
          using Op = internal::IntervalJoinOperator<A, B, K, KeyFnA, KeyFnB, R, F>;
          return std::make_unique<Op>(bounds, key_a, key_b, f, out);
        });
  }

 private:
  KeyedStream<A, K, KeyFnA> left_;
  KeyedStream<B, K, KeyFnB> right_;
  IntervalJoinBounds bounds_;
};

template <typename T, typename MakeOperator>
DataStream<T> JobBuilder::AddSource(SourceDef<T> def, MakeOperator make_op) {
  OperatorNode node;
  node.name = def.name;
  node.kind = "source";
  node.is_source = true;
  node.bounded = def.bounded;
  node.num_logical_inputs = 0;
  node.make_operator = [factory = def.factory, make_op](OutputBase* out) {
    auto op = make_op(factory(), OutputAs<T>(out));
    OperatorInstance inst;
    inst.source = op.get();
    inst.op = std::move(op);
    return inst;
  };
  internal::SetOutputType<T>(node);
  return DataStream<T>(this, AddNode(std::move(node)));
}

template <typename T>
DataStream<T> JobBuilder::source(SourceDef<T> def) {
  return AddSource(std::move(def), [](std::unique_ptr<SourceReader<T>> reader, Output<T>* out) {
    return std::make_unique<internal::SourceOperator<T>>(std::move(reader), out);
  });
}

template <typename T>
DataStream<T> JobBuilder::source(SourceDef<T> def, WatermarkStrategy strategy) {
  return source(std::move(def), internal::ReaderTimestamps{}, strategy);
}

template <typename T, typename Extractor>
DataStream<T> JobBuilder::source(SourceDef<T> def, Extractor extractor, WatermarkStrategy strategy) {
  return AddSource(std::move(def), [extractor, strategy](std::unique_ptr<SourceReader<T>> reader,
                                                         Output<T>* out) {
    return std::make_unique<internal::SourceOperator<T, Extractor>>(std::move(reader), extractor,
                                                                    strategy, out);
  });
}

}  // namespace eddy
