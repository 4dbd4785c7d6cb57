#include "taskmanager/state/state_backend_factory.h"

#include "absl/strings/str_cat.h"
#include "taskmanager/state/heap_keyed_state_backend.h"
#include "taskmanager/state/rocksdb_keyed_state_backend.h"

namespace eddy::state {

absl::StatusOr<std::unique_ptr<KeyedStateBackend>> CreateKeyedStateBackend(
    const Config& config, const StateBackendParams& params,
    std::shared_ptr<RocksDbResources> rocksdb_resources) {
  const std::string type = config.GetString(opt::kStateBackendType);
  if (type == "hashmap") return std::make_unique<HeapKeyedStateBackend>(params);
  if (type == "rocksdb") {
    absl::StatusOr<std::unique_ptr<RocksDbKeyedStateBackend>> backend =
        RocksDbKeyedStateBackend::Open(params, RocksDbOptions::FromConfig(config),
                                       std::move(rocksdb_resources));
    if (!backend.ok()) return backend.status();
    return std::unique_ptr<KeyedStateBackend>(std::move(*backend));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown ", opt::kStateBackendType, " '", type, "' (hashmap or rocksdb)"));
}

}  // namespace eddy::state
