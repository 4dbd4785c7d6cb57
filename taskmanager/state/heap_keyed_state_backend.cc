#include "taskmanager/state/heap_keyed_state_backend.h"

#include <algorithm>

namespace eddy::state {
namespace {

// Calls `f(kg, group)` for the key groups of `range` a store of `groups` from `first` holds.
template <typename Groups, typename F>
void ForEachGroup(const Groups& groups, int32_t first, KeyGroupRange range, F&& f) {
  const int32_t lo = std::max(range.start, first);
  const int32_t hi = std::min(range.end, first + static_cast<int32_t>(groups.size()) - 1);
  for (int32_t kg = lo; kg <= hi; ++kg) f(groups[kg - first]);
}

int32_t KeyGroupOf(std::string_view stored_key) {
  StoredKey parsed;
  EDDY_CHECK(ParseStoredKey(stored_key, &parsed)) << "restored state key is malformed";
  return parsed.key_group;
}

}  // namespace

void HeapValueStore::ForEachInRange(
    KeyGroupRange range,
    absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)> f) const {
  ForEachGroup(groups_, first_, range, [&](const auto& g) {
    for (const auto& [key, value] : g) f(key, {}, value);
  });
}

void HeapValueStore::Restore(std::string_view key, std::string_view, std::string_view value) {
  Store(KeyGroupOf(key), key, value);
}

bool HeapMapStore::FindEntry(int32_t kg, std::string_view key, std::string_view user_key,
                             std::string_view* value) {
  auto& g = group(kg);
  auto it = g.find(Key(key));
  if (it == g.end()) return false;
  auto entry = it->second.find(Key(user_key));
  if (entry == it->second.end()) return false;
  *value = entry->second;
  return true;
}

void HeapMapStore::EraseEntry(int32_t kg, std::string_view key, std::string_view user_key) {
  auto& g = group(kg);
  auto it = g.find(Key(key));
  if (it == g.end()) return;
  it->second.erase(Key(user_key));
  if (it->second.empty()) g.erase(it);  // an empty map is no map: is_empty() stays O(1)
}

void HeapMapStore::ForEachEntry(int32_t kg, std::string_view key,
                                absl::FunctionRef<void(std::string_view, std::string_view)> f) {
  auto& g = group(kg);
  auto it = g.find(Key(key));
  if (it == g.end()) return;
  for (const auto& [user_key, value] : it->second) f(user_key, value);
}

void HeapMapStore::ForEachInRange(
    KeyGroupRange range,
    absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)> f) const {
  ForEachGroup(groups_, first_, range, [&](const auto& g) {
    for (const auto& [key, entries] : g) {
      for (const auto& [user_key, value] : entries) f(key, user_key, value);
    }
  });
}

void HeapMapStore::Restore(std::string_view key, std::string_view user_key,
                           std::string_view value) {
  StoreEntry(KeyGroupOf(key), key, user_key, value);
}

absl::StatusOr<std::unique_ptr<internal::StateTable>> HeapKeyedStateBackend::CreateTable(
    const StateMeta& meta) {
  const KeyGroupRange range = key_group_range();
  switch (meta.kind) {
    case StateKind::kValue:
    case StateKind::kReducing:
    case StateKind::kAggregating:
      return std::make_unique<ValueTableImpl<HeapValueStore>>(meta, current(),
                                                              HeapValueStore(range), clock());
    case StateKind::kList:
      return std::make_unique<ListTableImpl<HeapValueStore>>(meta, current(),
                                                             HeapValueStore(range), clock());
    case StateKind::kMap:
      return std::make_unique<MapTableImpl<HeapMapStore>>(meta, current(), HeapMapStore(range),
                                                          clock());
  }
  return absl::InvalidArgumentError("unknown state kind");
}

}  // namespace eddy::state
