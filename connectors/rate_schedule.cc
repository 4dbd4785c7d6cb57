#include "connectors/rate_schedule.h"

#include <algorithm>

namespace eddy::connectors {

RateSchedule::RateSchedule(double per_second) : per_second_(per_second), start_(Clock::now()) {}

RateSchedule::Clock::time_point RateSchedule::NextDue(Clock::time_point now) {
  // Capped so that absurdly low rates cannot overflow the clock's integer ticks.
  const double seconds = std::min(static_cast<double>(emitted_) / per_second_, 1e9);
  auto due = start_ + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(seconds));
  if (now - due > kMaxCatchUp) {
    // Far behind (downstream was slow): forget the debt instead of bursting it all out.
    start_ = now;
    emitted_ = 0;
    return now;
  }
  return due;
}

}  // namespace eddy::connectors
