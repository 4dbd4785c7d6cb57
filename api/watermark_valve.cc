#include "api/watermark_valve.h"

#include <algorithm>

namespace eddy {

StatusWatermarkValve::StatusWatermarkValve(int num_inputs)
    : inputs_(static_cast<size_t>(std::max(num_inputs, 0))) {}

std::optional<EventTime> StatusWatermarkValve::AdvanceToMinimum() {
  EventTime min = kMaxWatermark;
  bool any = false;
  for (const Input& in : inputs_) {
    if (!in.active || !in.aligned) continue;
    any = true;
    min = std::min(min, in.watermark);
  }
  if (!any || min <= last_watermark_) return std::nullopt;
  last_watermark_ = min;
  return min;
}

std::optional<EventTime> StatusWatermarkValve::AdvanceToMaximum() {
  EventTime max = kMinWatermark;
  for (const Input& in : inputs_) max = std::max(max, in.watermark);
  if (max <= last_watermark_) return std::nullopt;
  last_watermark_ = max;
  return max;
}

StatusWatermarkValve::Change StatusWatermarkValve::OnWatermark(int input, EventTime watermark) {
  Change change;
  Input& in = inputs_[static_cast<size_t>(input)];
  if (watermark <= in.watermark && in.active) return change;
  if (!in.active) {  // a watermark means the input speaks again
    in.active = true;
    in.aligned = false;
    if (idle_) {
      idle_ = false;
      change.status = WatermarkStatus::kActive;
    }
  }
  in.watermark = std::max(in.watermark, watermark);
  if (!in.aligned && in.watermark >= last_watermark_) in.aligned = true;
  change.watermark = AdvanceToMinimum();
  return change;
}

StatusWatermarkValve::Change StatusWatermarkValve::OnStatus(int input, WatermarkStatus status) {
  Change change;
  Input& in = inputs_[static_cast<size_t>(input)];
  const bool active = status == WatermarkStatus::kActive;
  if (active == in.active) return change;
  in.active = active;
  if (active) {
    in.aligned = in.watermark >= last_watermark_;
    if (idle_) {
      idle_ = false;
      change.status = WatermarkStatus::kActive;
    }
    return change;
  }
  const bool all_idle = std::none_of(inputs_.begin(), inputs_.end(),
                                     [](const Input& other) { return other.active; });
  if (!all_idle) {  // the others may now advance the watermark
    change.watermark = AdvanceToMinimum();
    return change;
  }
  // No input holds the watermark back any more: it goes as far as any input got (else the
  // progress of inputs that went idle while a slower one was active would be lost), and
  // then the valve is idle.
  change.watermark = AdvanceToMaximum();
  idle_ = true;
  change.status = WatermarkStatus::kIdle;
  return change;
}

StatusWatermarkValve::Change StatusWatermarkValve::OnInputEnded(int input) {
  Input& in = inputs_[static_cast<size_t>(input)];
  in.active = true;
  in.aligned = true;
  in.watermark = kMaxWatermark;
  Change change;
  if (idle_) {  // an ended input holds nothing back: the others' minimum counts again
    idle_ = false;
    change.status = WatermarkStatus::kActive;
  }
  change.watermark = AdvanceToMinimum();
  return change;
}

}  // namespace eddy
