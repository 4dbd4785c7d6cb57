// Test support: runs one subtask of a source directly (no cluster) and collects what it
// emits, waiting where the reader asks to be woken. Single-threaded, except that `cancel`
// may be set from another thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "api/job_builder.h"
#include "api/operator.h"
#include "api/source.h"

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

/// Runs subtask `subtask` of `parallelism` of the source to its end (or until `cancel`)
/// and returns its records; counts PollNext() calls into `polls` if given.
template <typename T>
std::vector<T> RunSubtask(const SourceDef<T>& def, int subtask, int parallelism,
                          const std::atomic<bool>* cancel = nullptr, int* polls = nullptr) {
  std::unique_ptr<SourceReader<T>> reader = def.factory();
  RuntimeContext rt;
  rt.subtask = subtask;
  rt.parallelism = parallelism;
  rt.cancel_flag = cancel;
  CollectingInput<T> sink;
  Output<T> out;
  out.AddTarget(ErasedInput::Of<T>(&sink, &sink));
  ReaderOutput<T> reader_out(&out);
  RecordingWaker waker;
  reader->Open(rt, &waker);
  while (!rt.cancelled()) {
    if (polls != nullptr) ++*polls;
    InputStatus status = reader->PollNext(reader_out);
    if (status == InputStatus::kEndOfInput) break;
    if (status == InputStatus::kNothingAvailable) {
      auto wait = std::min(waker.wake_at - std::chrono::steady_clock::now(),
                           std::chrono::steady_clock::duration(std::chrono::milliseconds(50)));
      if (wait.count() > 0) std::this_thread::sleep_for(wait);  // the reader's own schedule
    }
  }
  out.Flush();
  reader->Close();
  std::vector<T> values;
  values.reserve(sink.records.size());
  for (auto& r : sink.records) values.push_back(std::move(r.value));
  return values;
}

}  // namespace eddy::testing
