// The window join of two keyed streams (Flink's `a.join(b).where(..).equalTo(..).window(..)`):
// for each key and each window of a tumbling or sliding assigner, every pair (left, right) of
// the two inputs' records assigned to that window goes to the join function once, when the
// window fires (event time: the watermark passes max_timestamp; processing time: the clock
// does), stamped with the window's max_timestamp. Each side keeps its records in keyed
// ListState with the window as namespace; one timer per key and window fires and clears it.
// One task thread.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "api/keyed_operator.h"
#include "api/process_function.h"
#include "api/state.h"
#include "api/windows/assigners.h"
#include "api/windows/window_operator.h"

namespace eddy {

/// What a window join function sees with each pair: JoinContext's key, watermark and side
/// outputs, the window, and timestamp() = the window's max_timestamp.
template <typename K>
class WindowJoinContext : public JoinContext<K> {
 public:
  /// The window both records were assigned to.
  const TimeWindow& window() const { return window_; }

  // Operator side.
  void SetWindow(const TimeWindow& w) {
    window_ = w;
    this->set_timestamp(w.max_timestamp());
  }

 private:
  TimeWindow window_;
};

namespace internal {

/// Runs a join function of `apply` — `R f(const A&, const B&)` (Flink's JoinFunction) or
/// `void f(const A&, const B&, Collector<R>&)` (FlatJoinFunction) — as a process function.
template <typename A, typename B, typename F>
struct ApplyJoin {
  F f;
  template <typename Ctx, typename R>
  void process_element(const A& left, const B& right, Ctx&, Collector<R>& out) {
    if constexpr (std::is_invocable_v<F&, const A&, const B&>) {
      out.collect(std::invoke(f, left, right));
    } else {
      std::invoke(f, left, right, out);
    }
  }
  void open(RuntimeContext& ctx) { OpenFunction(f, ctx); }
  void close() { CloseFunction(f); }
};

/// The output type of a join function of `apply`.
template <typename A, typename B, typename F>
struct ApplyJoinResult {
  using type = typename CollectorArg<F>::type;
};
template <typename A, typename B, typename F>
  requires std::is_invocable_v<F&, const A&, const B&>
struct ApplyJoinResult<A, B, F> {
  using type = std::decay_t<std::invoke_result_t<F&, const A&, const B&>>;
};

/// The window join operator: F has
///   void process_element(const A& left, const B& right, WindowJoinContext<K>&,
///                        Collector<Out>&)
/// and optionally open(RuntimeContext&) and close(). Assigner: tumbling or sliding, event or
/// processing time. With allowed lateness (event time) a window's records are kept until
/// max_timestamp + lateness, and a record for a window that already fired is joined at once
/// with the other side's records of it (only the new pairs are emitted).
template <typename A, typename B, typename K, typename KeyFnA, typename KeyFnB,
          typename Assigner, typename Out, typename F>
class WindowJoinOperator final
    : public KeyedJoinOperator<A, B, K, KeyFnA, KeyFnB, Out, F, WindowJoinContext<K>>,
      public WindowOperatorStats {
  using Base = KeyedJoinOperator<A, B, K, KeyFnA, KeyFnB, Out, F, WindowJoinContext<K>>;
  static constexpr bool kEventTime = Assigner::kEventTime;
  static_assert(std::is_same_v<typename Assigner::window_type, TimeWindow> && !Assigner::kMerging,
                "window join: tumbling or sliding window assigners only");

 public:
  WindowJoinOperator(Assigner assigner, int64_t allowed_lateness, KeyFnA key_a, KeyFnB key_b,
                     F f, Output<Out>* out)
      : Base(std::move(key_a), std::move(key_b), std::move(f), out),
        assigner_(std::move(assigner)),
        lateness_{allowed_lateness} {}

  void Open() override {
    KeyedStateStore store(&this->backend());
    left_ = &store.get_list_state(ListStateDescriptor<A>{"left-window"});
    right_ = &store.get_list_state(ListStateDescriptor<B>{"right-window"});
    Base::Open();
  }

  void ProcessBatch1(std::span<const StreamRecord<A>> batch) override {
    ProcessSide</*kLeft=*/true>(batch, this->key_a_, *left_, *right_);
  }
  void ProcessBatch2(std::span<const StreamRecord<B>> batch) override {
    ProcessSide</*kLeft=*/false>(batch, this->key_b_, *right_, *left_);
  }

 protected:
  void OnEventTime(const InternalTimer& timer) override {
    if constexpr (kEventTime) OnTimer(timer);
  }
  void OnProcessingTime(const InternalTimer& timer) override {
    if constexpr (!kEventTime) OnTimer(timer);
  }

 private:
  /// Adds each record to its side's list of each of its windows that is not past cleanup,
  /// registers the window's timers, and joins it at once with the other side's records of a
  /// window that already fired (within the allowed lateness).
  template <bool kLeft, typename T, typename KeyFn, typename Other>
  void ProcessSide(std::span<const StreamRecord<T>> batch, const KeyFn& key_fn,
                   ListState<T>& ours, ListState<Other>& others) {
    int64_t now = 0;
    if constexpr (!kEventTime) now = this->runtime().processing_time->CurrentProcessingTime();
    for (const StreamRecord<T>& r : batch) {
      if constexpr (kEventTime) CheckEventTimestamp(r.timestamp, "event-time window join");
      this->SetCurrentKey(key_fn, r.value);
      bool added = false;
      assigner_.assign(r.value, kEventTime ? r.timestamp : now, [&](const TimeWindow& w) {
        if (lateness_.IsWindowLate(w, this->current_watermark())) return;
        added = true;
        ours.set_current_namespace(w);
        ours.add(r.value);
        if (kEventTime && w.max_timestamp() <= this->current_watermark()) {
          others.set_current_namespace(w);
          this->context_.SetWindow(w);
          this->collector_.set_timestamp(w.max_timestamp());
          for (const Other& other : others.get()) {
            if constexpr (kLeft) {
              this->f_.process_element(r.value, other, this->context_, this->collector_);
            } else {
              this->f_.process_element(other, r.value, this->context_, this->collector_);
            }
          }
        } else {
          RegisterTimer(w, w.max_timestamp());
        }
        // Timers are deduplicated: one per key and window however many records it has.
        const int64_t cleanup = lateness_.CleanupTime(w);
        if (cleanup != w.max_timestamp()) RegisterTimer(w, cleanup);
      });
      if (!added) {  // every window of the record is past its cleanup time
        ++late_records_;
        ++late_records_dropped_;
      }
    }
    if constexpr (!kEventTime) this->ScheduleProcessingTime();
  }

  /// A window's timer: at max_timestamp it fires (every pair), at the cleanup time (the same
  /// timer without allowed lateness) both sides' records of it are dropped.
  void OnTimer(const InternalTimer& timer) {
    const TimeWindow w = timer.namespace_as<TimeWindow>();
    left_->set_current_namespace(w);
    right_->set_current_namespace(w);
    if (timer.time == w.max_timestamp()) {
      const std::vector<A> lefts = left_->get();
      const std::vector<B> rights = lefts.empty() ? std::vector<B>{} : right_->get();
      if (!rights.empty()) {
        this->key_ = timer.key_as<K>();
        this->context_.SetWindow(w);
        this->collector_.set_timestamp(w.max_timestamp());
        for (const A& l : lefts) {
          for (const B& r : rights) {
            this->f_.process_element(l, r, this->context_, this->collector_);
          }
        }
      }
    }
    if (timer.time == lateness_.CleanupTime(w)) {
      left_->clear();
      right_->clear();
    }
  }

  void RegisterTimer(const TimeWindow& w, int64_t time) {
    if (time == std::numeric_limits<int64_t>::max()) return;  // never: the window never ends
    if constexpr (kEventTime) {
      this->timers().register_event_time_timer(w, time);
    } else {
      this->timers().register_processing_time_timer(w, time);
    }
  }

  Assigner assigner_;
  WindowLateness<kEventTime> lateness_;
  ListState<A>* left_ = nullptr;
  ListState<B>* right_ = nullptr;
};

}  // namespace internal
}  // namespace eddy
