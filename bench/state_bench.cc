// Keyed ValueState get + update per key on the heap and RocksDB backends, next to a plain
// absl::flat_hash_map loop doing the same increment (the COST baseline), for 10 K and 1 M
// keys visited in a scattered order. Keys are int64; values int64 counters.
//
// The operator patterns, per record, as a keyed rolling sum and a keyed tumbling window
// count do them: set_current_key(key) [, set_current_namespace(window)], value(), update();
// at 100 K and 10 M keys, each next to its plain loop. The 10 M cases fill the state once and
// run a fixed number of records; RocksDB cases count the process's CPU time (background
// flushes and compactions included).
//
//   build/release/bin/eddy-bench-state [--benchmark_filter=...]
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

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

/// A backend of `type` in a directory of this process, disposed and removed at the end.
class BenchBackend {
 public:
  BenchBackend(benchmark::State& state, const std::string& type, const char* cache_size)
      : dir_((std::filesystem::temp_directory_path() /
              ("eddy-bench-state-" + std::to_string(::getpid())))
                 .string()) {
    std::filesystem::create_directories(dir_);
    eddy::Config config;
    if (!config.Set(eddy::opt::kStateBackendType, type).ok() ||
        !config.Set(eddy::opt::kStateRocksDbLocalDir, dir_).ok() ||
        !config.Set(eddy::opt::kStateRocksDbBlockCacheSize, cache_size).ok()) {
      state.SkipWithError("bad config");
      return;
    }
    auto backend =
        eddy::state::CreateKeyedStateBackend(config, eddy::state::StateBackendParams{});
    if (!backend.ok()) {
      state.SkipWithError(std::string(backend.status().message()).c_str());
      return;
    }
    backend_ = std::move(*backend);
  }
  ~BenchBackend() {
    if (backend_ != nullptr) (void)backend_->Dispose();
    std::filesystem::remove_all(dir_);
  }
  bool ok() const { return backend_ != nullptr; }
  eddy::KeyedStateBackend* operator->() { return backend_.get(); }
  eddy::KeyedStateBackend* operator*() { return backend_.get(); }

 private:
  std::string dir_;
  std::unique_ptr<eddy::KeyedStateBackend> backend_;
};

void RunValueState(benchmark::State& state, const std::string& type) {
  const int64_t keys = state.range(0);
  BenchBackend backend(state, type, "8mb");
  if (!backend.ok()) return;
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
}

// The window of the records of one run: a tumbling window's end (ms), set per record as a
// window operator does.
constexpr int64_t kWindowEnd = 60'000;

void BM_PlainRollingSum(benchmark::State& state) {
  const int64_t keys = state.range(0);
  absl::flat_hash_map<int64_t, int64_t> sums;
  sums.reserve(static_cast<size_t>(keys));
  for (int64_t k = 0; k < keys; ++k) sums[k] = 0;
  uint64_t step = 0;
  for (auto _ : state) {
    const int64_t key = KeyAt(step, keys);
    sums[key] += static_cast<int64_t>(step++ & 0xff);
  }
  benchmark::DoNotOptimize(sums);
  state.SetItemsProcessed(state.iterations());
}

void BM_PlainTumblingCount(benchmark::State& state) {
  const int64_t keys = state.range(0);
  // (key, window end) -> count, as a window operator keys its accumulators.
  absl::flat_hash_map<std::pair<int64_t, int64_t>, int64_t> counts;
  counts.reserve(static_cast<size_t>(keys));
  for (int64_t k = 0; k < keys; ++k) counts[{k, kWindowEnd}] = 0;
  uint64_t step = 0;
  for (auto _ : state) {
    ++counts[{KeyAt(step++, keys), kWindowEnd}];
  }
  benchmark::DoNotOptimize(counts);
  state.SetItemsProcessed(state.iterations());
}

/// Per record: set_current_key, [set_current_namespace,] value(), update().
void RunOperatorPattern(benchmark::State& state, const std::string& type, bool windowed) {
  const int64_t keys = state.range(0);
  BenchBackend backend(state, type, "64mb");
  if (!backend.ok()) return;
  auto* acc = *(*backend)->get_state(eddy::ValueStateDescriptor<int64_t>{"acc"});
  for (int64_t k = 0; k < keys; ++k) {
    (*backend)->set_current_key(k);
    if (windowed) acc->set_current_namespace(kWindowEnd);
    acc->update(0);
  }
  uint64_t step = 0;
  for (auto _ : state) {
    (*backend)->set_current_key(KeyAt(step, keys));
    if (windowed) {
      acc->set_current_namespace(kWindowEnd);
      acc->update(acc->value().value_or(0) + 1);
    } else {
      acc->update(acc->value().value_or(0) + static_cast<int64_t>(step & 0xff));
    }
    ++step;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_HeapRollingSum(benchmark::State& state) { RunOperatorPattern(state, "hashmap", false); }
void BM_RocksDbRollingSum(benchmark::State& state) {
  RunOperatorPattern(state, "rocksdb", false);
}
void BM_HeapTumblingCount(benchmark::State& state) {
  RunOperatorPattern(state, "hashmap", true);
}
void BM_RocksDbTumblingCount(benchmark::State& state) {
  RunOperatorPattern(state, "rocksdb", true);
}

void BM_HeapValueState(benchmark::State& state) { RunValueState(state, "hashmap"); }
void BM_RocksDbValueState(benchmark::State& state) { RunValueState(state, "rocksdb"); }

BENCHMARK(BM_PlainFlatHashMap)->Arg(10'000)->Arg(1'000'000);
BENCHMARK(BM_HeapValueState)->Arg(10'000)->Arg(1'000'000);
BENCHMARK(BM_RocksDbValueState)->Arg(10'000)->Arg(1'000'000);

// 10 M keys: filled once (a run per iteration count would refill), then 3 M records.
constexpr int64_t kBigRecords = 3'000'000;
BENCHMARK(BM_PlainRollingSum)->Arg(100'000);
BENCHMARK(BM_PlainRollingSum)->Arg(10'000'000)->Iterations(kBigRecords);
BENCHMARK(BM_HeapRollingSum)->Arg(100'000);
BENCHMARK(BM_HeapRollingSum)->Arg(10'000'000)->Iterations(kBigRecords);
BENCHMARK(BM_RocksDbRollingSum)->Arg(100'000)->MeasureProcessCPUTime();
BENCHMARK(BM_RocksDbRollingSum)->Arg(10'000'000)->Iterations(kBigRecords)->MeasureProcessCPUTime();
BENCHMARK(BM_PlainTumblingCount)->Arg(100'000);
BENCHMARK(BM_PlainTumblingCount)->Arg(10'000'000)->Iterations(kBigRecords);
BENCHMARK(BM_HeapTumblingCount)->Arg(100'000);
BENCHMARK(BM_HeapTumblingCount)->Arg(10'000'000)->Iterations(kBigRecords);
BENCHMARK(BM_RocksDbTumblingCount)->Arg(100'000)->MeasureProcessCPUTime();
BENCHMARK(BM_RocksDbTumblingCount)
    ->Arg(10'000'000)
    ->Iterations(kBigRecords)
    ->MeasureProcessCPUTime();

}  // namespace
