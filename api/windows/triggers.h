// Window triggers (Flink's Trigger): decide when a window's contents are emitted (FIRE) and
// dropped (PURGE). Event-time (default of event-time assigners), processing-time, count,
// continuous event-time, purging, never. A trigger is a value inside the window operator,
// called inline with a TriggerContext that scopes its timers and state to one key and
// window; trigger state lives in the operator's keyed state with the window as namespace.
// One task thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "api/operator.h"
#include "api/state.h"
#include "api/timer_service.h"
#include "api/windows/assigners.h"

namespace eddy {

/// What a trigger asks of the window operator.
enum class TriggerResult : uint8_t { kContinue = 0, kFire = 1, kPurge = 2, kFireAndPurge = 3 };
inline bool IsFire(TriggerResult r) { return (static_cast<uint8_t>(r) & 1) != 0; }
inline bool IsPurge(TriggerResult r) { return (static_cast<uint8_t>(r) & 2) != 0; }

/// A trigger's view of the operator: time, timers and state of the current key and window.
template <typename W>
class TriggerContext {
 public:
  TriggerContext(KeyedStateBackend* backend, InternalTimerService* timers, const StreamOperator* op)
      : backend_(backend), timers_(timers), op_(op) {}

  const W& window() const { return window_; }
  /// Returns true while handling the first record of a window that has no contents yet
  /// (the operator registers timers only then: they are still pending for later records).
  bool first_in_window() const { return first_in_window_; }
  EventTime current_watermark() const { return op_->current_watermark(); }
  int64_t current_processing_time() const {
    return op_->runtime().processing_time->CurrentProcessingTime();
  }
  void register_event_time_timer(int64_t time) {
    timers_->register_event_time_timer(window_, time);
  }
  void delete_event_time_timer(int64_t time) { timers_->delete_event_time_timer(window_, time); }
  void register_processing_time_timer(int64_t time) {
    timers_->register_processing_time_timer(window_, time);
    processing_timer_registered_ = true;
  }
  void delete_processing_time_timer(int64_t time) {
    timers_->delete_processing_time_timer(window_, time);
  }
  KeyedStateBackend& backend() { return *backend_; }

  // Operator side.
  void set_window(const W& w, bool first = false) {
    window_ = w;
    first_in_window_ = first;
  }
  /// Returns and resets whether a processing-time timer was registered (to schedule it).
  bool TakeProcessingTimerRegistered() {
    return std::exchange(processing_timer_registered_, false);
  }

