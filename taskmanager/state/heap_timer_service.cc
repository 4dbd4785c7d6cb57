#include "taskmanager/state/heap_timer_service.h"

namespace eddy::state {

void KeyGroupedTimerQueue::CheckRange(int32_t key_group) const {
  EDDY_CHECK(key_group >= groups_.first() && key_group <= groups_.last())
      << "timer of key group " << key_group << " outside this queue's range";
}

void KeyGroupedTimerQueue::UpdateHead(int32_t key_group, std::optional<int64_t> before) {
  const Group& g = groups_.Read(key_group);
  const std::optional<int64_t> after =
      g.empty() ? std::nullopt : std::optional<int64_t>(g.begin()->time);
  if (before == after) return;
  if (before) heads_.erase({*before, key_group});
  if (after) heads_.insert({*after, key_group});
}

bool KeyGroupedTimerQueue::Add(InternalTimer timer) {
  const int32_t kg = timer.key_group;
  CheckRange(kg);
  // The same timer again is common (each record of a window registers its end): it must not
  // copy a key group a snapshot holds.
  Group* group = groups_.WriteIfChanges(kg, [&](const Group& g) { return !g.contains(timer); });
  if (group == nullptr) return false;
  Group& g = *group;
  const std::optional<int64_t> before =
      g.empty() ? std::nullopt : std::optional<int64_t>(g.begin()->time);
  if (!g.insert(std::move(timer)).second) return false;
  ++size_;
  UpdateHead(kg, before);
  return true;
}

bool KeyGroupedTimerQueue::Remove(const InternalTimer& timer) {
  CheckRange(timer.key_group);
  Group* group = groups_.WriteIfChanges(timer.key_group,
                                        [&](const Group& g) { return g.contains(timer); });
  if (group == nullptr) return false;
  Group& g = *group;
  const std::optional<int64_t> before =
      g.empty() ? std::nullopt : std::optional<int64_t>(g.begin()->time);
  if (g.erase(timer) == 0) return false;
  --size_;
  UpdateHead(timer.key_group, before);
  return true;
}

const InternalTimer* KeyGroupedTimerQueue::Peek() const {
  if (heads_.empty()) return nullptr;
  return &*groups_.Read(heads_.begin()->second).begin();
}

InternalTimer KeyGroupedTimerQueue::Pop() {
  EDDY_CHECK(!heads_.empty()) << "Pop() on an empty timer queue";
  const auto [time, kg] = *heads_.begin();
  Group& g = groups_.Write(kg);
  InternalTimer timer = std::move(g.extract(g.begin()).value());
  --size_;
  UpdateHead(kg, time);
  return timer;
}

InternalTimer HeapTimerService::AtCurrentKey(std::string_view ns, int64_t time) const {
  EDDY_CHECK(backend_->current_key_group() >= 0) << "timer used with no current key";
  return InternalTimer{time, backend_->current_key_group(),
                       std::string(backend_->current_key_bytes()), std::string(ns)};
}

void HeapTimerService::Register(TimeDomain domain, std::string_view ns, int64_t time) {
  queue(domain).Add(AtCurrentKey(ns, time));
}

void HeapTimerService::Delete(TimeDomain domain, std::string_view ns, int64_t time) {
  queue(domain).Remove(AtCurrentKey(ns, time));
}

void HeapTimerService::Fire(KeyGroupedTimerQueue& queue, int64_t time,
                            absl::FunctionRef<void(const InternalTimer&)> on_timer) {
  while (const InternalTimer* next = queue.Peek()) {
    if (next->time > time) break;
    const InternalTimer timer = queue.Pop();
    backend_->SetCurrentKeyBytes(timer.key_group, timer.key);
    on_timer(timer);
  }
}

void HeapTimerService::advance_watermark(int64_t watermark,
                                         absl::FunctionRef<void(const InternalTimer&)> on_timer) {
  watermark_ = std::max(watermark_, watermark);
  Fire(event_, watermark, on_timer);
}

void HeapTimerService::advance_processing_time(
    int64_t time, absl::FunctionRef<void(const InternalTimer&)> on_timer) {
  Fire(processing_, time, on_timer);
}

std::optional<int64_t> HeapTimerService::next_timer_time(TimeDomain domain) const {
  const InternalTimer* next = queue(domain).Peek();
  return next == nullptr ? std::nullopt : std::optional<int64_t>(next->time);
}

HeapTimerService::Deferred HeapTimerService::Defer(KeyGroupRange range) {
  Deferred deferred;
  deferred.event_ = event_.Hold(range);
  deferred.processing_ = processing_.Hold(range);
  return deferred;
}

void HeapTimerService::Deferred::Write(KeyGroupRange range, SnapshotWriter& writer) {
  KeyGroupedTimerQueue::ForEachHeld(event_, range, [&](const InternalTimer& t) {
    writer.Timer(TimeDomain::kEventTime, t);
  });
  KeyGroupedTimerQueue::ForEachHeld(processing_, range, [&](const InternalTimer& t) {
    writer.Timer(TimeDomain::kProcessingTime, t);
  });
}

void HeapTimerService::Restore(TimeDomain domain, const InternalTimer& timer) {
  if (!backend_->key_group_range().Contains(timer.key_group)) return;
  queue(domain).Add(timer);
}

}  // namespace eddy::state
