#include "taskmanager/runtime/watermark_valve.h"

#include <algorithm>

namespace eddy::runtime {

StatusWatermarkValve::StatusWatermarkValve(int num_channels)
    : channels_(static_cast<size_t>(std::max(num_channels, 0))) {}

std::optional<EventTime> StatusWatermarkValve::Recompute() {
  EventTime min = kMaxWatermark;
  bool any = false;
  for (const Channel& c : channels_) {
    if (!c.active || !c.aligned) continue;
    any = true;
    min = std::min(min, c.watermark);
  }
  if (!any || min <= last_watermark_) return std::nullopt;
  last_watermark_ = min;
  return min;
}

StatusWatermarkValve::Change StatusWatermarkValve::OnWatermark(int channel, EventTime watermark) {
  Change change;
  Channel& c = channels_[static_cast<size_t>(channel)];
  if (watermark <= c.watermark && c.active) return change;
  if (!c.active) {  // a watermark means the channel speaks again
    c.active = true;
    c.aligned = false;
    if (idle_) {
      idle_ = false;
      change.status = WatermarkStatus::kActive;
    }
  }
  c.watermark = std::max(c.watermark, watermark);
  if (!c.aligned && c.watermark >= last_watermark_) c.aligned = true;
  change.watermark = Recompute();
  return change;
}

StatusWatermarkValve::Change StatusWatermarkValve::OnStatus(int channel, WatermarkStatus status) {
  Change change;
  Channel& c = channels_[static_cast<size_t>(channel)];
  const bool active = status == WatermarkStatus::kActive;
  if (active == c.active) return change;
  c.active = active;
  if (active) {
    c.aligned = c.watermark >= last_watermark_;
    if (idle_) {
      idle_ = false;
      change.status = WatermarkStatus::kActive;
    }
    return change;
  }
  // A channel went idle: the others may now advance the watermark.
  change.watermark = Recompute();
  const bool all_idle = std::none_of(channels_.begin(), channels_.end(),
                                     [](const Channel& ch) { return ch.active; });
  if (all_idle && !idle_) {
    idle_ = true;
    change.status = WatermarkStatus::kIdle;
  }
  return change;
}

StatusWatermarkValve::Change StatusWatermarkValve::OnChannelEnded(int channel) {
  Channel& c = channels_[static_cast<size_t>(channel)];
  c.active = true;
  c.aligned = true;
  c.watermark = kMaxWatermark;
  Change change;
  change.watermark = Recompute();
  return change;
}

}  // namespace eddy::runtime
