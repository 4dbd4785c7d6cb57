// The heap timer service both backends use (Flink also keeps timers on the heap by default
// with RocksDB): per key group ordered sets of (time, key, namespace) per time domain, plus an
// index of each key group's earliest timer, so the next timer is found in O(log n) and a
// key-group range snapshots and restores on its own. Single-threaded (the task thread).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "api/state.h"
#include "api/timer_service.h"
#include "taskmanager/state/snapshot_format.h"

namespace eddy::state {

/// The timers of one time domain, partitioned by key group.
class KeyGroupedTimerQueue {
 public:
  explicit KeyGroupedTimerQueue(KeyGroupRange range) : first_(range.start), groups_(range.size()) {}

  /// Adds `timer`; returns false if it was already there.
  bool Add(InternalTimer timer);
  /// Removes `timer`; returns false if it was not there.
  bool Remove(const InternalTimer& timer);
  /// Returns the earliest timer, or nullptr.
  const InternalTimer* Peek() const;
  /// Removes and returns the earliest timer. REQUIRES: not empty.
  InternalTimer Pop();
  size_t size() const { return size_; }
  /// Calls `f(timer)` for each timer of key groups `range`.
  template <typename F>
  void ForEachInRange(KeyGroupRange range, F&& f) const {
    const int32_t lo = std::max(range.start, first_);
    const int32_t hi = std::min(range.end, first_ + static_cast<int32_t>(groups_.size()) - 1);
    for (int32_t kg = lo; kg <= hi; ++kg) {
      for (const InternalTimer& t : groups_[kg - first_]) f(t);
    }
  }

 private:
  absl::btree_set<InternalTimer>& group(int32_t key_group);
  // Keeps `heads_` in step after key group `kg`'s earliest time was `before`.
  void UpdateHead(int32_t key_group, std::optional<int64_t> before);

  int32_t first_;
  std::vector<absl::btree_set<InternalTimer>> groups_;
  absl::btree_set<std::pair<int64_t, int32_t>> heads_;  // (earliest time, key group)
  size_t size_ = 0;
};

/// An InternalTimerService keyed by the backend's current key.
class HeapTimerService final : public InternalTimerService {
 public:
  explicit HeapTimerService(KeyedStateBackend* backend)
      : backend_(backend),
        event_(backend->key_group_range()),
        processing_(backend->key_group_range()) {}

  void advance_watermark(int64_t watermark,
                         absl::FunctionRef<void(const InternalTimer&)> on_timer) override;
  void advance_processing_time(int64_t time,
                               absl::FunctionRef<void(const InternalTimer&)> on_timer) override;
  int64_t current_watermark() const override { return watermark_; }
  std::optional<int64_t> next_timer_time(TimeDomain domain) const override;
  size_t num_timers(TimeDomain domain) const override { return queue(domain).size(); }
  void Register(TimeDomain domain, std::string_view ns, int64_t time) override;
  void Delete(TimeDomain domain, std::string_view ns, int64_t time) override;

  /// Writes the timers of key groups `range` (after a BeginTimerService record).
  void Snapshot(KeyGroupRange range, SnapshotWriter& writer) const;
  /// Adds a restored timer (ignored outside the backend's key-group range).
  void Restore(TimeDomain domain, const InternalTimer& timer);

 private:
  KeyGroupedTimerQueue& queue(TimeDomain d) {
    return d == TimeDomain::kEventTime ? event_ : processing_;
  }
  const KeyGroupedTimerQueue& queue(TimeDomain d) const {
    return d == TimeDomain::kEventTime ? event_ : processing_;
  }
  InternalTimer AtCurrentKey(std::string_view ns, int64_t time) const;
  void Fire(KeyGroupedTimerQueue& queue, int64_t time,
            absl::FunctionRef<void(const InternalTimer&)> on_timer);

  KeyedStateBackend* backend_;
  KeyGroupedTimerQueue event_;
  KeyGroupedTimerQueue processing_;
  int64_t watermark_ = INT64_MIN;
};

}  // namespace eddy::state
