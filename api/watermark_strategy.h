// Watermark strategies for DataStream::assign_timestamps: how far behind the largest
// timestamp seen the watermark trails (bounded out-of-orderness, or none for monotonous
// timestamps), and after how long without records a stream counts as idle. Plain values.
#pragma once

#include <chrono>
#include <cstdint>

namespace eddy {

struct WatermarkStrategy {
  /// The watermark is the largest timestamp seen minus this, minus 1 ms.
  int64_t out_of_orderness_ms = 0;
  /// No record for this long marks the stream idle (-1: never).
  int64_t idle_timeout_ms = -1;

  /// Returns this strategy with an idleness timeout.
  template <typename Rep, typename Period>
  WatermarkStrategy with_idleness(std::chrono::duration<Rep, Period> timeout) const {
    WatermarkStrategy s = *this;
    s.idle_timeout_ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
    return s;
  }
};

/// Timestamps arrive out of order by at most `max_delay`.
template <typename Rep, typename Period>
WatermarkStrategy bounded_out_of_orderness(std::chrono::duration<Rep, Period> max_delay) {
  WatermarkStrategy s;
  s.out_of_orderness_ms = std::chrono::duration_cast<std::chrono::milliseconds>(max_delay).count();
  return s;
}

/// Timestamps never decrease.
inline WatermarkStrategy monotonous() { return WatermarkStrategy{}; }

}  // namespace eddy
