// StatusWatermarkValve: combines the watermarks and watermark statuses of the channels of
// one logical input into that input's watermark. The input's watermark is the minimum over
// its active channels and only ever advances; an idle channel is left out until it speaks
// again, and a channel that becomes active rejoins once its watermark catches up with the
// input's. When every channel is idle, the input is idle. One task thread; not thread-safe.
#pragma once

#include <optional>
#include <vector>

#include "api/stream_element.h"

namespace eddy::runtime {

class StatusWatermarkValve {
 public:
  /// What a channel's element changed: a new input watermark and/or a new input status.
  struct Change {
    std::optional<EventTime> watermark;
    std::optional<WatermarkStatus> status;
  };

  explicit StatusWatermarkValve(int num_channels);

  Change OnWatermark(int channel, EventTime watermark);
  Change OnStatus(int channel, WatermarkStatus status);
  /// The channel ended: it no longer holds the watermark back.
  Change OnChannelEnded(int channel);

  EventTime watermark() const { return last_watermark_; }
  bool idle() const { return idle_; }
  int num_channels() const { return static_cast<int>(channels_.size()); }

 private:
  struct Channel {
    EventTime watermark = kMinWatermark;
    bool active = true;
    bool aligned = true;  // counts towards the minimum
  };
  std::optional<EventTime> Recompute();

  std::vector<Channel> channels_;
  EventTime last_watermark_ = kMinWatermark;
  bool idle_ = false;
};

}  // namespace eddy::runtime
