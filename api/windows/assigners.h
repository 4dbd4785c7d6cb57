// Window assigners (Flink's WindowAssigner): which windows a record belongs to. TimeWindow is
// [start, end) with max_timestamp() = end - 1; GlobalWindow is the one window of everything.
// Tumbling, sliding and session (merging, fixed or per-record gap) on event or processing
// time, and GlobalWindows. Assigners are small values copied into the window operator and
// called inline (assign() takes the emit callback as a template parameter: no allocation per
// record). Stateless; thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "api/serde.h"
#include "api/stream_element.h"

namespace eddy {

/// A window of time [start, end); records with start <= timestamp < end belong to it.
struct TimeWindow {
  int64_t start = 0;
  int64_t end = 0;

  /// Returns the largest timestamp that belongs to the window (end - 1).
  int64_t max_timestamp() const { return end - 1; }
  /// Returns true if the windows overlap or touch (Flink's TimeWindow.intersects: sessions
  /// that touch merge).
  bool intersects(const TimeWindow& o) const { return start <= o.end && end >= o.start; }
  /// Returns the smallest window that covers both.
  TimeWindow cover(const TimeWindow& o) const {
    return TimeWindow{std::min(start, o.start), std::max(end, o.end)};
  }
  auto operator<=>(const TimeWindow&) const = default;
  bool operator==(const TimeWindow&) const = default;
};
EDDY_FIELDS(TimeWindow, start, end);

/// The single window of GlobalWindows; it never ends.
struct GlobalWindow {
  int64_t max_timestamp() const { return std::numeric_limits<int64_t>::max(); }
  auto operator<=>(const GlobalWindow&) const = default;
  bool operator==(const GlobalWindow&) const = default;
};
template <>
struct Serde<GlobalWindow> {
  static constexpr size_t kMinSize = 0;
  template <typename Out>
  static void Write(const GlobalWindow&, Out*) {}
  static bool Read(ByteReader&, GlobalWindow*) { return true; }
};

/// Returns the start of the window of `size` (shifted by `offset`) that holds `timestamp`:
/// Flink's TimeWindow.getWindowStartWithOffset, which the textbook
/// `timestamp - (timestamp - offset + size) % size` gets wrong for timestamps below
/// offset - size (C++'s % keeps the dividend's sign); this form is right for every sign.
inline int64_t WindowStart(int64_t timestamp, int64_t offset, int64_t size) {
  const int64_t remainder = (timestamp - offset) % size;
  return remainder < 0 ? timestamp - (remainder + size) : timestamp - remainder;
}

class EventTimeTrigger;
class ProcessingTimeTrigger;
class NeverTrigger;

namespace internal {
inline int64_t Millis(std::chrono::milliseconds d) { return d.count(); }
inline void CheckPositive(int64_t v, const char* what) {
  if (v <= 0) throw std::invalid_argument(std::string(what) + " must be positive");
}

/// Tumbling windows of `size`, shifted by `offset` (both ms).
template <bool kEvent>
struct Tumbling {
  using window_type = TimeWindow;
  using default_trigger = std::conditional_t<kEvent, EventTimeTrigger, ProcessingTimeTrigger>;
  static constexpr bool kEventTime = kEvent;
  static constexpr bool kMerging = false;
  int64_t size = 0;
  int64_t offset = 0;

  static Tumbling of(std::chrono::milliseconds size,
                     std::chrono::milliseconds offset = std::chrono::milliseconds(0)) {
    CheckPositive(size.count(), "tumbling window size");
    return Tumbling{Millis(size), Millis(offset) % Millis(size)};
  }
  template <typename T, typename Emit>
  void assign(const T& /*value*/, int64_t timestamp, Emit&& emit) const {
    const int64_t start = WindowStart(timestamp, offset, size);
    emit(TimeWindow{start, start + size});
  }
};

/// Windows of `size` starting every `slide` (ms): a record belongs to size/slide of them
/// (rounded up), emitted from the latest start to the earliest.
template <bool kEvent>
struct Sliding {
  using window_type = TimeWindow;
  using default_trigger = std::conditional_t<kEvent, EventTimeTrigger, ProcessingTimeTrigger>;
  static constexpr bool kEventTime = kEvent;
  static constexpr bool kMerging = false;
  int64_t size = 0;
  int64_t slide = 0;
  int64_t offset = 0;

