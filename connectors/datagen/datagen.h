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
#include <random>
#include <string>
#include <thread>
#include <utility>

#include "api/job_builder.h"
#include "api/operator.h"

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

using Clock = std::chrono::steady_clock;

/// Longest single sleep of a rate-limited source, so that cancellation stays prompt.
inline constexpr Clock::duration kMaxSleepSlice = std::chrono::milliseconds(50);

/// Returns the seed of subtask `subtask`'s generator: `seed` mixed with the subtask index,
/// so that neighbouring subtasks get unrelated streams.
uint64_t SubtaskSeed(uint64_t seed, int subtask);

/// Paces records at a fixed rate on the steady clock: record k is due at start + k / rate.
/// A source that falls behind (backpressure) catches up in a burst of at most
/// kMaxCatchUp worth of records, then the schedule restarts from now.
class RateSchedule {
 public:
  static constexpr Clock::duration kMaxCatchUp = std::chrono::seconds(1);

  /// Starts the schedule now; `per_second` <= 0 means unlimited.
  explicit RateSchedule(double per_second);

  bool limited() const { return per_second_ > 0; }
  /// Returns when the next record may be emitted (re-anchoring if too far behind at `now`).
  Clock::time_point NextDue(Clock::time_point now);
  /// Counts one emitted record.
  void Advance() { ++emitted_; }

 private:
  double per_second_;
  Clock::time_point start_;
  uint64_t emitted_ = 0;
};

/// Sleeps until `deadline` in slices of at most kMaxSleepSlice, letting the task flush
/// (ctx.idle()) between slices. Returns false if the job was cancelled meanwhile.
template <typename T>
bool WaitUntil(SourceContext<T>& ctx, Clock::time_point deadline) {
  while (true) {
    if (ctx.cancelled()) return false;
    Clock::time_point now = Clock::now();
    if (now >= deadline) return true;
    ctx.idle();
    std::this_thread::sleep_for(std::min<Clock::duration>(deadline - now, kMaxSleepSlice));
  }
}

/// Emits fn(i, rng) for the indices i ≡ subtask (mod parallelism), i < count.
template <typename T>
class GeneratorSource final : public SourceFunction<T> {
 public:
  using Fn = std::function<T(int64_t index, std::mt19937_64& rng)>;
  GeneratorSource(Fn fn, GeneratorOptions opts) : fn_(std::move(fn)), opts_(std::move(opts)) {}

  void Open(RuntimeContext& ctx) override {
    subtask_ = ctx.subtask;
    parallelism_ = std::max(ctx.parallelism, 1);
    rng_.seed(SubtaskSeed(opts_.seed, subtask_));
  }

  void Run(SourceContext<T>& ctx) override {
    RateSchedule schedule(opts_.records_per_second / parallelism_);
    const bool bounded = opts_.count >= 0;
    constexpr int64_t kMaxIndex = std::numeric_limits<int64_t>::max();
    for (int64_t index = subtask_; !bounded || index < opts_.count;) {
      if (ctx.cancelled()) return;
      if (schedule.limited() && !WaitUntil(ctx, schedule.NextDue(Clock::now()))) return;
      ctx.emit(fn_(index, rng_));
      schedule.Advance();
      if (index > kMaxIndex - parallelism_) return;  // index space exhausted
      index += parallelism_;
    }
  }

 private:
  Fn fn_;
  GeneratorOptions opts_;
  int subtask_ = 0;
  int parallelism_ = 1;
  std::mt19937_64 rng_;
};

}  // namespace internal

/// Returns a source emitting fn(index, rng) for index = 0 .. opts.count-1 (or forever if
/// opts.count < 0). Subtask i of p generates the indices ≡ i (mod p) in increasing order,
/// with its own rng seeded from opts.seed and i; so the records depend on the parallelism.
/// With opts.records_per_second > 0 each subtask emits at rate / p.
template <typename T>
SourceDef<T> generator(std::function<T(int64_t index, std::mt19937_64& rng)> fn,
                       GeneratorOptions opts) {
  SourceDef<T> def;
  def.name = opts.name;
  def.bounded = opts.count >= 0;
  def.factory = [fn = std::move(fn), opts = std::move(opts)]() -> std::unique_ptr<SourceFunction<T>> {
    return std::make_unique<internal::GeneratorSource<T>>(fn, opts);
  };
  return def;
}

}  // namespace eddy::connectors::datagen
