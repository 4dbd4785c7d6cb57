// Paces a source reader at a fixed rate on the steady clock, for datagen and the file
// source: a reader asks Ready() before each record and, when the record is not yet due,
// returns "nothing available" having asked its waker to poll again then (it never sleeps
// on the task thread). One reader's task thread; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>

#include "api/source.h"

namespace eddy::connectors {

/// Record k is due at start + k / rate. A reader that falls behind (backpressure) catches
/// up in a burst of at most kMaxCatchUp worth of records, then the schedule restarts.
class RateSchedule {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kMaxCatchUp = std::chrono::seconds(1);

  /// Starts the schedule now; `per_second` <= 0 means unlimited.
  explicit RateSchedule(double per_second);

  bool limited() const { return per_second_ > 0; }
  /// Returns when the next record may be emitted (re-anchoring if too far behind at `now`).
  Clock::time_point NextDue(Clock::time_point now);
  /// Returns true if the next record may be emitted now; else asks `waker` to wake the
  /// task when it is due.
  bool Ready(SourceWaker* waker) {
    if (!limited()) return true;
    const Clock::time_point now = Clock::now();
    const Clock::time_point due = NextDue(now);
    if (due <= now) return true;
    if (waker != nullptr) waker->WakeAt(due);
    return false;
  }
  /// Counts one emitted record.
  void Advance() { ++emitted_; }

 private:
  double per_second_;
  Clock::time_point start_;
  uint64_t emitted_ = 0;
};

}  // namespace eddy::connectors
