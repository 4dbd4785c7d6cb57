// StatusWatermarkValve: combines the watermarks and watermark statuses of several inputs —
// the channels of one logical input of a task, or the logical inputs of an operator — into
// one watermark and status. The watermark is the minimum over the active inputs and only
// ever advances; an idle input is left out until it speaks again, and an input that becomes
// active rejoins once its watermark catches up with the valve's. When every input is idle
// the valve is idle, and its watermark first advances to the largest watermark any input
// reached (no input holds it back any more). One thread; not thread-safe.
#pragma once

#include <optional>
#include <vector>

#include "api/stream_element.h"

namespace eddy {

class StatusWatermarkValve {
 public:
  /// What an input's element changed at the valve's output: a new watermark and/or a new
  /// status. Apply() hands them on in the order they take effect.
  struct Change {
    std::optional<EventTime> watermark;
    std::optional<WatermarkStatus> status;

    /// Calls on_status(active) before on_watermark, and on_status(idle) after it, so that
    /// nothing downstream drops the watermark as coming from an idle input.
    template <typename OnWatermark, typename OnStatus>
    void Apply(OnWatermark&& on_watermark, OnStatus&& on_status) const {
      if (status == WatermarkStatus::kActive) on_status(*status);
      if (watermark) on_watermark(*watermark);
      if (status == WatermarkStatus::kIdle) on_status(*status);
    }
  };

  explicit StatusWatermarkValve(int num_inputs = 0);

  /// A watermark of `input` (an idle input speaks again: it becomes active first).
  Change OnWatermark(int input, EventTime watermark);
  Change OnStatus(int input, WatermarkStatus status);
  /// The input ended: it no longer holds the watermark back.
  Change OnInputEnded(int input);

  /// Returns the last watermark the valve emitted.
  EventTime watermark() const { return last_watermark_; }
  bool idle() const { return idle_; }
  int num_inputs() const { return static_cast<int>(inputs_.size()); }

 private:
  struct Input {
    EventTime watermark = kMinWatermark;
    bool active = true;
    bool aligned = true;  // counts towards the minimum
  };
  /// Advances the watermark to the minimum over the aligned active inputs, if that is larger.
  std::optional<EventTime> AdvanceToMinimum();
  /// Every input is idle: advances the watermark to the largest of theirs, if that is larger.
  std::optional<EventTime> AdvanceToMaximum();

  std::vector<Input> inputs_;
  EventTime last_watermark_ = kMinWatermark;
  bool idle_ = false;
};

}  // namespace eddy
