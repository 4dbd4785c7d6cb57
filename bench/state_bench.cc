// Keyed ValueState get + update per key on the heap and RocksDB backends, next to a plain
// absl::flat_hash_map loop doing the same increment (the COST baseline), for 10 K and 1 M
// keys visited in a scattered order. Keys are int64; values int64 counters.
//
//   build/release/bin/eddy-bench-state [--benchmark_filter=...]
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <unistd.h>

#include "absl/container/flat_hash_map.h"
#include "api/state.h"
#include "common/config.h"
#include "taskmanager/state/state_backend_factory.h"

namespace {

// Visits every key of [0, keys) once per `keys` steps, in a scattered order.
int64_t KeyAt(uint64_t step, int64_t keys) {
  return static_cast<int64_t>((step * 2654435761u) % static_cast<uint64_t>(keys));
}

void BM_PlainFlatHashMap(benchmark::State& state) {
  const int64_t keys = state.range(0);
  absl::flat_hash_map<int64_t, int64_t> counts;
  for (int64_t k = 0; k < keys; ++k) counts[k] = 0;
  uint64_t step = 0;
  for (auto _ : state) {
    ++counts[KeyAt(step++, keys)];
  }
  benchmark::DoNotOptimize(counts);
  state.SetItemsProcessed(state.iterations());
}

void RunValueState(benchmark::State& state, const std::string& type) {
  const int64_t keys = state.range(0);
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("eddy-bench-state-" + std::to_string(::getpid())))
                              .string();
  std::filesystem::create_directories(dir);
  eddy::Config config;
  if (!config.Set(eddy::opt::kStateBackendType, type).ok() ||
      !config.Set(eddy::opt::kStateRocksDbLocalDir, dir).ok()) {
    state.SkipWithError("bad config");
    return;
  }
  auto backend = eddy::state::CreateKeyedStateBackend(config, eddy::state::StateBackendParams{});
  if (!backend.ok()) {
    state.SkipWithError(std::string(backend.status().message()).c_str());
    return;
  }
  auto* count = *(*backend)->get_state(eddy::ValueStateDescriptor<int64_t>{"count"});
  for (int64_t k = 0; k < keys; ++k) {
    (*backend)->set_current_key(k);
    count->update(0);
  }
  uint64_t step = 0;
  for (auto _ : state) {
    (*backend)->set_current_key(KeyAt(step++, keys));
    count->update(count->value().value_or(0) + 1);
  }
  state.SetItemsProcessed(state.iterations());
  (void)(*backend)->Dispose();
  std::filesystem::remove_all(dir);
}

void BM_HeapValueState(benchmark::State& state) { RunValueState(state, "hashmap"); }
void BM_RocksDbValueState(benchmark::State& state) { RunValueState(state, "rocksdb"); }

BENCHMARK(BM_PlainFlatHashMap)->Arg(10'000)->Arg(1'000'000);
BENCHMARK(BM_HeapValueState)->Arg(10'000)->Arg(1'000'000);
BENCHMARK(BM_RocksDbValueState)->Arg(10'000)->Arg(1'000'000);

}  // namespace
