// The window operator (Flink's WindowOperator): assigns each record of a keyed stream to its
// windows, keeps one accumulator per key and window in keyed state (namespace = window),
// asks the trigger when to emit, cleans a window's state at max_timestamp + allowed lateness
// and sends records later than that to the late side output. Session windows merge (state,
// trigger state and timers move to the merged window). Templated on the assigner, trigger,
// accumulation and window function, so every user function is inlined. One task thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "api/datastream.h"
#include "api/keyed_operator.h"
#include "api/operator.h"
#include "api/state.h"
#include "api/windows/assigners.h"
#include "api/windows/triggers.h"

namespace eddy {

/// Counts of a window operator, readable by tests and metrics.
class WindowOperatorStats {
 public:
  virtual ~WindowOperatorStats() = default;
  /// Records later than their windows' cleanup time that had no side output to go to.
  uint64_t late_records_dropped() const { return late_records_dropped_; }
  /// Records later than their windows' cleanup time (side output or dropped).
  uint64_t late_records() const { return late_records_; }

 protected:
  uint64_t late_records_dropped_ = 0;
  uint64_t late_records_ = 0;
};

namespace internal {

/// Accumulation with an AggregateFunction: one accumulator per window.
template <AggregateFunction Agg>
struct AggregateAccumulation {
  using acc_type = typename Agg::accumulator_type;
  using result_type = typename Agg::output_type;
  Agg agg;
  template <typename T>
  void Add(const T& value, std::optional<acc_type>& acc) const {
    if (!acc) acc.emplace(agg.create_accumulator());
    agg.add(value, *acc);
  }
  acc_type Merge(const acc_type& a, const acc_type& b) const { return agg.merge(a, b); }
  result_type Result(const acc_type& acc) const { return agg.get_result(acc); }
};

/// Accumulation with a reduce function T f(const T&, const T&): the accumulator is a T.
template <typename T, typename F>
struct ReduceAccumulation {
  using acc_type = T;
  using result_type = T;
  F f;
  void Add(const T& value, std::optional<T>& acc) const {
    if (acc) {
      *acc = std::invoke(f, std::as_const(*acc), value);
    } else {
      acc.emplace(value);
    }
  }
  T Merge(const T& a, const T& b) const { return std::invoke(f, a, b); }
  const T& Result(const T& acc) const { return acc; }
};

/// No window function: the window's result is the output.
struct PassResult {};

/// Returns a + b, or INT64_MAX when that overflows (cleanup time of far windows).
inline int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t out = 0;
  return __builtin_add_overflow(a, b, &out) ? std::numeric_limits<int64_t>::max() : out;
}

/// When a window's state is cleaned up and what is late (Flink's WindowOperator): event time
/// at max_timestamp + allowed lateness (INT64_MAX: never), processing time at max_timestamp.
template <bool kEventTime>
struct WindowLateness {
  int64_t allowed = 0;

