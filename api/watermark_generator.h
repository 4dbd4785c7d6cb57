// Watermark generation under a WatermarkStrategy, shared by the timestamp assigner
// (DataStream::assign_timestamps) and sources with per-split watermarks: WatermarkGenerator
// follows one stream or split (bounded out-of-orderness, idleness); WatermarkMultiplexer
// keeps one generator per split and emits, every auto-watermark interval, the minimum over
// the splits that are live and not idle (with none, as far as any split got). Both are
// driven by one task thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "api/operator.h"
#include "api/stream_element.h"
#include "api/watermark_strategy.h"
#include "common/check.h"

namespace eddy {

/// Follows the timestamps of one stream (or one split of a source): its watermark trails
/// the largest timestamp seen by the strategy's out-of-orderness, and it is idle when no
/// record arrived for the strategy's idle timeout, as seen at periodic emissions.
class WatermarkGenerator {
 public:
  WatermarkGenerator() = default;
  /// Starts following a stream at processing time `now` (the idle timeout counts from it).
  WatermarkGenerator(const WatermarkStrategy& strategy, int64_t now)
      : strategy_(strategy), last_record_time_(now) {}

  /// Takes a record's timestamp (kNoTimestamp counts as activity, not as a time).
  void OnEvent(EventTime timestamp) {
    if (timestamp > max_timestamp_) max_timestamp_ = timestamp;
    saw_record_ = true;
    idle_ = false;
  }

  /// Called at each periodic emission: marks the stream idle after the idle timeout without
  /// records. Returns true if a record arrived since the previous call.
  bool OnPeriodicEmit(int64_t now) {
    if (saw_record_) {
      last_record_time_ = now;
      saw_record_ = false;
      return true;
    }
    if (strategy_.idle_timeout_ms >= 0 && now - last_record_time_ >= strategy_.idle_timeout_ms) {
      idle_ = true;
    }
    return false;
  }

  bool idle() const { return idle_; }

  /// Returns the largest timestamp seen minus the out-of-orderness minus 1 ms, or
  /// kMinWatermark before the first timestamp (and where that would underflow).
  EventTime watermark() const {
    EventTime wm;
    if (max_timestamp_ == kNoTimestamp ||
        __builtin_sub_overflow(max_timestamp_, strategy_.out_of_orderness_ms, &wm) ||
        __builtin_sub_overflow(wm, 1, &wm)) {
      return kMinWatermark;
    }
    return wm;
  }

 private:
  WatermarkStrategy strategy_;
  EventTime max_timestamp_ = kNoTimestamp;
  int64_t last_record_time_ = 0;
  bool saw_record_ = false;
  bool idle_ = false;
};

/// One WatermarkGenerator per split, numbered densely from 0 by the caller (Flink's
/// WatermarkOutputMultiplexer). Every auto-watermark interval it emits, on `out`, the minimum
/// watermark over the live splits that are not idle, only when it advances (so it never
/// regresses). When no live split is active — every one idle or released — none holds the
/// watermark back: it advances to the largest watermark any split reached, released ones
/// included (a split read and released between two emissions still counts). When every
/// live split is idle — or there is no live split and no record for the idle timeout — it
/// then emits WatermarkStatus idle, and active again before the next record. A split is
/// live from OpenSplit() (or its first record) until ReleaseSplit().
class WatermarkMultiplexer {
 public:
  /// Most splits one reader may number (a bound on the bookkeeping vector).
  static constexpr uint32_t kMaxSplits = uint32_t{1} << 20;

  WatermarkMultiplexer(WatermarkStrategy strategy, OutputBase* out)
      : strategy_(strategy), out_(out) {}
  WatermarkMultiplexer(const WatermarkMultiplexer&) = delete;
  WatermarkMultiplexer& operator=(const WatermarkMultiplexer&) = delete;

  /// Starts periodic emission every ctx.auto_watermark_interval_ms on ctx's processing-time
  /// service (without one, only the final watermark is emitted). Call from Open().
  void Start(RuntimeContext& ctx) {
    time_ = ctx.processing_time;
    interval_ = std::max<int64_t>(ctx.auto_watermark_interval_ms, 1);
    if (time_ == nullptr) return;
    last_activity_ = time_->CurrentProcessingTime();
    ScheduleNext(last_activity_ + interval_);
  }

