// Test support: drives one operator, instantiated from its builder node, with records,
// watermarks and watermark status per input channel (through the task's watermark valves),
// hand-driven processing time and end of input, and collects what it emits on its main
// output and side outputs (like Flink's OneInputStreamOperatorTestHarness). One thread.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/job_builder.h"
#include "api/keyed_operator.h"
#include "api/operator.h"
#include "api/watermark_valve.h"
#include "common/check.h"
#include "common/config.h"
#include "taskmanager/state/heap_keyed_state_backend.h"
#include "taskmanager/state/state_backend_factory.h"

namespace eddy::testing {

/// Processing time that moves only when the test says so.
class ManualProcessingTime final : public ProcessingTimeService {
 public:
  int64_t CurrentProcessingTime() const override { return now_; }
  void RegisterTimer(int64_t time, std::function<void(int64_t)> callback) override {
    timers_.emplace(time, std::move(callback));
  }
  /// Moves the clock to `time`, running every timer due by then (in time order) and
  /// `after_each` after each one.
  void AdvanceTo(int64_t time, const std::function<void()>& after_each) {
    while (!timers_.empty() && timers_.begin()->first <= time) {
      auto it = timers_.begin();
      now_ = std::max(now_, it->first);
      auto callback = std::move(it->second);
      timers_.erase(it);
      callback(now_);
      after_each();
    }
    now_ = std::max(now_, time);
  }
  size_t pending() const { return timers_.size(); }

 private:
  int64_t now_ = 0;
  std::multimap<int64_t, std::function<void(int64_t)>> timers_;
};

/// A bounded source with no records: lets a test build a job whose operator it drives.
template <typename T>
SourceDef<T> NullSource() {
  struct Null : SourceReader<T> {
    InputStatus PollNext(ReaderOutput<T>&) override { return InputStatus::kEndOfInput; }
  };
  return SourceDef<T>{"Source", true, [] { return std::make_unique<Null>(); }};
}

/// Heap state backends over every key group, with a clock the test sets (TTL).
class HeapStateBackends final : public KeyedStateBackendFactory {
 public:
  absl::StatusOr<std::unique_ptr<KeyedStateBackend>> Create(
      std::string_view operator_id) override {
    state::StateBackendParams params;
    params.operator_id = std::string(operator_id);
    params.max_parallelism = 128;
    params.key_groups = KeyGroupRange{0, 127};
    params.clock = [this] { return now_ms; };
    return std::unique_ptr<KeyedStateBackend>(
        std::make_unique<state::HeapKeyedStateBackend>(params));
  }
  int64_t now_ms = 0;  // what state TTL sees as now
};

/// RocksDB state backends in a directory of their own (removed with them); give them to a
/// harness with `h.context().keyed_state = &rocksdb` before Open().
class RocksDbStateBackends final : public KeyedStateBackendFactory {
 public:
  RocksDbStateBackends() {
    static int counter = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("eddy-harness-rocksdb-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    std::filesystem::create_directories(dir_);
  }
  ~RocksDbStateBackends() override { std::filesystem::remove_all(dir_); }
  absl::StatusOr<std::unique_ptr<KeyedStateBackend>> Create(std::string_view) override {
    Config config;
    EDDY_CHECK(config.Set(opt::kStateBackendType, "rocksdb").ok());
    EDDY_CHECK(config.Set(opt::kStateRocksDbLocalDir, dir_.string()).ok());
    return state::CreateKeyedStateBackend(config, state::StateBackendParams{});
  }

 private:
  std::filesystem::path dir_;
};

/// Collects records, watermarks and statuses that reach it; `trace` keeps their order:
/// 'r' per record, 'w' per watermark, 'i' / 'a' per idle / active status.
template <typename T>
class CollectingOperator final : public OneInputStreamOperator<T> {
 public:
  void ProcessBatch(std::span<const StreamRecord<T>> batch) override {
    records.insert(records.end(), batch.begin(), batch.end());
    trace.append(batch.size(), 'r');
  }
  void ProcessWatermarkStatus(int, WatermarkStatus status) override {
    statuses.push_back(status);
    trace.push_back(status == WatermarkStatus::kIdle ? 'i' : 'a');
  }
  void ProcessLatencyMarker(int, const LatencyMarker& marker) override {
    latency_markers.push_back(marker);
    trace.push_back('l');
  }
  std::vector<StreamRecord<T>> records;
  std::vector<LatencyMarker> latency_markers;
  std::vector<EventTime> watermarks;
  std::vector<WatermarkStatus> statuses;
  std::string trace;

