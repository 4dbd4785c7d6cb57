// The interval join of two keyed streams (Flink's IntervalJoinOperator): every pair of a left
// record l and a right record r with equal keys and r.ts in [l.ts + lower, l.ts + upper] goes
// to the user's join function once. Each side buffers its records per key in MapState
// (timestamp -> records) and forgets them with event-time timers once the watermark makes a
// later match impossible; records older than the watermark are dropped. One task thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "api/keyed_operator.h"
#include "api/process_function.h"

namespace eddy {

/// The bounds of an interval join: right.ts - left.ts must lie in [lower, upper], each end
/// inclusive unless made exclusive (Flink's between(...).lowerBoundExclusive()).
struct IntervalJoinBounds {
  int64_t lower = 0;
  int64_t upper = 0;
  bool lower_inclusive = true;
  bool upper_inclusive = true;

  /// Returns the inclusive lower bound (lower + 1 if exclusive).
  int64_t inclusive_lower() const { return lower_inclusive ? lower : lower + 1; }
  /// Returns the inclusive upper bound (upper - 1 if exclusive).
  int64_t inclusive_upper() const { return upper_inclusive ? upper : upper - 1; }
};

/// What an interval join function sees with each pair (Flink's ProcessJoinFunction.Context):
/// JoinContext's key, watermark and side outputs, the two records' timestamps, and
/// timestamp() = the larger of them.
template <typename K>
class IntervalJoinContext : public JoinContext<K> {
 public:
  /// The left record's timestamp.
  EventTime left_timestamp() const { return left_ts_; }
  /// The right record's timestamp.
  EventTime right_timestamp() const { return right_ts_; }

  // Operator side.
  void Set(EventTime left_ts, EventTime right_ts) {
    left_ts_ = left_ts;
    right_ts_ = right_ts;
    this->set_timestamp(std::max(left_ts, right_ts));
  }

 private:
  EventTime left_ts_ = kNoTimestamp;
  EventTime right_ts_ = kNoTimestamp;
};

namespace internal {

/// Runs an interval join function F:
///   void process_element(const A& left, const B& right, IntervalJoinContext<K>&,
///                        Collector<Out>&)
/// with optional open(RuntimeContext&) and close(). Emits with max(left.ts, right.ts).
template <typename A, typename B, typename K, typename KeyFnA, typename KeyFnB, typename Out,
          typename F>
class IntervalJoinOperator final
    : public KeyedJoinOperator<A, B, K, KeyFnA, KeyFnB, Out, F, IntervalJoinContext<K>> {
  using Base = KeyedJoinOperator<A, B, K, KeyFnA, KeyFnB, Out, F, IntervalJoinContext<K>>;
  // Timer namespaces: whose buffer a cleanup timer empties.
  static constexpr uint8_t kLeft = 0;
  static constexpr uint8_t kRight = 1;

 public:
  IntervalJoinOperator(IntervalJoinBounds bounds, KeyFnA key_a, KeyFnB key_b, F f,
                       Output<Out>* out)
      : Base(std::move(key_a), std::move(key_b), std::move(f), out),
        lower_(bounds.inclusive_lower()),
        upper_(bounds.inclusive_upper()) {}

  void Open() override {
    if (lower_ > upper_) {
      throw std::invalid_argument("interval join '" + this->operator_id() +
                                  "': lower bound " + std::to_string(lower_) +
                                  " is above upper bound " + std::to_string(upper_) +
                                  " (bounds made inclusive)");
    }
    KeyedStateStore store(&this->backend());
    left_ = &store.get_map_state(MapStateDescriptor<int64_t, std::vector<A>>{"left-buffer"});
    right_ = &store.get_map_state(MapStateDescriptor<int64_t, std::vector<B>>{"right-buffer"});
    Base::Open();
  }

  void ProcessBatch1(std::span<const StreamRecord<A>> batch) override {
    for (const auto& r : batch) {
      this->SetCurrentKey(this->key_a_, r.value);
      Process<kLeft>(r, *left_, *right_, lower_, upper_);
    }
  }
  void ProcessBatch2(std::span<const StreamRecord<B>> batch) override {
    for (const auto& r : batch) {
      this->SetCurrentKey(this->key_b_, r.value);
      Process<kRight>(r, *right_, *left_, -upper_, -lower_);
    }
  }

  /// Returns how many records were dropped for arriving behind the watermark.
  uint64_t late_records() const { return late_records_; }

 protected:
  /// A cleanup timer: forgets the buffered records whose matches the watermark has passed.
  void OnEventTime(const InternalTimer& timer) override {
    if (timer.namespace_as<uint8_t>() == kLeft) {
      left_->remove(upper_ <= 0 ? timer.time : timer.time - upper_);
    } else {
      right_->remove(lower_ <= 0 ? timer.time + lower_ : timer.time);
    }
  }

 private:
  /// Buffers `r` on its side, joins it with the other side's buffered records whose
  /// timestamps lie in [ts + rel_lower, ts + rel_upper], and schedules its cleanup.
  template <uint8_t kSide, typename This, typename Other>
  void Process(const StreamRecord<This>& r, MapState<int64_t, std::vector<This>>& ours,
               MapState<int64_t, std::vector<Other>>& others, int64_t rel_lower,
               int64_t rel_upper) {
    const EventTime ts = r.timestamp;
    if (ts == kNoTimestamp) {
      throw std::runtime_error("interval join '" + this->operator_id() +
                               "' got a record without an event timestamp (assign timestamps "
                               "before interval_join)");
    }
    if (ts < this->current_watermark()) {  // Flink's isLate: its matches may be gone
      ++late_records_;
      return;
    }
    std::vector<This> bucket = ours.get(ts).value_or(std::vector<This>{});
    bucket.push_back(r.value);
    ours.put(ts, bucket);

    others.for_each([&](int64_t other_ts, const std::vector<Other>& rows) {
      if (other_ts < ts + rel_lower || other_ts > ts + rel_upper) return;
      for (const Other& other : rows) {
        if constexpr (kSide == kLeft) {
          Emit(r.value, other, ts, other_ts);
        } else {
          Emit(other, r.value, other_ts, ts);
        }
      }
    });
    // Later records of the other side have timestamps at or above the watermark; once it
    // passes ts + rel_upper none can match this one.
    const int64_t cleanup = rel_upper > 0 ? ts + rel_upper : ts;
    this->timers().register_event_time_timer(kSide, cleanup);
  }

  void Emit(const A& left, const B& right, EventTime left_ts, EventTime right_ts) {
    this->context_.Set(left_ts, right_ts);
    this->collector_.set_timestamp(this->context_.timestamp());
    this->f_.process_element(left, right, this->context_, this->collector_);
  }

  int64_t lower_;
  int64_t upper_;
  MapState<int64_t, std::vector<A>>* left_ = nullptr;
  MapState<int64_t, std::vector<B>>* right_ = nullptr;
  uint64_t late_records_ = 0;
};

}  // namespace internal
}  // namespace eddy
