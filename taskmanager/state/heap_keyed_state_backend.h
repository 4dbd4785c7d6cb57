// The heap keyed state backend (state.backend.type: hashmap): per state, per key group
// open-addressing hash maps (absl::flat_hash_map) from the composite key (key group, key,
// namespace) to the value — decoded for value-like states without TTL (HeapValueTable),
// bytes otherwise; map states nest a map of user keys. Reading and updating an existing value
// allocates nothing. The task thread owns the backend; key groups are copy-on-write, so a
// checkpoint holds them in O(key groups) and encodes them on the snapshot thread while the
// task goes on (api/cow_key_groups.h).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "taskmanager/state/keyed_state_backend_base.h"

namespace eddy::state {

/// Debian's abseil has its own string_view; hash-map lookups take that one.
inline absl::string_view Key(std::string_view s) { return absl::string_view(s.data(), s.size()); }

/// Bytes per (key group, composite key): values, reducing/aggregating accumulators, lists.
/// Key groups are copy-on-write: Defer() holds them for a snapshot written on another thread.
class HeapValueStore {
 public:
  explicit HeapValueStore(KeyGroupRange range) : groups_(range) {}

  /// `key_id` != 0 names `key` (StateTable::composite_id): the entry found or stored under
  /// it is remembered, so the update after a get does not hash and probe again.
  bool Find(int32_t kg, std::string_view key, std::string_view* value, uint64_t key_id = 0) {
    if (const std::string* v = Cached(key_id)) {
      *value = *v;
      return true;
    }
    const Map& g = groups_.Read(kg);
    auto it = g.find(Key(key));
    if (it == g.end()) return false;
    // Written through only once the group is the task's own again: Store() checks.
    Remember(key_id, const_cast<std::string*>(&it->second));
    *value = it->second;
    return true;
  }
  void Store(int32_t kg, std::string_view key, std::string_view value, uint64_t key_id = 0) {
    Map& g = Writable(kg);
    if (std::string* v = Cached(key_id)) {
      v->assign(value);
      return;
    }
    std::string* v = &Emplace(g, key);
    v->assign(value);
    Remember(key_id, v);
  }
  void Append(int32_t kg, std::string_view key, std::string_view value) {
    Emplace(Writable(kg), key).append(value);
  }
  void Erase(int32_t kg, std::string_view key) {
    if (!groups_.Exclusive(kg)) ++layout_;  // a copy would move the remembered entry
    Map* g = groups_.WriteIfChanges(kg, [&](const Map& m) { return m.contains(Key(key)); });
    if (g != nullptr && g->erase(Key(key)) != 0) ++layout_;
  }

  void ForEachInRange(
      KeyGroupRange range,
      absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)> f) const;
  void Restore(std::string_view key, std::string_view user_key, std::string_view value);
  /// The entries as of now, scanned later on the snapshot thread.
  std::unique_ptr<DeferredScan> Defer();

 private:
  using Map = absl::flat_hash_map<std::string, std::string>;
  /// Key group `kg` to change; a copy (the snapshot holding the old one) forgets the
  /// remembered entry.
  Map& Writable(int32_t kg) {
    if (!groups_.Exclusive(kg)) ++layout_;
    return groups_.Write(kg);
  }
  std::string& Emplace(Map& g, std::string_view key) {
    auto [it, inserted] = g.try_emplace(Key(key));
    if (inserted) ++layout_;
    return it->second;
  }
  // Inserts may move entries (rehash), so any insert, erase or copy forgets the cached entry.
  std::string* Cached(uint64_t key_id) const {
    return key_id != 0 && key_id == cached_id_ && cached_layout_ == layout_ ? cached_ : nullptr;
  }
  void Remember(uint64_t key_id, std::string* value) {
    cached_id_ = key_id;
    cached_layout_ = layout_;
    cached_ = value;
  }

  internal::CowKeyGroups<Map> groups_;
  uint64_t layout_ = 0;  // +1 on every insert, erase and key-group copy
  uint64_t cached_id_ = 0;
  uint64_t cached_layout_ = 0;
  std::string* cached_ = nullptr;
};

/// A map of user keys to bytes per (key group, composite key): map states. Key groups are
/// copy-on-write, as in HeapValueStore.
class HeapMapStore {
 public:
  explicit HeapMapStore(KeyGroupRange range) : groups_(range) {}

  bool FindEntry(int32_t kg, std::string_view key, std::string_view user_key,
                 std::string_view* value);
  void StoreEntry(int32_t kg, std::string_view key, std::string_view user_key,
                  std::string_view value) {
    groups_.Write(kg)
        .try_emplace(Key(key))
        .first->second.try_emplace(Key(user_key))
        .first->second.assign(value);
  }
  void EraseEntry(int32_t kg, std::string_view key, std::string_view user_key);
  void ForEachEntry(int32_t kg, std::string_view key,
                    absl::FunctionRef<void(std::string_view, std::string_view)> f);
  bool HasEntries(int32_t kg, std::string_view key) { return groups_.Read(kg).contains(Key(key)); }
  void EraseEntries(int32_t kg, std::string_view key) {
    if (Map* g = groups_.WriteIfChanges(kg, [&](const Map& m) { return m.contains(Key(key)); })) {
      g->erase(Key(key));
    }
  }

  void ForEachInRange(
      KeyGroupRange range,
      absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)> f) const;
  void Restore(std::string_view key, std::string_view user_key, std::string_view value);
  /// The entries as of now, scanned later on the snapshot thread.
  std::unique_ptr<DeferredScan> Defer();

 private:
  using Entries = absl::flat_hash_map<std::string, std::string>;
  using Map = absl::flat_hash_map<std::string, Entries>;
  internal::CowKeyGroups<Map> groups_;
};

/// Value, reducing and aggregating state on the heap. Without TTL, values are kept decoded
/// (internal::TypedValues) once a handle has said their type: get + update then does no Serde
/// work and no virtual call, and snapshots encode them. Until then (a state restored but not
/// yet registered), and always with TTL, values are bytes in a HeapValueStore.
class HeapValueTable final : public ValueTableImpl<HeapValueStore> {
 public:
  HeapValueTable(StateMeta meta, const internal::CurrentKey* key, KeyGroupRange range,
                 const StateClock* clock)
      : ValueTableImpl(std::move(meta), key, HeapValueStore(range), clock), range_(range) {}

  internal::TypedValues* Typed(const internal::ValueOps* ops) override;

  // The byte-level interface, over the decoded values once there are.
  bool Get(std::string_view* value) override;
  void Commit() override;
  void Clear() override;
  void SnapshotRange(KeyGroupRange range,
                     absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)>
                         entry) override;
  void RestoreEntry(std::string_view stored_key, std::string_view user_key,
                    std::string_view value) override;
  /// Holds the key groups (decoded values or bytes) for a snapshot encoded on the snapshot
  /// thread: O(key groups) on the task thread.
  std::unique_ptr<DeferredScan> Defer() override;

 private:
  void Decode(std::string_view bytes, void* value) const;

  KeyGroupRange range_;
  std::unique_ptr<internal::TypedValues> typed_;
  std::string encoded_;
};

class HeapKeyedStateBackend final : public KeyedStateBackendBase {
 public:
  explicit HeapKeyedStateBackend(const StateBackendParams& params)
      : KeyedStateBackendBase(params) {}
  absl::Status Dispose() override {
    DropAll();
    return absl::OkStatus();
  }

 protected:
  absl::StatusOr<std::unique_ptr<internal::StateTable>> CreateTable(
      const StateMeta& meta) override;
};

}  // namespace eddy::state