  template <typename W>
  int64_t CleanupTime(const W& w) const {
    if constexpr (kEventTime) return SaturatingAdd(w.max_timestamp(), allowed);
    return w.max_timestamp();
  }
  /// Returns true if window `w` is past its cleanup time at `watermark` (event time only).
  template <typename W>
  bool IsWindowLate(const W& w, EventTime watermark) const {
    return kEventTime && CleanupTime(w) <= watermark;
  }
  /// Returns true if a record of time `ts` is late for every window it could belong to.
  bool IsElementLate(EventTime ts, EventTime watermark) const {
    return kEventTime && SaturatingAdd(ts, allowed) <= watermark;
  }
};

/// Fails the task if an event-time window operator (`what`) got a record without a timestamp.
inline void CheckEventTimestamp(EventTime ts, const char* what) {
  if (ts == kNoTimestamp) {
    throw std::invalid_argument(
        std::string(what) +
        " got a record without a timestamp: assign timestamps and watermarks at the source or "
        "with assign_timestamps() first");
  }
}

/// Window operator over records T keyed by KeyFn (key type K). Acc is an
/// AggregateAccumulation or ReduceAccumulation; WinFn is PassResult or a function
/// `(const K&, const W&, const Result&, Collector<Out>&)`.
template <typename T, typename K, typename KeyFn, typename Assigner, typename Trigger, typename Acc,
          typename WinFn, typename Out>
class WindowOperator final : public KeyedOperator<OneInputStreamOperator<T>>,
                             public WindowOperatorStats {
  using W = typename Assigner::window_type;
  using AccT = typename Acc::acc_type;
  static constexpr bool kEventTime = Assigner::kEventTime;
  static constexpr bool kMerging = Assigner::kMerging;
  /// Sliding event-time windows with the default trigger keep panes: one accumulator per
  /// key and slide, merged when a window fires (when size is a multiple of slide).
  static constexpr bool kPanes = std::is_same_v<Assigner, SlidingEventTimeWindows> &&
                                 std::is_same_v<Trigger, EventTimeTrigger>;

 public:
  struct Options {
    int64_t allowed_lateness = 0;
    std::optional<std::string> late_tag;
  };

  WindowOperator(KeyFn key_fn, Assigner assigner, Trigger trigger, Acc acc, WinFn win_fn,
                 Options options, Output<Out>* out)
      : key_fn_(std::move(key_fn)),
        assigner_(std::move(assigner)),
        trigger_(std::move(trigger)),
        acc_(std::move(acc)),
        win_fn_(std::move(win_fn)),
        options_(std::move(options)),
        lateness_{options_.allowed_lateness},
        out_(out),
        collector_(out) {}

  void InitializeState(const StateInitContext& init) override {
    if constexpr (kPanes) panes_ = assigner_.size % assigner_.slide == 0;
    KeyedOperator<OneInputStreamOperator<T>>::InitializeState(init);
    KeyedStateBackend& backend = this->backend();
    contents_ = Must(backend.get_state(ValueStateDescriptor<AccT>{"window-contents"}));
    if constexpr (kMerging) {
      sessions_ = Must(backend.get_state(ValueStateDescriptor<std::vector<W>>{"window-sessions"}));
    }
    trigger_.open(backend);
    ctx_.emplace(&backend, &this->timers(), this);
  }
  void Open() override {
    if (options_.late_tag) late_out_ = this->FindSideOutput(*options_.late_tag);
    OpenFunction(win_fn_, this->runtime());
  }
  void Close() override {
    CloseFunction(win_fn_);
    KeyedOperator<OneInputStreamOperator<T>>::Close();
  }

  void ProcessBatch(std::span<const StreamRecord<T>> batch) override {
    int64_t now = 0;
    if constexpr (!kEventTime) now = this->runtime().processing_time->CurrentProcessingTime();
    for (const StreamRecord<T>& r : batch) {
      if constexpr (kEventTime) CheckEventTimestamp(r.timestamp, "event-time window");
      decltype(auto) key = std::invoke(key_fn_, r.value);
      this->backend().set_current_key(key);
      const int64_t assign_time = kEventTime ? r.timestamp : now;
      bool skipped = true;
      if constexpr (kPanes) {
        if (panes_) {
          if (!AddToPane(key, r) && IsElementLate(r.timestamp)) EmitLate(r);
          continue;
        }
      }
      assigner_.assign(r.value, assign_time, [&](const W& w) {
        if constexpr (kMerging) {
          const std::optional<W> actual = MergeIn(w);
          if (actual) skipped = !AddToWindow(key, *actual, r);
        } else {
          skipped = !AddToWindow(key, w, r) && skipped;
        }
      });
      if (skipped && IsElementLate(r.timestamp)) EmitLate(r);
    }
    if (ctx_->TakeProcessingTimerRegistered()) this->ScheduleProcessingTime();
  }

 protected:
  void OnEventTime(const InternalTimer& timer) override { OnTimer(timer, /*event_time=*/true); }
  void OnProcessingTime(const InternalTimer& timer) override {
    OnTimer(timer, /*event_time=*/false);
    ctx_->TakeProcessingTimerRegistered();  // the keyed operator reschedules after firing
  }

 private:
  template <typename S>
  static S* Must(absl::StatusOr<S*> s) {
    EDDY_CHECK(s.ok()) << s.status();
    return *s;
  }

  /// Adds `r` to window `w` of the current key and runs the trigger; returns false if the
  /// window is past its cleanup time (the record is skipped for it).
  template <typename Key>
  bool AddToWindow(const Key& key, const W& w, const StreamRecord<T>& r) {
    if (IsWindowLate(w)) return false;
    contents_->set_current_namespace(w);
    std::optional<AccT> acc = contents_->value();
    const bool first = !acc.has_value();
    acc_.Add(r.value, acc);
    contents_->update(*acc);
    ctx_->set_window(w, first);
    const TriggerResult result = trigger_.on_element(r.timestamp, *ctx_);
    if (IsFire(result)) Emit(key, w, *acc);
    if (IsPurge(result)) contents_->clear();
    // Timers stay registered while a window has contents (only clearing the window deletes
    // them), so the cleanup timer is registered with the window's first record only.
    if (first) RegisterCleanupTimer(w);
    return true;
  }

  /// Adds the new session window `w` of the current key to its set, merging it with every
  /// window it intersects: contents merge (Acc::Merge), the trigger merges its state and
  /// timers, the merged-away windows' timers are deleted. Returns the window the record
  /// belongs to, or nullopt if it is late (a new window past its cleanup time).
  std::optional<W> MergeIn(const W& w) {
    sessions_->clear_namespace();
    std::vector<W> set = sessions_->value().value_or(std::vector<W>{});
    W result = w;
    merged_.clear();
    for (const W& existing : set) {
      if (existing.intersects(w)) {
        merged_.push_back(existing);
        result = result.cover(existing);
      }
    }
    if (merged_.size() == 1 && merged_[0] == result) return result;  // inside a session
    if (merged_.empty()) {
      if (IsWindowLate(result)) return std::nullopt;
      set.push_back(result);
      sessions_->update(set);
      return result;
    }
    std::erase_if(set, [&](const W& x) { return x.intersects(w); });
    set.push_back(result);
    sessions_->update(set);
    std::optional<AccT> acc;
    for (const W& m : merged_) {
      contents_->set_current_namespace(m);
      if (std::optional<AccT> part = contents_->value()) {
        acc = acc ? acc_.Merge(*acc, *part) : std::move(part);
        contents_->clear();
      }
    }
    ctx_->set_window(result);
    trigger_.on_merge(std::span<const W>(merged_), *ctx_);
    for (const W& m : merged_) {
      ctx_->set_window(m);
      trigger_.clear(*ctx_);
      DeleteCleanupTimer(m);
    }
    if (acc) {
      contents_->set_current_namespace(result);
      contents_->update(*acc);
    }
    RegisterCleanupTimer(result);
    return result;
  }

  // ---- Panes (sliding event-time windows, default trigger) ----------------------------------
  // A pane is [start, start + slide); the size/slide windows that hold it end at pane.end,
  // pane.end + slide, ..., pane.start + size. Each record updates one pane accumulator; a
  // window fires by merging its panes. Timers form a chain per key: a new pane registers the
  // timer of the first window holding it that is not yet due (namespace: the window), and a
  // firing window registers the next window's timer while any of its panes but the first has
  // contents, so each window with contents fires once and a record costs no timer access
  // unless it opens a pane. A pane is dropped when the last window holding it (the one
  // starting with it) fires, or with allowed lateness at that window's cleanup time (a timer
  // with the pane as namespace). A record for a window that already fired but is not yet
  // cleaned up fires it again at once, as EventTimeTrigger does.

  template <typename Key>
  bool AddToPane(const Key& key, const StreamRecord<T>& r) {
    const int64_t size = assigner_.size;
    const int64_t slide = assigner_.slide;
    const int64_t pane_start = WindowStart(r.timestamp, assigner_.offset, slide);
    const TimeWindow pane{pane_start, pane_start + slide};
    const EventTime wm = this->current_watermark();
    const int64_t pane_cleanup = PaneCleanupTime(pane);
    if (pane_cleanup <= wm) return false;
    contents_->set_current_namespace(pane);
    std::optional<AccT> acc = contents_->value();
    const bool first = !acc.has_value();
    acc_.Add(r.value, acc);
    contents_->update(*acc);
    int64_t end = pane.end;
    for (; end <= pane_start + size && end - 1 <= wm; end += slide) {
      const TimeWindow w{end - size, end};
      if (CleanupTime(w) > wm) FireFromPanes(key, w, /*chain=*/false);
    }
    if (first) {
      if (end <= pane_start + size) {
        this->timers().register_event_time_timer(TimeWindow{end - size, end}, end - 1);
      }
      if (options_.allowed_lateness > 0 && pane_cleanup != std::numeric_limits<int64_t>::max()) {
        this->timers().register_event_time_timer(pane, pane_cleanup);
      }
    }
    return true;
  }

  /// Emits window `w` from its panes; with `chain`, registers the next window's timer if it
  /// will have contents from `w`'s panes.
  template <typename Key>
  void FireFromPanes(const Key& key, const TimeWindow& w, bool chain) {
    std::optional<AccT> acc;
    bool rest_has_contents = false;
    for (int64_t start = w.start; start < w.end; start += assigner_.slide) {
      contents_->set_current_namespace(TimeWindow{start, start + assigner_.slide});
      if (std::optional<AccT> part = contents_->value()) {
        acc = acc ? acc_.Merge(*acc, *part) : std::move(part);
        rest_has_contents = rest_has_contents || start != w.start;
      }
    }
    if (acc) Emit(key, w, *acc);
    if (chain && rest_has_contents) {
      const TimeWindow next{w.start + assigner_.slide, w.end + assigner_.slide};
      this->timers().register_event_time_timer(next, next.max_timestamp());
    }
  }

  void OnPaneTimer(const InternalTimer& timer) {
    const TimeWindow w = timer.namespace_as<TimeWindow>();
    const int64_t length = w.end - w.start;
    if (length == assigner_.size && timer.time == w.max_timestamp()) {
      FireFromPanes(timer.key_as<K>(), w, /*chain=*/true);
      if (options_.allowed_lateness == 0) {  // the last window of its first pane
        contents_->set_current_namespace(TimeWindow{w.start, w.start + assigner_.slide});
        contents_->clear();
      }
    }
    if (length == assigner_.slide && options_.allowed_lateness > 0 &&
        timer.time == PaneCleanupTime(w)) {
      contents_->set_current_namespace(w);
      contents_->clear();
    }
  }

  int64_t PaneCleanupTime(const TimeWindow& pane) const {
    return SaturatingAdd(pane.start + assigner_.size - 1, options_.allowed_lateness);
  }

  // ---- Timers ------------------------------------------------------------------------------

  void OnTimer(const InternalTimer& timer, bool event_time) {
    if constexpr (kPanes) {
      if (panes_) return OnPaneTimer(timer);
    }
    const W w = timer.namespace_as<W>();
    if constexpr (kMerging) {
      // A timer of a window merged away is deleted at the merge; this guards the rest.
      sessions_->clear_namespace();
      std::optional<std::vector<W>> set = sessions_->value();
      if (!set || std::find(set->begin(), set->end(), w) == set->end()) return;
    }
    ctx_->set_window(w);
    const TriggerResult result = event_time ? trigger_.on_event_time(timer.time, *ctx_)
                                            : trigger_.on_processing_time(timer.time, *ctx_);
    contents_->set_current_namespace(w);
    if (IsFire(result)) {
      if (std::optional<AccT> acc = contents_->value()) Emit(timer.key_as<K>(), w, *acc);
    }
    if (IsPurge(result)) contents_->clear();
    if (event_time == kEventTime && timer.time == CleanupTime(w)) ClearAllState(w);
  }

  /// Drops the window's contents, trigger state and timers (and its session).
  void ClearAllState(const W& w) {
    contents_->set_current_namespace(w);
    contents_->clear();
    ctx_->set_window(w);
    trigger_.clear(*ctx_);
    if constexpr (kMerging) {
      sessions_->clear_namespace();
      std::vector<W> set = sessions_->value().value_or(std::vector<W>{});
      std::erase(set, w);
      if (set.empty()) {
        sessions_->clear();
      } else {
        sessions_->update(set);
      }
    }
  }

  template <typename Key>
  void Emit(const Key& key, const W& w, const AccT& acc) {
    const EventTime ts = w.max_timestamp();
    if constexpr (std::is_same_v<WinFn, PassResult>) {
      out_->Collect(acc_.Result(acc), ts);
    } else {
      collector_.set_timestamp(ts);
      std::invoke(win_fn_, key, w, acc_.Result(acc), collector_);
    }
  }

  void EmitLate(const StreamRecord<T>& r) {
    ++late_records_;
    if (late_out_ != nullptr) {
      OutputAs<T>(late_out_)->Collect(r.value, r.timestamp);
    } else {
      ++late_records_dropped_;
    }
  }

  int64_t CleanupTime(const W& w) const { return lateness_.CleanupTime(w); }
  bool IsWindowLate(const W& w) const {
    return lateness_.IsWindowLate(w, this->current_watermark());
  }
  bool IsElementLate(EventTime ts) const {
    return lateness_.IsElementLate(ts, this->current_watermark());
  }
  void RegisterCleanupTimer(const W& w) {
    const int64_t t = CleanupTime(w);
    if (t == std::numeric_limits<int64_t>::max()) return;
    // EventTimeTrigger has registered this very timer (a window past it is late, skipped).
    if (std::is_same_v<Trigger, EventTimeTrigger> && t == w.max_timestamp()) return;
    if constexpr (kEventTime) {
      this->timers().register_event_time_timer(w, t);
    } else {
      this->timers().register_processing_time_timer(w, t);
      this->ScheduleProcessingTime();
    }
  }
  void DeleteCleanupTimer(const W& w) {
    const int64_t t = CleanupTime(w);
    if (t == std::numeric_limits<int64_t>::max()) return;
    if constexpr (kEventTime) {
      this->timers().delete_event_time_timer(w, t);
    } else {
      this->timers().delete_processing_time_timer(w, t);
    }
  }

  KeyFn key_fn_;
  Assigner assigner_;
  Trigger trigger_;
  Acc acc_;
  WinFn win_fn_;
  Options options_;
  WindowLateness<kEventTime> lateness_;
  Output<Out>* out_;
  Collector<Out> collector_;
  OutputBase* late_out_ = nullptr;
  ValueState<AccT>* contents_ = nullptr;
  ValueState<std::vector<W>>* sessions_ = nullptr;
  std::optional<TriggerContext<W>> ctx_;
  std::vector<W> merged_;
  bool panes_ = false;
};

}  // namespace internal
}  // namespace eddy