 protected:
  void OnWatermark(EventTime watermark) override {
    watermarks.push_back(watermark);
    trace.push_back('w');
  }
};

/// Drives the operator of `node` (Out = its output type).
template <typename Out>
class OperatorHarness {
 public:
  /// `channels[i]` is the number of channels of logical input i.
  explicit OperatorHarness(const OperatorNode& node, std::vector<int> channels = {1})
      : node_(node) {
    ctx_.task_name = node.name + " (harness)";
    ctx_.processing_time = &time_;
    ctx_.keyed_state = &backends_;
    ctx_.auto_watermark_interval_ms = 200;
    output_ = node.make_output();
    output_->AddTarget(ErasedInput::Of<Out>(&main_, &main_));
    main_.Setup(&ctx_);
    for (int n : channels) valves_.emplace_back(n);
  }

  RuntimeContext& context() { return ctx_; }

  /// Collects the side output `tag` (call before Open()).
  template <typename U>
  void CollectSideOutput(const OutputTag<U>& tag) {
    auto collector = std::make_unique<CollectingOperator<U>>();
    auto out = std::make_unique<Output<U>>();
    out->AddTarget(ErasedInput::Of<U>(collector.get(), collector.get()));
    side_collectors_[tag.id] = collector.get();
    side_.emplace_back(tag.id, std::move(out));
    side_owned_.push_back(std::shared_ptr<void>(collector.release(), [](void* p) {
      delete static_cast<CollectingOperator<U>*>(p);
    }));
  }

  /// Instantiates and opens the operator, restoring `init` (a Snapshot() of an earlier
  /// instance, see Restored()).
  void Open(const StateInitContext& init = StateInitContext{}) {
    inst_ = node_.make_operator(output_.get());
    inst_.op->Setup(&ctx_);
    inst_.op->SetOperatorId(node_.id);
    inst_.op->AddOutput(output_.get());
    for (auto& [tag, out] : side_) inst_.op->AddSideOutput(tag, out.get());
    inst_.op->InitializeState(init);
    inst_.op->Open();
  }

  /// Takes checkpoint `id` of the operator (PrepareSnapshotPreBarrier, then SnapshotState).
  OperatorSnapshot Snapshot(int64_t id) {
    inst_.op->PrepareSnapshotPreBarrier(id);
    inst_.op->FlushOutputs();
    OperatorSnapshot out;
    out.self_contained = true;  // the backend-independent format, restorable by any backend
    inst_.op->SnapshotState(id, out);
    if (out.keyed_writer) {
      struct Collect final : KeyedSnapshotOutput {
        std::string* bytes;
        explicit Collect(std::string* b) : bytes(b) {}
        absl::Status WriteFull(std::string full) override {
          bytes->append(full);
          return absl::OkStatus();
        }
        absl::StatusOr<SharedFiles> WriteNative(const NativeSnapshot&, const SharedFiles&) override {
          return absl::UnimplementedError("a native snapshot of a self-contained checkpoint");
        }
      } collect(&out.keyed);
      EXPECT_TRUE(out.keyed_writer(collect).ok());
      out.keyed_writer = nullptr;
    }
    return out;
  }
  /// What a restore of `snapshot` hands an operator.
  static StateInitContext Restored(const OperatorSnapshot& snapshot, int64_t id = 1) {
    StateInitContext init;
    init.restored = true;
    init.checkpoint_id = id;
    if (!snapshot.keyed.empty()) init.keyed_snapshots.push_back(snapshot.keyed);
    init.operator_state = snapshot.operator_state;
    return init;
  }

