// Keyed window throughput: a tumbling-window count and a sliding-window count (size/slide =
// 6) per key through the window operator on the heap (and RocksDB) backend, next to a plain
// loop keeping the same per-window counts in absl::flat_hash_maps (the COST baseline).
// Records arrive in time order, batches of 256 as the task hands them, a watermark after
// each batch; window results go to an output that counts them. Each operator is warmed up
// with one window size of records first (not measured), so the figures are the steady state.
// items_per_second is per core (CPU time).
//
//   build/release/bin/eddy-bench-window [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

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
EDDY_FIELDS(Ev, key, ts);

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

/// One window operator fed batches of records in time order. Made once per benchmark and
/// warmed up with one window size of records, so that every run measures the steady state:
/// windows opening, filling, firing and being cleaned up.
class PipelineBase {
 public:
  virtual ~PipelineBase() = default;
};
/// The warmed-up pipelines, kept across the runs Google Benchmark makes of one benchmark and
/// closed by main() before static destruction (RocksDB's statics go first).
std::map<std::string, std::unique_ptr<PipelineBase>>& Pipelines() {
  static auto* pipelines = new std::map<std::string, std::unique_ptr<PipelineBase>>();
  return *pipelines;
}

template <typename Assigner>
class WindowPipeline final : public PipelineBase {
 public:
  WindowPipeline(Assigner assigner, const std::string& backend, int64_t keys, int64_t warmup_ms)
      : keys_(keys),
        dir_((std::filesystem::temp_directory_path() /
              ("eddy-bench-window-" + std::to_string(::getpid()) + "-" + backend))
                 .string()),
        backends_(backend, dir_),
        batch_(kBatch) {
    std::filesystem::create_directories(dir_);
    ctx_.keyed_state = &backends_;
    ctx_.processing_time = &time_;
    auto source = job_.source(eddy::SourceDef<Ev>{
        "Source", true, [] { return std::unique_ptr<eddy::SourceReader<Ev>>(); }});
    auto s = source.key_by(&Ev::key).window(assigner).aggregate(eddy::aggregates::count<Ev>());
    const eddy::OperatorNode& node = job_.node(s.node_index());
    out_ = node.make_output();
    out_->AddTarget(eddy::ErasedInput::Of<int64_t>(&sink_, &sink_));
    inst_ = node.make_operator(out_.get());
    inst_.op->Setup(&ctx_);
    inst_.op->SetOperatorId("window");
    inst_.op->AddOutput(out_.get());
    inst_.op->InitializeState(eddy::StateInitContext{});
    inst_.op->Open();
    input_ = inst_.inputs[0].As<Ev>();
    while (EventAt(next_, keys_).ts < warmup_ms) ProcessBatch();
    sink_.windows = 0;
  }
  ~WindowPipeline() override {
    inst_.op->Close();
    std::filesystem::remove_all(dir_);
  }

  void ProcessBatch() {
    for (auto& r : batch_) {
      r.value = EventAt(next_++, keys_);
      r.timestamp = r.value.ts;
    }
    input_->ProcessBatch(batch_);
    inst_.op->ProcessWatermark(0, batch_.back().timestamp - 1);
    inst_.op->FlushOutputs();
  }
  uint64_t windows() const { return sink_.windows; }

 private:
  int64_t keys_;
  std::string dir_;
  Backends backends_;
  NoProcessingTime time_;
  eddy::RuntimeContext ctx_;
  eddy::JobBuilder job_{"bench", 1};
  std::unique_ptr<eddy::OutputBase> out_;
  CountingSink sink_;
  eddy::OperatorInstance inst_;
  eddy::Input<Ev>* input_ = nullptr;
  std::vector<eddy::StreamRecord<Ev>> batch_;
  uint64_t next_ = 0;
};

template <typename Assigner>
void RunWindowOperator(benchmark::State& state, Assigner assigner, const std::string& backend,
                       int64_t warmup_ms) {
  std::unique_ptr<PipelineBase>& slot = Pipelines()[backend + "/" + std::to_string(state.range(0))];
  if (slot == nullptr) {
    slot = std::make_unique<WindowPipeline<Assigner>>(assigner, backend, state.range(0), warmup_ms);
  }
  auto* pipeline = static_cast<WindowPipeline<Assigner>*>(slot.get());
  const uint64_t windows_before = pipeline->windows();
  for (auto _ : state) pipeline->ProcessBatch();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  state.counters["windows"] = static_cast<double>(pipeline->windows() - windows_before);
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
  RunWindowOperator(state, eddy::TumblingEventTimeWindows::of(1s), "hashmap", kSecond);
}
void BM_HeapSliding6(benchmark::State& state) {
  RunWindowOperator(state, eddy::SlidingEventTimeWindows::of(6s, 1s), "hashmap", 6 * kSecond);
}
void BM_RocksDbTumbling(benchmark::State& state) {
  RunWindowOperator(state, eddy::TumblingEventTimeWindows::of(1s), "rocksdb", kSecond);
}

BENCHMARK(BM_PlainTumbling)->Arg(100'000);
BENCHMARK(BM_HeapTumbling)->Arg(100'000);
BENCHMARK(BM_PlainSliding6)->Arg(100'000);
BENCHMARK(BM_HeapSliding6)->Arg(100'000);
BENCHMARK(BM_RocksDbTumbling)->Arg(100'000);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  Pipelines().clear();
  benchmark::Shutdown();
  return 0;
}
