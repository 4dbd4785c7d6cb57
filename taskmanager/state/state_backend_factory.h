// Makes the keyed state backend the configuration names (state.backend.type: hashmap |
// rocksdb, Flink's key; per cluster or per job). Thread-safe; each backend it returns belongs
// to one task thread.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "api/state.h"
#include "common/config.h"
#include "taskmanager/state/keyed_state_backend_base.h"

namespace eddy::state {

struct RocksDbResources;

/// Returns a fresh backend for one operator subtask. `rocksdb_resources` (optional) is the
/// memory the RocksDB backends of one slot share. Errors: an unknown backend type, a RocksDB
/// directory that cannot be made (named).
absl::StatusOr<std::unique_ptr<KeyedStateBackend>> CreateKeyedStateBackend(
    const Config& config, const StateBackendParams& params,
    std::shared_ptr<RocksDbResources> rocksdb_resources = nullptr);

}  // namespace eddy::state
