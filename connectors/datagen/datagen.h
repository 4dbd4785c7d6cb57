// Data generator sources: a bounded integer sequence and a user-function generator
// (bounded or unbounded, optionally rate limited). Each subtask produces its own disjoint
// share of the output. A source instance is driven by one task thread; the defs and their
// factories are copyable values, safe to call from any thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <random>
#include <string>
#include <utility>

#include "api/job_builder.h"
#include "api/operator.h"
#include "api/source.h"
#include "connectors/rate_schedule.h"

namespace eddy::connectors::datagen {

/// Returns a bounded source of every integer in [from, to] (inclusive; empty if to < from).
/// Subtask i of p emits the i-th of p contiguous, near-equal sub-ranges, in increasing order.
SourceDef<int64_t> sequence(int64_t from, int64_t to);

struct GeneratorOptions {
  /// Number of records over all subtasks; -1 (any negative value) makes the source unbounded.
  int64_t count = -1;
  /// Records per second over all subtasks; 0 = as fast as downstream accepts them.
  double records_per_second = 0;
  /// Seed of the per-subtask generators; the same seed and parallelism give the same records.
  uint64_t seed = 42;
  std::string name = "DataGen";
};

namespace internal {

/// Returns the seed of subtask `subtask`'s generator: `seed` mixed with the subtask index,
/// so that neighbouring subtasks get unrelated streams.
uint64_t SubtaskSeed(uint64_t seed, int subtask);

/// A generator subtask's one split (for per-split watermarks).
inline const SplitIndex kSubtaskSplit{0};

/// Emits fn(i, rng) for the indices i ≡ subtask (mod parallelism), i < count, paced by
/// the rate schedule: when the next record is not yet due the reader asks to be woken then.
/// Its indices are one split, released at the end of a bounded count.
template <typename T, typename Fn>
class GeneratorReader final : public SourceReader<T> {
 public:
  GeneratorReader(Fn fn, GeneratorOptions opts) : fn_(std::move(fn)), opts_(std::move(opts)) {}

  void Open(RuntimeContext& ctx, SourceWaker* waker) override {
    waker_ = waker;
    subtask_ = ctx.subtask;
    parallelism_ = std::max(ctx.parallelism, 1);
    index_ = subtask_;
    rng_.seed(SubtaskSeed(opts_.seed, subtask_));
    schedule_.emplace(opts_.records_per_second / parallelism_);
    if (std::optional<std::string> position = slice_.Open(subtask_, parallelism_)) {
      // "<next index> <exhausted> <rng state>": the records depend on the rng's state.
      std::istringstream in(*position);
      int exhausted = 0;
      if (!(in >> index_ >> exhausted >> rng_)) {
        throw std::runtime_error("malformed generator position in the checkpoint");
      }
      exhausted_ = exhausted != 0;
    }
  }
  void RestoreState(std::vector<SplitState> splits) override { slice_.Restore(std::move(splits)); }

  InputStatus PollNext(ReaderOutput<T>& out) override {
    const bool bounded = opts_.count >= 0;
    constexpr int64_t kMaxIndex = std::numeric_limits<int64_t>::max();
    SplitOutput<T> split = out.ForSplit(kSubtaskSplit);
    for (int n = 0; n < SourceReader<T>::kBatchRecords; ++n) {
      if (exhausted_ || (bounded && index_ >= opts_.count)) {
        out.ReleaseSplit(kSubtaskSplit);
        return InputStatus::kEndOfInput;
      }
      if (!schedule_->Ready(waker_)) return InputStatus::kNothingAvailable;
      split.Collect(fn_(index_, rng_));
      schedule_->Advance();
      if (index_ > kMaxIndex - parallelism_) {
        exhausted_ = true;  // index space exhausted
      } else {
        index_ += parallelism_;
      }
    }
    return InputStatus::kMoreAvailable;
  }

  std::vector<SplitState> SnapshotState() override {
    std::ostringstream out;
    out << index_ << ' ' << (exhausted_ ? 1 : 0) << ' ' << rng_;
    return {slice_.Snapshot(out.str())};
  }

 private:
  Fn fn_;
  GeneratorOptions opts_;
  SourceWaker* waker_ = nullptr;
  int subtask_ = 0;
  int parallelism_ = 1;
  int64_t index_ = 0;
  bool exhausted_ = false;
  std::mt19937_64 rng_;
  std::optional<RateSchedule> schedule_;
  SubtaskSlice slice_{"generator"};
};

}  // namespace internal

/// Returns a source emitting fn(index, rng) for index = 0 .. opts.count-1 (or forever if
/// opts.count < 0). Subtask i of p generates the indices ≡ i (mod p) in increasing order,
/// with its own rng seeded from opts.seed and i; so the records depend on the parallelism.
/// With opts.records_per_second > 0 each subtask emits at rate / p.
/// `fn` is any callable T(int64_t, std::mt19937_64&); it is inlined into the reader.
template <typename T, typename Fn>
SourceDef<T> generator(Fn fn, GeneratorOptions opts) {
  SourceDef<T> def;
  def.name = opts.name;
  def.bounded = opts.count >= 0;
  def.factory = [fn = std::move(fn), opts = std::move(opts)]() -> std::unique_ptr<SourceReader<T>> {
    return std::make_unique<internal::GeneratorReader<T, Fn>>(fn, opts);
  };
  return def;
}

}  // namespace eddy::connectors::datagen
