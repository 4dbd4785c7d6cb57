// Keyed window throughput: a tumbling-window count and a sliding-window count (size/slide =
// 6) per key through the window operator on the heap (and RocksDB) backend, next to a plain
// loop keeping the same per-window counts in absl::flat_hash_maps (the COST baseline).
// Records arrive in time order, batches of 256 as the task hands them, a watermark after
// each batch; window results go to an output that counts them. items_per_second is per core
// (CPU time).
//
//   build/release/bin/eddy-bench-window [--benchmark_filter=...]
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <unistd.h>

#include "absl/container/flat_hash_map.h"
#include "api/windows.h"
#include "common/config.h"
#include "taskmanager/state/state_backend_factory.h"

namespace {

using namespace std::chrono_literals;

struct Ev {
  int64_t key = 0;
  int64_t ts = 0;
};

constexpr size_t kBatch = 256;
constexpr int64_t kPerKeyPerSecond = 10;  // records of one key per second of event time
constexpr int64_t kSecond = 1000;

// Record `i`: a scattered key; time runs so that each key has kPerKeyPerSecond records per
// second of event time (1 M records per second at 100 K keys).
Ev EventAt(uint64_t i, int64_t keys) {
  const int64_t per_second = keys * kPerKeyPerSecond;
  return Ev{static_cast<int64_t>((i * 2654435761u) % static_cast<uint64_t>(keys)),
            static_cast<int64_t>(i) * kSecond / per_second};
}

/// Counts what reaches it.
class CountingSink final : public eddy::OneInputStreamOperator<int64_t> {
 public:
  void ProcessBatch(std::span<const eddy::StreamRecord<int64_t>> batch) override {
    for (const auto& r : batch) sum += r.value;
    windows += batch.size();
  }
  uint64_t windows = 0;
  int64_t sum = 0;
};

class NoProcessingTime final : public eddy::ProcessingTimeService {
 public:
  int64_t CurrentProcessingTime() const override { return 0; }
  void RegisterTimer(int64_t, std::function<void(int64_t)>) override {}
};

class Backends final : public eddy::KeyedStateBackendFactory {
 public:
  Backends(std::string type, std::string dir) : type_(std::move(type)), dir_(std::move(dir)) {}
  absl::StatusOr<std::unique_ptr<eddy::KeyedStateBackend>> Create(std::string_view) override {
    eddy::Config config;
    if (absl::Status s = config.Set(eddy::opt::kStateBackendType, type_); !s.ok()) return s;
    if (absl::Status s = config.Set(eddy::opt::kStateRocksDbLocalDir, dir_); !s.ok()) return s;
    return eddy::state::CreateKeyedStateBackend(config, eddy::state::StateBackendParams{});
  }

 private:
  std::string type_, dir_;
};

template <typename Assigner>
void RunWindowOperator(benchmark::State& state, Assigner assigner, const std::string& backend) {
  const int64_t keys = state.range(0);
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("eddy-bench-window-" + std::to_string(::getpid())))
                              .string();
  std::filesystem::create_directories(dir);
  Backends backends(backend, dir);
  NoProcessingTime time;
  eddy::RuntimeContext ctx;
  ctx.keyed_state = &backends;
  ctx.processing_time = &time;

  eddy::JobBuilder job("bench", 1);
  auto source = job.source(eddy::SourceDef<Ev>{"Source", true, [] {
    return std::unique_ptr<eddy::SourceReader<Ev>>();
  }});
  auto s = source.key_by(&Ev::key).window(assigner).aggregate(eddy::aggregates::count<Ev>());
  const eddy::OperatorNode& node = job.node(s.node_index());
  std::unique_ptr<eddy::OutputBase> out = node.make_output();
  CountingSink sink;
  out->AddTarget(eddy::ErasedInput::Of<int64_t>(&sink, &sink));
  eddy::OperatorInstance inst = node.make_operator(out.get());
  inst.op->Setup(&ctx);
  inst.op->SetOperatorId("window");
  inst.op->AddOutput(out.get());
  inst.op->InitializeState();
  inst.op->Open();
  eddy::Input<Ev>* input = inst.inputs[0].As<Ev>();

  std::vector<eddy::StreamRecord<Ev>> batch(kBatch);
  uint64_t i = 0;
  for (auto _ : state) {
    for (auto& r : batch) {
      r.value = EventAt(i++, keys);
      r.timestamp = r.value.ts;
    }
    input->ProcessBatch(batch);
    inst.op->ProcessWatermark(0, batch.back().timestamp - 1);
    inst.op->FlushOutputs();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  state.counters["windows"] = static_cast<double>(sink.windows);
  benchmark::DoNotOptimize(sink.sum);
  inst.op->Close();
  std::filesystem::remove_all(dir);
}

/// The plain loop: per open window start, a flat_hash_map key -> count; a window is emitted
/// (each count summed into a checksum) and dropped when the watermark passes its end.
void RunPlainLoop(benchmark::State& state, int64_t size, int64_t slide) {
  const int64_t keys = state.range(0);
  std::map<int64_t, absl::flat_hash_map<int64_t, int64_t>> open;
  uint64_t i = 0, windows = 0;
  int64_t checksum = 0;
  for (auto _ : state) {
    int64_t last_ts = 0;
    for (size_t b = 0; b < kBatch; ++b) {
      const Ev e = EventAt(i++, keys);
      const int64_t last_start = eddy::WindowStart(e.ts, 0, slide);
      for (int64_t start = last_start; start > e.ts - size; start -= slide) ++open[start][e.key];
      last_ts = e.ts;
    }
    const int64_t watermark = last_ts - 1;
    while (!open.empty() && open.begin()->first + size - 1 <= watermark) {
      for (const auto& [key, count] : open.begin()->second) checksum += count;
      windows += open.begin()->second.size();
      open.erase(open.begin());
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  state.counters["windows"] = static_cast<double>(windows);
  benchmark::DoNotOptimize(checksum);
}

void BM_PlainTumbling(benchmark::State& state) { RunPlainLoop(state, kSecond, kSecond); }
void BM_PlainSliding6(benchmark::State& state) { RunPlainLoop(state, 6 * kSecond, kSecond); }
void BM_HeapTumbling(benchmark::State& state) {
  RunWindowOperator(state, eddy::TumblingEventTimeWindows::of(1s), "hashmap");
}
void BM_HeapSliding6(benchmark::State& state) {
  RunWindowOperator(state, eddy::SlidingEventTimeWindows::of(6s, 1s), "hashmap");
}
void BM_RocksDbTumbling(benchmark::State& state) {
  RunWindowOperator(state, eddy::TumblingEventTimeWindows::of(1s), "rocksdb");
}

BENCHMARK(BM_PlainTumbling)->Arg(100'000);
BENCHMARK(BM_HeapTumbling)->Arg(100'000);
BENCHMARK(BM_PlainSliding6)->Arg(100'000);
BENCHMARK(BM_HeapSliding6)->Arg(100'000);
BENCHMARK(BM_RocksDbTumbling)->Arg(100'000);

}  // namespace
