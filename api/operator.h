// The runtime contract between user operators and the TaskManager: Output<T> (where an
// operator emits), OperatorBase (lifecycle), sources and sinks, and the RuntimeContext an
// operator is handed. One task thread drives every operator of a chain; nothing here is
// thread-safe except RuntimeContext::cancelled().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace eddy {

class JobArgs;

/// What an operator knows of where it runs.
struct RuntimeContext {
  std::string job_id;
  std::string task_name;      // vertex name
  int subtask = 0;
  int attempt = 0;            // execution attempt number: 0 first, +1 per restart
  int parallelism = 1;        // of this operator
  int max_parallelism = 128;
  bool batch_mode = false;    // every source of the job is bounded
  const JobArgs* args = nullptr;
  const std::atomic<bool>* cancel_flag = nullptr;
  /// Called by sources every few records: flushes network buffers on timeout.
  std::function<void()> poll;
  /// Records that entered / left this chain (written by the task thread only).
  uint64_t records_in = 0;
  uint64_t records_out = 0;

  bool cancelled() const { return cancel_flag != nullptr && cancel_flag->load(std::memory_order_relaxed); }
};

/// Where an operator emits records: the next operator of the chain, or a network writer.
template <typename T>
class Output {
 public:
  virtual ~Output() = default;
  virtual void Emit(const T& value) = 0;
};

/// Lifecycle every operator shares. Open() before the first record, Finish() once at end
/// of input (may still emit), Close() always last (also after failure or cancel).
class OperatorBase {
 public:
  virtual ~OperatorBase() = default;
  virtual void Open(RuntimeContext& /*ctx*/) {}
  virtual void Finish() {}
  virtual void Close() {}
};

/// Passed to flat_map functions: emits zero or more records.
template <typename T>
class Collector {
 public:
  explicit Collector(Output<T>* out) : out_(out) {}
  void collect(const T& value) { out_->Emit(value); }
  void operator()(const T& value) { out_->Emit(value); }

 private:
  Output<T>* out_;
};

/// What a source's Run() emits through; checks cancellation and lets the task flush
/// network buffers in between.
template <typename T>
class SourceContext {
 public:
  SourceContext(Output<T>* out, RuntimeContext* runtime) : out_(out), runtime_(runtime) {}
  void emit(const T& value) {
    ++runtime_->records_in;
    out_->Emit(value);
    if (++since_poll_ == kPollEvery) {
      since_poll_ = 0;
      if (runtime_->poll) runtime_->poll();
    }
  }
  /// Returns true once the job is being cancelled: Run() should return promptly.
  bool cancelled() const { return runtime_->cancelled(); }
  /// Lets the task flush and check cancellation while the source waits for input.
  void idle() {
    since_poll_ = 0;
    if (runtime_->poll) runtime_->poll();
  }
  const RuntimeContext& runtime() const { return *runtime_; }

 private:
  static constexpr int kPollEvery = 64;
  Output<T>* out_;
  RuntimeContext* runtime_;
  int since_poll_ = 0;
};

/// A source: Run() emits records until its input is exhausted (bounded) or the job is
/// cancelled. Each subtask reads its own share (runtime().subtask of parallelism).
template <typename T>
class SourceFunction : public OperatorBase {
 public:
  virtual void Run(SourceContext<T>& ctx) = 0;
};

/// A sink consumes records; it is the end of a chain.
template <typename T>
class SinkFunction : public OperatorBase, public Output<T> {};

}  // namespace eddy