  static Sliding of(std::chrono::milliseconds size, std::chrono::milliseconds slide,
                    std::chrono::milliseconds offset = std::chrono::milliseconds(0)) {
    CheckPositive(size.count(), "sliding window size");
    CheckPositive(slide.count(), "sliding window slide");
    return Sliding{Millis(size), Millis(slide), Millis(offset) % Millis(slide)};
  }
  template <typename T, typename Emit>
  void assign(const T& /*value*/, int64_t timestamp, Emit&& emit) const {
    const int64_t last_start = WindowStart(timestamp, offset, slide);
    for (int64_t start = last_start; start > timestamp - size; start -= slide) {
      emit(TimeWindow{start, start + size});
    }
  }
};

/// Session windows: a record opens [t, t + gap(record)); windows that intersect merge.
/// Gap is a fixed duration or a function of the record (ms).
template <bool kEvent, typename GapFn>
struct Sessions {
  using window_type = TimeWindow;
  using default_trigger = std::conditional_t<kEvent, EventTimeTrigger, ProcessingTimeTrigger>;
  static constexpr bool kEventTime = kEvent;
  static constexpr bool kMerging = true;
  GapFn gap;

  template <typename T, typename Emit>
  void assign(const T& value, int64_t timestamp, Emit&& emit) const {
    int64_t g = 0;
    if constexpr (std::is_same_v<GapFn, int64_t>) {
      g = gap;
    } else {
      g = static_cast<int64_t>(std::invoke(gap, value));
      // A gap from the data: a bad value is the user's input, not our invariant.
      if (g <= 0)
        throw std::invalid_argument("session gap must be positive, got " + std::to_string(g));
    }
    emit(TimeWindow{timestamp, timestamp + g});
  }
};

template <bool kEvent>
struct SessionFactory {
  /// Sessions that close after `gap` without a record of the key.
  static Sessions<kEvent, int64_t> with_gap(std::chrono::milliseconds gap) {
    CheckPositive(gap.count(), "session gap");
    return {Millis(gap)};
  }
  /// Sessions whose gap is `gap_fn(record)` in ms (or a std::chrono duration), per record.
  template <typename F>
  static auto with_dynamic_gap(F gap_fn) {
    auto ms = [gap_fn](const auto& v) -> int64_t {
      auto g = std::invoke(gap_fn, v);
      if constexpr (requires { g.count(); }) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(g).count();
      } else {
        return static_cast<int64_t>(g);
      }
    };
    return Sessions<kEvent, decltype(ms)>{std::move(ms)};
  }
};
}  // namespace internal

/// Tumbling event-time windows: `TumblingEventTimeWindows::of(60s[, offset])`.
using TumblingEventTimeWindows = internal::Tumbling<true>;
/// Tumbling windows over the operator's processing time.
using TumblingProcessingTimeWindows = internal::Tumbling<false>;
/// Sliding event-time windows: `SlidingEventTimeWindows::of(size, slide[, offset])`.
using SlidingEventTimeWindows = internal::Sliding<true>;
using SlidingProcessingTimeWindows = internal::Sliding<false>;
/// Session windows: `EventTimeSessionWindows::with_gap(30s)` or `::with_dynamic_gap(f)`.
using EventTimeSessionWindows = internal::SessionFactory<true>;
using ProcessingTimeSessionWindows = internal::SessionFactory<false>;

/// Every record of a key in one window that never ends; the default trigger never fires, so
/// give one (`.trigger(CountTrigger::of(n))`, or `count_window(n)`).
struct GlobalWindows {
  using window_type = GlobalWindow;
  using default_trigger = NeverTrigger;
  static constexpr bool kEventTime = false;  // no cleanup timer: the window never ends
  static constexpr bool kMerging = false;
  static GlobalWindows create() { return {}; }
  template <typename T, typename Emit>
  void assign(const T& /*value*/, int64_t /*timestamp*/, Emit&& emit) const {
    emit(GlobalWindow{});
  }
};

/// What the window operator needs of an assigner.
template <typename A>
concept WindowAssigner = requires {
  typename A::window_type;
  typename A::default_trigger;
}
&&std::is_same_v<decltype(A::kEventTime), const bool>&&
    std::is_same_v<decltype(A::kMerging), const bool>;

}  // namespace eddy
