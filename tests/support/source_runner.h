// Test support: runs one subtask of a source directly (no cluster) and collects what it
// emits, waiting where the reader asks to be woken. Single-threaded, except that `cancel`
// may be set from another thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
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
/// and returns its records; counts PollNext() calls into `polls` if given.
template <typename T>
std::vector<T> RunSubtask(const SourceDef<T>& def, int subtask, int parallelism,
                          const std::atomic<bool>* cancel = nullptr, int* polls = nullptr) {
  std::unique_ptr<SourceReader<T>> reader = def.factory();
  RuntimeContext rt;
  rt.subtask = subtask;
  rt.parallelism = parallelism;
  rt.cancel_flag = cancel;
  RecordingWaker waker;
  reader->Open(rt, &waker);
  std::vector<T> values = PollReader<T>(*reader, waker, nullptr, std::chrono::minutes(5),
                                        nullptr, cancel, polls);
  reader->Close();
  return values;
}

}  // namespace eddy::testing
