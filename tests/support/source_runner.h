// Test support: runs one subtask of a source directly (no cluster) and collects what it
// emits. Single-threaded, except that `cancel` may be set from another thread.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "api/job_builder.h"
#include "api/operator.h"

namespace eddy::testing {

template <typename T>
class CollectingOutput final : public Output<T> {
 public:
  void Emit(const T& value) override { records.push_back(value); }
  std::vector<T> records;
};

/// Runs subtask `subtask` of `parallelism` of the source to its end and returns its records;
/// counts the source's polls into `polls` if given.
template <typename T>
std::vector<T> RunSubtask(const SourceDef<T>& def, int subtask, int parallelism,
                          const std::atomic<bool>* cancel = nullptr, int* polls = nullptr) {
  std::unique_ptr<SourceFunction<T>> source = def.factory();
  RuntimeContext rt;
  rt.subtask = subtask;
  rt.parallelism = parallelism;
  rt.cancel_flag = cancel;
  if (polls != nullptr) rt.poll = [polls] { ++*polls; };
  CollectingOutput<T> out;
  source->Open(rt);
  SourceContext<T> ctx(&out, &rt);
  source->Run(ctx);
  source->Finish();
  source->Close();
  return out.records;
}

}  // namespace eddy::testing
