// The heap keyed state backend (state.backend.type: hashmap): per state, per key group
// open-addressing hash maps (absl::flat_hash_map) from the composite key (key group, key,
// namespace) to the stored bytes; map states nest a map of user keys. Reading and updating an
// existing value allocates nothing. Single-threaded (the task thread).
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
class HeapValueStore {
 public:
  explicit HeapValueStore(KeyGroupRange range) : first_(range.start), groups_(range.size()) {}

  bool Find(int32_t kg, std::string_view key, std::string_view* value) {
    auto& g = group(kg);
    auto it = g.find(Key(key));
    if (it == g.end()) return false;
    *value = it->second;
    return true;
  }
  void Store(int32_t kg, std::string_view key, std::string_view value) {
    group(kg).try_emplace(Key(key)).first->second.assign(value);
  }
  void Append(int32_t kg, std::string_view key, std::string_view value) {
    group(kg).try_emplace(Key(key)).first->second.append(value);
  }
  void Erase(int32_t kg, std::string_view key) { group(kg).erase(Key(key)); }

  void ForEachInRange(
      KeyGroupRange range,
      absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)> f) const;
  void Restore(std::string_view key, std::string_view user_key, std::string_view value);

 private:
  absl::flat_hash_map<std::string, std::string>& group(int32_t kg) { return groups_[kg - first_]; }
  int32_t first_;
  std::vector<absl::flat_hash_map<std::string, std::string>> groups_;
};

/// A map of user keys to bytes per (key group, composite key): map states.
class HeapMapStore {
 public:
  explicit HeapMapStore(KeyGroupRange range) : first_(range.start), groups_(range.size()) {}

  bool FindEntry(int32_t kg, std::string_view key, std::string_view user_key,
                 std::string_view* value);
  void StoreEntry(int32_t kg, std::string_view key, std::string_view user_key,
                  std::string_view value) {
    group(kg).try_emplace(Key(key)).first->second.try_emplace(Key(user_key)).first->second.assign(value);
  }
  void EraseEntry(int32_t kg, std::string_view key, std::string_view user_key);
  void ForEachEntry(int32_t kg, std::string_view key,
                    absl::FunctionRef<void(std::string_view, std::string_view)> f);
  bool HasEntries(int32_t kg, std::string_view key) { return group(kg).contains(Key(key)); }
  void EraseEntries(int32_t kg, std::string_view key) { group(kg).erase(Key(key)); }

  void ForEachInRange(
      KeyGroupRange range,
      absl::FunctionRef<void(std::string_view, std::string_view, std::string_view)> f) const;
  void Restore(std::string_view key, std::string_view user_key, std::string_view value);

 private:
  using Entries = absl::flat_hash_map<std::string, std::string>;
  absl::flat_hash_map<std::string, Entries>& group(int32_t kg) { return groups_[kg - first_]; }
  int32_t first_;
  std::vector<absl::flat_hash_map<std::string, Entries>> groups_;
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