  /// Feeds one record to logical input `input`.
  template <typename T>
  void ProcessElement(const T& value, EventTime timestamp = kNoTimestamp, int input = 0) {
    StreamRecord<T> record{value, timestamp};
    inst_.inputs.at(static_cast<size_t>(input)).template As<T>()->ProcessBatch(
        std::span<const StreamRecord<T>>(&record, 1));
    inst_.op->FlushOutputs();
  }
  /// A watermark arrives on `channel` of logical input `input`.
  void ProcessWatermark(EventTime watermark, int channel = 0, int input = 0) {
    Apply(input, valves_.at(static_cast<size_t>(input)).OnWatermark(channel, watermark));
  }
  /// A latency marker arrives on logical input `input`.
  void ProcessLatencyMarker(const LatencyMarker& marker, int input = 0) {
    inst_.op->ProcessLatencyMarker(input, marker);
  }
  void SetChannelStatus(WatermarkStatus status, int channel = 0, int input = 0) {
    Apply(input, valves_.at(static_cast<size_t>(input)).OnStatus(channel, status));
  }
  /// Moves processing time to `time`, firing the timers due.
  void SetProcessingTime(int64_t time) {
    time_.AdvanceTo(time, [this] { inst_.op->FlushOutputs(); });
  }
  /// Ends every input (as a bounded input's end does: the MAX watermark, then end of input).
  void EndInput() {
    for (size_t i = 0; i < valves_.size(); ++i) {
      for (int c = 0; c < valves_[i].num_inputs(); ++c) {
        Apply(static_cast<int>(i), valves_[i].OnInputEnded(c));
      }
      inst_.op->EndInput(static_cast<int>(i));
    }
    inst_.op->Finish();
    inst_.op->FlushOutputs();
  }
  void Close() { inst_.op->Close(); }

  const std::vector<StreamRecord<Out>>& output() const { return main_.records; }
  std::vector<Out> values() const {
    std::vector<Out> out;
    for (const auto& r : main_.records) out.push_back(r.value);
    return out;
  }
  const std::vector<EventTime>& watermarks() const { return main_.watermarks; }
  const std::vector<WatermarkStatus>& statuses() const { return main_.statuses; }
  const CollectingOperator<Out>& collected() const { return main_; }
  template <typename U>
  const std::vector<StreamRecord<U>>& side_output(const OutputTag<U>& tag) const {
    return static_cast<CollectingOperator<U>*>(side_collectors_.at(tag.id))->records;
  }
  StreamOperator& op() { return *inst_.op; }
  ManualProcessingTime& time() { return time_; }
  /// The keyed state backends the operator gets (set `now_ms` for TTL).
  HeapStateBackends& state_backends() { return backends_; }

 private:
  void Apply(int input, const StatusWatermarkValve::Change& change) {
    change.Apply([&](EventTime wm) { inst_.op->ProcessWatermark(input, wm); },
                 [&](WatermarkStatus status) { inst_.op->ProcessWatermarkStatus(input, status); });
  }

  const OperatorNode& node_;
  RuntimeContext ctx_;
  ManualProcessingTime time_;
  HeapStateBackends backends_;
  CollectingOperator<Out> main_;
  std::unique_ptr<OutputBase> output_;
  std::vector<std::pair<std::string, std::unique_ptr<OutputBase>>> side_;
  std::map<std::string, void*> side_collectors_;
  std::vector<std::shared_ptr<void>> side_owned_;
  std::vector<StatusWatermarkValve> valves_;
  OperatorInstance inst_;
};

}  // namespace eddy::testing