  bool live(uint32_t split) const { return split < splits_.size() && splits_[split].live; }

  /// Makes `split` live with a fresh generator (its idle timeout counts from now).
  void OpenSplit(uint32_t split) {
    EDDY_CHECK_LT(split, kMaxSplits) << "split numbers must be small and dense";
    last_activity_ = Now();
    const Split fresh{WatermarkGenerator(strategy_, last_activity_), false};
    if (split >= splits_.size()) splits_.resize(split + 1, fresh);
    splits_[split] = fresh;
    splits_[split].live = true;
  }

  /// The split is finished: it no longer holds the watermark back, and what it reached
  /// still counts when no live split is active.
  void ReleaseSplit(uint32_t split) {
    if (!live(split)) return;
    splits_[split].live = false;
    released_ = std::max(released_, splits_[split].generator.watermark());
    last_activity_ = Now();
  }

  /// Takes a record of `split` (which comes alive if it was not). REQUIRES: the output is
  /// not idle (call MarkActive() first) and split < kMaxSplits.
  void OnRecord(uint32_t split, EventTime timestamp) {
    if (split >= splits_.size()) [[unlikely]] OpenSplit(split);
    Split& s = splits_[split];
    s.generator.OnEvent(timestamp);
    s.live = true;
  }

  bool idle() const { return idle_; }
  /// Emits WatermarkStatus active if the output is idle (a record is about to follow).
  void MarkActive() {
    if (!idle_) return;
    idle_ = false;
    out_->EmitWatermarkStatus(WatermarkStatus::kActive);
  }

  /// End of a bounded input: emits the MAX watermark once (active first, so that no
  /// downstream input drops it as idle) and stops periodic emission.
  void EmitFinalWatermark() {
    if (emitted_ == kMaxWatermark) return;
    MarkActive();
    emitted_ = kMaxWatermark;
    out_->EmitWatermark(kMaxWatermark);
  }

  /// Returns the last watermark emitted.
  EventTime emitted() const { return emitted_; }

  /// One periodic emission at processing time `now` (Start() schedules these).
  void OnPeriodicEmit(int64_t now) {
    if (emitted_ == kMaxWatermark) return;
    bool any_live = false;
    bool any_active = false;
    EventTime min = kMaxWatermark;
    EventTime max = released_;
    for (Split& s : splits_) {
      if (!s.live) continue;
      any_live = true;
      if (s.generator.OnPeriodicEmit(now)) last_activity_ = now;
      max = std::max(max, s.generator.watermark());
      if (s.generator.idle()) continue;
      any_active = true;
      min = std::min(min, s.generator.watermark());
    }
    // While idle nothing is emitted: a watermark would make the output active downstream.
    if (idle_) return;
    const EventTime watermark = any_active ? min : max;
    if (watermark > emitted_) {
      emitted_ = watermark;
      out_->EmitWatermark(watermark);
    }
    // Idle only after the last watermark, which would be dropped downstream if it came later.
    const bool all_idle = any_live ? !any_active
                                   : strategy_.idle_timeout_ms >= 0 &&
                                         now - last_activity_ >= strategy_.idle_timeout_ms;
    if (all_idle) {
      idle_ = true;
      out_->EmitWatermarkStatus(WatermarkStatus::kIdle);
    }
  }

 private:
  struct Split {
    WatermarkGenerator generator;
    bool live = false;
  };

  int64_t Now() const { return time_ != nullptr ? time_->CurrentProcessingTime() : 0; }
  void ScheduleNext(int64_t at) {
    time_->RegisterTimer(at, [this](int64_t now) {
      OnPeriodicEmit(now);
      if (emitted_ != kMaxWatermark) ScheduleNext(now + interval_);
    });
  }

  WatermarkStrategy strategy_;
  OutputBase* out_;
  ProcessingTimeService* time_ = nullptr;
  int64_t interval_ = 200;
  std::vector<Split> splits_;
  int64_t last_activity_ = 0;  // processing time of the last record, split opened or released
  EventTime released_ = kMinWatermark;  // the largest watermark a released split reached
  EventTime emitted_ = kMinWatermark;
  bool idle_ = false;
};

}  // namespace eddy
