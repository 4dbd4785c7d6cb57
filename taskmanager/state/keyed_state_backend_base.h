// What the heap and RocksDB backends share: the registry of state tables and timer services,
// registration checks, and snapshot/restore by key-group range in the backend-independent
// format (snapshot_format.h). A backend supplies only CreateTable(). Single-threaded.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/state.h"
#include "taskmanager/state/heap_timer_service.h"
#include "taskmanager/state/state_tables.h"

namespace eddy::state {

/// What a factory needs to make a backend for one operator subtask.
struct StateBackendParams {
  std::string job_id = "job";
  std::string operator_id = "op";
  int32_t subtask = 0;
  int32_t max_parallelism = 128;
  KeyGroupRange key_groups{0, 127};
  /// The clock TTL reads (ms); empty = system clock.
  StateClock clock;
};

class KeyedStateBackendBase : public KeyedStateBackend {
 public:
  explicit KeyedStateBackendBase(const StateBackendParams& params);

  InternalTimerService* timer_service(std::string_view name) override;
  absl::Status SnapshotKeyGroups(KeyGroupRange range, std::string* out) override;
  /// Now: each table's store holds its entries (heap: key groups copy-on-write; RocksDB: a
  /// DB snapshot) and the timers their key groups, in O(tables x key groups). The writer
  /// encodes them, on any one thread.
  absl::StatusOr<DeferredSnapshot> SnapshotKeyGroupsDeferred(KeyGroupRange range) override;
  absl::Status Restore(std::string_view snapshot) override;
  /// Reads a native snapshot's entries (RocksDB files, whatever this backend is) and keeps
  /// those of this backend's key groups.
  absl::Status RestoreNative(const NativeRestore& restore) override;

 protected:
  /// Makes an empty table for `meta` (one per state name).
  virtual absl::StatusOr<std::unique_ptr<internal::StateTable>> CreateTable(
      const StateMeta& meta) = 0;
  absl::StatusOr<internal::StateTable*> GetOrCreateTable(const StateMeta& meta) override;
  absl::Status ForEachValueBytes(
      std::string_view name, std::string_view ns,
      absl::FunctionRef<void(std::string_view, std::string_view)> f) override;
  const StateClock* clock() const { return &clock_; }
  /// Drops every table and timer (Dispose()).
  void DropAll();
  /// True before any state or timer service exists (nothing registered or restored).
  bool empty() const { return tables_.empty() && timers_.empty(); }
  /// Writes every table's buffered updates through (before a native snapshot).
  void FlushTables();
  /// A native snapshot's meta — this backend's range, its states without entries, and its
  /// timers, in the backend-independent format — as of now (timers held copy-on-write),
  /// written by the returned function on any one thread.
  std::function<std::string()> DeferSnapshotMeta();

 private:
  class Restorer;
  struct Table {
    std::unique_ptr<internal::StateTable> table;
    TableStorage* storage = nullptr;
  };
  absl::StatusOr<Table*> FindOrCreate(const StateMeta& meta, bool restoring);
  /// `range` clipped to this backend's; InvalidArgument if they do not overlap.
  absl::StatusOr<KeyGroupRange> Clip(KeyGroupRange range) const;
  /// Every timer service's key groups `range`, held copy-on-write for a later write.
  using HeldTimers = std::vector<std::pair<std::string, HeapTimerService::Deferred>>;
  std::shared_ptr<HeldTimers> HoldTimers(KeyGroupRange range);
  static void WriteHeldTimers(HeldTimers& timers, KeyGroupRange range, SnapshotWriter& writer);

  StateClock clock_;
  std::map<std::string, Table, std::less<>> tables_;
  std::map<std::string, std::unique_ptr<HeapTimerService>, std::less<>> timers_;
};

}  // namespace eddy::state