 private:
  KeyedStateBackend* backend_;
  InternalTimerService* timers_;
  const StreamOperator* op_;
  W window_{};
  bool first_in_window_ = false;
  bool processing_timer_registered_ = false;
};

namespace internal {
/// Fetches a trigger's per-window state handle; a name clash is a bug of ours.
template <typename V>
ValueState<V>* TriggerState(KeyedStateBackend& backend, const char* name) {
  auto state = backend.get_state(ValueStateDescriptor<V>{name});
  EDDY_CHECK(state.ok()) << state.status();
  return *state;
}
}  // namespace internal

/// Fires once the watermark passes the window's end; a record for a window the watermark
/// already passed (allowed lateness) fires it again at once.
class EventTimeTrigger {
 public:
  static EventTimeTrigger create() { return {}; }
  void open(KeyedStateBackend&) {}
  template <typename W>
  TriggerResult on_element(EventTime, TriggerContext<W>& ctx) {
    const int64_t max_ts = ctx.window().max_timestamp();
    if (max_ts <= ctx.current_watermark()) return TriggerResult::kFire;
    if (ctx.first_in_window()) ctx.register_event_time_timer(max_ts);
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult on_event_time(int64_t time, TriggerContext<W>& ctx) {
    return time == ctx.window().max_timestamp() ? TriggerResult::kFire : TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult on_processing_time(int64_t, TriggerContext<W>&) {
    return TriggerResult::kContinue;
  }
  template <typename W>
  void on_merge(std::span<const W>, TriggerContext<W>& ctx) {
    const int64_t max_ts = ctx.window().max_timestamp();
    if (max_ts > ctx.current_watermark()) ctx.register_event_time_timer(max_ts);
  }
  template <typename W>
  void clear(TriggerContext<W>& ctx) {
    ctx.delete_event_time_timer(ctx.window().max_timestamp());
  }
};

/// Fires when processing time reaches the window's end.
class ProcessingTimeTrigger {
 public:
  static ProcessingTimeTrigger create() { return {}; }
  void open(KeyedStateBackend&) {}
  template <typename W>
  TriggerResult on_element(EventTime, TriggerContext<W>& ctx) {
    if (ctx.first_in_window()) ctx.register_processing_time_timer(ctx.window().max_timestamp());
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult on_event_time(int64_t, TriggerContext<W>&) {
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult on_processing_time(int64_t, TriggerContext<W>&) {
    return TriggerResult::kFire;
  }
  template <typename W>
  void on_merge(std::span<const W>, TriggerContext<W>& ctx) {
    const int64_t max_ts = ctx.window().max_timestamp();
    if (max_ts > ctx.current_processing_time()) ctx.register_processing_time_timer(max_ts);
  }
  template <typename W>
  void clear(TriggerContext<W>& ctx) {
    ctx.delete_processing_time_timer(ctx.window().max_timestamp());
  }
};

/// Never fires (the default of GlobalWindows).
class NeverTrigger {
 public:
  void open(KeyedStateBackend&) {}
  template <typename W>
  TriggerResult on_element(EventTime, TriggerContext<W>&) {
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult on_event_time(int64_t, TriggerContext<W>&) {
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult on_processing_time(int64_t, TriggerContext<W>&) {
    return TriggerResult::kContinue;
  }
  template <typename W>
  void on_merge(std::span<const W>, TriggerContext<W>&) {}
  template <typename W>
  void clear(TriggerContext<W>&) {}
};

/// Fires every `n` records of a window (the count restarts after each firing).
class CountTrigger {
 public:
  static CountTrigger of(int64_t n) {
    if (n <= 0) throw std::invalid_argument("CountTrigger::of(n) needs n > 0");
    CountTrigger t;
    t.max_count_ = n;
    return t;
  }
  void open(KeyedStateBackend& backend) {
    count_ = internal::TriggerState<int64_t>(backend, "window-trigger-count");
  }
  template <typename W>
  TriggerResult on_element(EventTime, TriggerContext<W>& ctx) {
    count_->set_current_namespace(ctx.window());
    const int64_t count = count_->value().value_or(0) + 1;
    if (count >= max_count_) {
      count_->clear();
      return TriggerResult::kFire;
    }
    count_->update(count);
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult on_event_time(int64_t, TriggerContext<W>&) {
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult on_processing_time(int64_t, TriggerContext<W>&) {
    return TriggerResult::kContinue;
  }
  /// Adds the counts of the merged windows into the merge result's.
  template <typename W>
  void on_merge(std::span<const W> merged, TriggerContext<W>& ctx) {
    int64_t sum = 0;
    for (const W& w : merged) {
      count_->set_current_namespace(w);
      sum += count_->value().value_or(0);
    }
    count_->set_current_namespace(ctx.window());
    sum += count_->value().value_or(0);
    if (sum > 0) count_->update(sum);
  }
  template <typename W>
  void clear(TriggerContext<W>& ctx) {
    count_->set_current_namespace(ctx.window());
    count_->clear();
  }
  int64_t max_count() const { return max_count_; }

 private:
  int64_t max_count_ = 1;
  ValueState<int64_t>* count_ = nullptr;
};

/// Fires every `interval` of event time while the window is open (timers at multiples of the
/// interval, the first at the first record's time rounded down), and at the window's end.
class ContinuousEventTimeTrigger {
 public:
  static ContinuousEventTimeTrigger of(std::chrono::milliseconds interval) {
    if (interval.count() <= 0)
      throw std::invalid_argument("continuous trigger interval must be positive");
    ContinuousEventTimeTrigger t;
    t.interval_ = interval.count();
    return t;
  }
  void open(KeyedStateBackend& backend) {
    next_fire_ = internal::TriggerState<int64_t>(backend, "window-trigger-next-fire");
  }
  template <typename W>
  TriggerResult on_element(EventTime timestamp, TriggerContext<W>& ctx) {
    const int64_t max_ts = ctx.window().max_timestamp();
    if (max_ts <= ctx.current_watermark()) return TriggerResult::kFire;
    ctx.register_event_time_timer(max_ts);
    next_fire_->set_current_namespace(ctx.window());
    if (!next_fire_->value()) RegisterNext(timestamp - timestamp % interval_, ctx);
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult on_event_time(int64_t time, TriggerContext<W>& ctx) {
    if (time == ctx.window().max_timestamp()) return TriggerResult::kFire;
    next_fire_->set_current_namespace(ctx.window());
    const std::optional<int64_t> next = next_fire_->value();
    if (next && *next == time) {
      RegisterNext(time + interval_, ctx);
      return TriggerResult::kFire;
    }
    return TriggerResult::kContinue;
  }
  template <typename W>
  TriggerResult on_processing_time(int64_t, TriggerContext<W>&) {
    return TriggerResult::kContinue;
  }
  /// Keeps the earliest next firing of the merged windows.
  template <typename W>
  void on_merge(std::span<const W> merged, TriggerContext<W>& ctx) {
    std::optional<int64_t> earliest;
    for (const W& w : merged) {
      next_fire_->set_current_namespace(w);
      if (auto t = next_fire_->value()) earliest = std::min(earliest.value_or(*t), *t);
    }
    if (earliest) RegisterNext(*earliest, ctx);
  }
  template <typename W>
  void clear(TriggerContext<W>& ctx) {
    next_fire_->set_current_namespace(ctx.window());
    if (auto t = next_fire_->value()) ctx.delete_event_time_timer(*t);
    next_fire_->clear();
  }

 private:
  template <typename W>
  void RegisterNext(int64_t time, TriggerContext<W>& ctx) {
    const int64_t next = std::min(time, ctx.window().max_timestamp());
    next_fire_->set_current_namespace(ctx.window());
    next_fire_->update(next);
    ctx.register_event_time_timer(next);
  }
  int64_t interval_ = 1;
  ValueState<int64_t>* next_fire_ = nullptr;
};

/// Turns every FIRE of `Inner` into FIRE_AND_PURGE: a window's contents are dropped after
/// each firing, so the next firing sees only what came since.
template <typename Inner>
class PurgingTrigger {
 public:
  static PurgingTrigger of(Inner inner) { return PurgingTrigger(std::move(inner)); }
  explicit PurgingTrigger(Inner inner) : inner_(std::move(inner)) {}
  void open(KeyedStateBackend& backend) { inner_.open(backend); }
  template <typename W>
  TriggerResult on_element(EventTime ts, TriggerContext<W>& ctx) {
    return Purge(inner_.on_element(ts, ctx));
  }
  template <typename W>
  TriggerResult on_event_time(int64_t time, TriggerContext<W>& ctx) {
    return Purge(inner_.on_event_time(time, ctx));
  }
  template <typename W>
  TriggerResult on_processing_time(int64_t time, TriggerContext<W>& ctx) {
    return Purge(inner_.on_processing_time(time, ctx));
  }
  template <typename W>
  void on_merge(std::span<const W> merged, TriggerContext<W>& ctx) {
    inner_.on_merge(merged, ctx);
  }
  template <typename W>
  void clear(TriggerContext<W>& ctx) {
    inner_.clear(ctx);
  }

 private:
  static TriggerResult Purge(TriggerResult r) {
    return IsFire(r) ? TriggerResult::kFireAndPurge : r;
  }
  Inner inner_;
};

}  // namespace eddy
