// The heap timer service both backends use (Flink also keeps timers on the heap by default
// with RocksDB): per key group ordered sets of (time, key, namespace) per time domain, plus an
// index of each key group's earliest timer, so the next timer is found in O(log n) and a
// key-group range snapshots and restores on its own. The task thread owns it; a snapshot may
// hold key groups copy-on-write and write them on the snapshot thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "api/cow_key_groups.h"
#include "api/state.h"
#include "api/timer_service.h"
#include "taskmanager/state/snapshot_format.h"

namespace eddy::state {

/// The timers of one time domain, partitioned by key group. Key groups are copy-on-write
/// (api/cow_key_groups.h): Hold() keeps them for a snapshot written on another thread.
class KeyGroupedTimerQueue {
  using Group = absl::btree_set<InternalTimer>;

 public:
  using Held = internal::CowKeyGroups<Group>::Snapshot;

  explicit KeyGroupedTimerQueue(KeyGroupRange range) : groups_(range) {}

  /// Adds `timer`; returns false if it was already there.
  bool Add(InternalTimer timer);
  /// Removes `timer`; returns false if it was not there.
  bool Remove(const InternalTimer& timer);
  /// Returns the earliest timer, or nullptr.
  const InternalTimer* Peek() const;
  /// Removes and returns the earliest timer. REQUIRES: not empty.
  InternalTimer Pop();
  size_t size() const { return size_; }
  /// Holds key groups `range` as they are now: O(key groups).
  Held Hold(KeyGroupRange range) { return groups_.Take(range); }
  /// Calls `f(timer)` for each timer `held` holds in `range`, releasing each key group.
  template <typename F>
  static void ForEachHeld(Held& held, KeyGroupRange range, F&& f) {
    held.ReadAndRelease(range, [&](int32_t, const Group& g) {
      for (const InternalTimer& t : g) f(t);
    });
  }

 private:
  void CheckRange(int32_t key_group) const;
  // Keeps `heads_` in step after key group `kg`'s earliest time was `before`.
  void UpdateHead(int32_t key_group, std::optional<int64_t> before);

  internal::CowKeyGroups<Group> groups_;
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

  /// The timers of key groups `range` as of now, written later (on the snapshot thread) by
  /// Write(): O(key groups) now.
  class Deferred {
   public:
    void Write(KeyGroupRange range, SnapshotWriter& writer);

   private:
    friend class HeapTimerService;
    KeyGroupedTimerQueue::Held event_;
    KeyGroupedTimerQueue::Held processing_;
  };
  Deferred Defer(KeyGroupRange range);
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
