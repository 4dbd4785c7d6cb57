// Test support: runs one subtask of a source directly (no cluster) and collects what it
// emits, waiting where the reader asks to be woken; SourceHarness drives a source node's
// operator (timestamps, per-split watermarks) with hand-driven processing time.
// Single-threaded, except that `cancel` may be set from another thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/job_builder.h"
#include "api/operator.h"
#include "api/source.h"
#include "tests/support/operator_harness.h"

namespace eddy::testing {

/// Records the wake-up time a reader asked for.
class RecordingWaker final : public SourceWaker {
 public:
  void Wake() override {}
  void WakeAt(std::chrono::steady_clock::time_point when) override { wake_at = when; }
  std::chrono::steady_clock::time_point wake_at{};
};

/// Collects records emitted into an Output<T> with no targets.
template <typename T>
class CollectingInput final : public OneInputStreamOperator<T> {
 public:
  void ProcessBatch(std::span<const StreamRecord<T>> batch) override {
    for (const auto& r : batch) records.push_back(r);
  }
  std::vector<StreamRecord<T>> records;
};

/// Polls an opened reader until it ends, `done(values)` says stop, `cancel` is set or
/// `limit` passes, sleeping until the wake-up time the reader asks for (at most 50 ms at a
/// time); calls `between(values)` after each poll that did not end it. Returns the values.
template <typename T>
std::vector<T> PollReader(SourceReader<T>& reader, const RecordingWaker& waker,
                          const std::function<bool(const std::vector<T>&)>& done = nullptr,
                          std::chrono::milliseconds limit = std::chrono::minutes(5),
                          const std::function<void(const std::vector<T>&)>& between = nullptr,
                          const std::atomic<bool>* cancel = nullptr, int* polls = nullptr) {
  CollectingInput<T> sink;
  Output<T> out;
  out.AddTarget(ErasedInput::Of<T>(&sink, &sink));
  ReaderOutput<T> reader_out(&out);
  std::vector<T> values;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline &&
         !(cancel != nullptr && cancel->load())) {
    if (polls != nullptr) ++*polls;
    InputStatus status = reader.PollNext(reader_out);
    out.Flush();
    for (auto& r : sink.records) values.push_back(std::move(r.value));
    sink.records.clear();
    if (status == InputStatus::kEndOfInput || (done && done(values))) break;
    if (between) between(values);
    if (status == InputStatus::kNothingAvailable) {
      auto wait = std::min<std::chrono::steady_clock::duration>(
          waker.wake_at - std::chrono::steady_clock::now(), std::chrono::milliseconds(50));
      if (wait.count() > 0) std::this_thread::sleep_for(wait);  // the reader's own schedule
    }
  }
  return values;
}

/// Runs subtask `subtask` of `parallelism` of the source to its end (or until `cancel`)
/// and returns its records; counts PollNext() calls into `polls` if given. `config` is the
/// TaskManager configuration the reader sees (e.g. s3.* keys); none if null.
template <typename T>
std::vector<T> RunSubtask(const SourceDef<T>& def, int subtask, int parallelism,
                          const std::atomic<bool>* cancel = nullptr, int* polls = nullptr,
                          const Config* config = nullptr) {
  std::unique_ptr<SourceReader<T>> reader = def.factory();
  RuntimeContext rt;
  rt.subtask = subtask;
  rt.parallelism = parallelism;
  rt.cancel_flag = cancel;
  rt.config = config;
  RecordingWaker waker;
  reader->Open(rt, &waker);
  std::vector<T> values = PollReader<T>(*reader, waker, nullptr, std::chrono::minutes(5),
                                        nullptr, cancel, polls);
  reader->Close();
  return values;
}

/// Drives subtask `subtask` of the source operator of builder node `node` as the task does:
/// one PollNext() per Poll(), the MAX watermark when a bounded input ends, periodic
/// watermarks as processing time (hand-driven, from 0) advances; collects what it emits.
template <typename T>
class SourceHarness {
 public:
  explicit SourceHarness(const OperatorNode& node, int subtask = 0, int parallelism = 1)
      : node_(node) {
    ctx_.task_name = node.name + " (source harness)";
    ctx_.subtask = subtask;
    ctx_.parallelism = parallelism;
    ctx_.processing_time = &time_;
    ctx_.auto_watermark_interval_ms = 200;
    output_ = node.make_output();
    output_->AddTarget(ErasedInput::Of<T>(&main_, &main_));
    main_.Setup(&ctx_);
  }

  RuntimeContext& context() { return ctx_; }

  void Open() {
    inst_ = node_.make_operator(output_.get());
    EDDY_CHECK(inst_.source != nullptr) << node_.name << " is not a source";
    inst_.op->Setup(&ctx_);
    inst_.op->AddOutput(output_.get());
    inst_.source->SetWaker(&waker_);
    inst_.op->InitializeState(StateInitContext{});
    inst_.op->Open();
  }
  /// Polls the reader once; at the end of its input emits the MAX watermark as the task does.
  InputStatus Poll() {
    InputStatus status = inst_.source->EmitNext();
    inst_.op->FlushOutputs();
    if (status == InputStatus::kEndOfInput) inst_.op->ProcessWatermark(0, kMaxWatermark);
    return status;
  }
  /// Moves processing time to `time`, firing the periodic emissions due.
  void SetProcessingTime(int64_t time) {
    time_.AdvanceTo(time, [this] { inst_.op->FlushOutputs(); });
  }
  void AdvanceProcessingTime(int64_t by) { SetProcessingTime(time_.CurrentProcessingTime() + by); }
  void Close() {
    inst_.op->Finish();
    inst_.op->FlushOutputs();
    inst_.op->Close();
  }

  const std::vector<StreamRecord<T>>& records() const { return main_.records; }
  const std::vector<EventTime>& watermarks() const { return main_.watermarks; }
  const std::vector<WatermarkStatus>& statuses() const { return main_.statuses; }
  /// What reached the output, in order: 'r' record, 'w' watermark, 'i' idle, 'a' active.
  const std::string& trace() const { return main_.trace; }

 private:
  const OperatorNode& node_;
  RuntimeContext ctx_;
  ManualProcessingTime time_;
  RecordingWaker waker_;
  CollectingOperator<T> main_;
  std::unique_ptr<OutputBase> output_;
  OperatorInstance inst_;
};

}  // namespace eddy::testing
