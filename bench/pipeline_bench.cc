// Throughput of the task runtime, next to a plain single-threaded loop doing the same work
// (the COST baseline): records per second of wall time and per CPU-second of the whole
// process (every task and network thread), so the engine's cost per core compares with the
// one-core loop. Runs real Tasks on in-process NetworkEnvironments; the keyed shuffle
// uses two environments that talk over loopback TCP exactly like two TaskManagers.
//
//   build/release/bin/eddy-bench-pipeline [--records N]
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <thread>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>

#include "absl/container/flat_hash_map.h"
#include "api/job.h"
#include "common/logging.h"
#include "connectors/datagen/datagen.h"
#include "connectors/print_sink.h"
#include "jobmanager/deployment_plan.h"
#include "taskmanager/task.h"

namespace {

using Clock = std::chrono::steady_clock;

/// One in-process "TaskManager" network stack with its own I/O thread.
struct Environment {
  boost::asio::io_context io;
  std::unique_ptr<eddy::net::NetworkEnvironment> network;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  std::thread thread;
  uint16_t port = 0;

  Environment() {
    eddy::net::NetworkOptions options;
    network = eddy::net::NetworkEnvironment::Create(io, options);
    port = *network->Listen("127.0.0.1", 0);
    work.emplace(io.get_executor());
    thread = std::thread([this] { io.run(); });
  }
  ~Environment() {
    network->Stop();
    work.reset();
    io.stop();
    thread.join();
  }
};

/// Runs every subtask of the job built by `define` on `envs` (slot i -> envs[i % n]) and
/// returns the seconds until all finished.
/// Wall-clock and process CPU seconds of one run.
struct Timing {
  double wall = 0;
  double cpu = 0;
};

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

Timing RunJob(int parallelism, const std::function<void(eddy::JobBuilder&)>& define,
              std::vector<std::unique_ptr<Environment>>& envs,
              const std::map<std::string, std::string>& config = {}) {
  auto builder = std::make_shared<eddy::JobBuilder>("bench", parallelism);
  define(*builder);
  auto graph = std::make_shared<eddy::job::JobGraph>(*builder->ToJobGraph());
  for (const auto& [k, v] : config) (*graph->mutable_config())[k] = v;
  std::vector<eddy::SlotLocation> slots;
  for (int i = 0; i < eddy::SlotsNeeded(*graph); ++i) {
    Environment& env = *envs[i % envs.size()];
    slots.push_back({"tm" + std::to_string(i % envs.size()), "127.0.0.1", env.port});
  }
  std::atomic<int> done{0};
  std::atomic<bool> failed{false};
  std::vector<std::unique_ptr<eddy::Task>> tasks;
  static int job_counter = 0;
  std::string job_id = "benchjob" + std::to_string(job_counter++);
  // What a deployment hands out: the job's data-plane credential, known to every
  // TaskManager of the job.
  const std::string credential = "credential-of-" + job_id;
  for (auto& env : envs) env->network->SetJobCredential(job_id, credential);
  for (auto& planned : eddy::PlanDeployments(*graph, slots)) {
    eddy::TaskSetup setup;
    setup.job_id = job_id;
    setup.data_credential = credential;
    setup.graph = graph;
    setup.plan = builder;
    setup.args = std::make_shared<eddy::JobArgs>();
    setup.deployment = planned.deployment;
    setup.network = envs[planned.slot % envs.size()]->network.get();
    tasks.push_back(std::make_unique<eddy::Task>(
        std::move(setup), [&](const eddy::rpc::TaskReport& r) {
          if (r.state() == eddy::rpc::FAILED) {
            std::fprintf(stderr, "task failed: %s\n", r.failure().c_str());
            failed = true;
          }
          if (r.state() == eddy::rpc::FINISHED || r.state() == eddy::rpc::FAILED || r.state() == eddy::rpc::CANCELED) ++done;
        }));
  }
  auto start = Clock::now();
  const double cpu_start = ProcessCpuSeconds();
  for (auto& t : tasks) t->Start();
  while (done.load() < static_cast<int>(tasks.size())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling a benchmark's end
  }
  Timing timing{std::chrono::duration<double>(Clock::now() - start).count(),
                ProcessCpuSeconds() - cpu_start};
  tasks.clear();
  for (auto& env : envs) env->network->ReleaseJob(job_id);
  if (failed) std::exit(1);
  return timing;
}

int64_t KeyOf(int64_t i) { return (i * 2654435761LL) % 100003; }

using KV = std::pair<int64_t, int64_t>;

/// A keyed rolling sum over `records` generated (key, 1) pairs, into a discarding sink.
std::function<void(eddy::JobBuilder&)> KeyedSum(int64_t records) {
  return [records](eddy::JobBuilder& job) {
    eddy::connectors::datagen::GeneratorOptions options;
    options.count = records;
    job.source(eddy::connectors::datagen::generator<KV>(
                   [](int64_t i, std::mt19937_64&) { return KV(KeyOf(i), 1); }, options))
        .key_by(&KV::first)
        .sum(&KV::second)
        .sink(eddy::connectors::discard<KV>());
  };
}

template <typename F>
double Time(F f) {
  auto start = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Prints one row; "per core" is records per CPU-second, compared with the one-core loop.
void Row(const char* name, int64_t records, Timing t, double loop_seconds) {
  const double n = static_cast<double>(records);
  std::printf("%-34s %12lld %8.3f %8.3f %12.0f %12.0f %12.0f %7.1fx\n", name,
              static_cast<long long>(records), t.wall, t.cpu, n / t.wall, n / t.cpu,
              n / loop_seconds, t.cpu / loop_seconds);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Eddy pipeline throughput vs a plain loop"};
  int64_t records = 20'000'000;
  app.add_option("--records", records, "Records per run");
  CLI11_PARSE(app, argc, argv);
  eddy::SetLogLevel(eddy::LogLevel::kWarn);

  std::printf("%-34s %12s %8s %8s %12s %12s %12s %8s\n", "benchmark", "records", "wall s", "cpu s",
              "records/s", "per core/s", "plain loop/s", "vs loop");

  // 1. Chained map -> filter in one task (p=1): no serialization, no network.
  {
    std::vector<std::unique_ptr<Environment>> envs;
    envs.push_back(std::make_unique<Environment>());
    Timing seconds = RunJob(1, [&](eddy::JobBuilder& job) {
      job.source(eddy::connectors::datagen::sequence(0, records - 1))
          .map([](int64_t x) { return x * 2 + 1; })
          .filter([](int64_t x) { return x % 3 != 0; })
          .sink(eddy::connectors::discard<int64_t>());
    }, envs);
    volatile int64_t sink = 0;
    double loop = Time([&] {
      int64_t kept = 0;
      for (int64_t i = 0; i < records; ++i) {
        int64_t x = i * 2 + 1;
        if (x % 3 != 0) ++kept;
      }
      sink = kept;
    });
    Row("chained map->filter (p=1)", records, seconds, loop);
  }

  // 2. Keyed shuffle: key_by + rolling sum at p=2 over two network stacks (TCP loopback).
  {
    std::vector<std::unique_ptr<Environment>> envs;
    envs.push_back(std::make_unique<Environment>());
    envs.push_back(std::make_unique<Environment>());
    Timing seconds = RunJob(2, KeyedSum(records), envs);
    volatile size_t sink = 0;
    double loop = Time([&] {
      absl::flat_hash_map<int64_t, int64_t> counts;
      for (int64_t i = 0; i < records; ++i) counts[KeyOf(i)] += 1;
      sink = counts.size();
    });
    Row("keyed shuffle sum (p=2, 2 TMs)", records, seconds, loop);
  }

  // 3. The same keyed rolling sum as a stream: every record emits its key's updated sum.
  {
    std::vector<std::unique_ptr<Environment>> envs;
    envs.push_back(std::make_unique<Environment>());
    envs.push_back(std::make_unique<Environment>());
    Timing seconds = RunJob(2, KeyedSum(records), envs, {{"execution.runtime-mode", "streaming"}});
    volatile int64_t sink = 0;
    double loop = Time([&] {
      absl::flat_hash_map<int64_t, int64_t> counts;
      int64_t emitted = 0;
      for (int64_t i = 0; i < records; ++i) emitted += ++counts[KeyOf(i)];
      sink = emitted;
    });
    Row("streaming keyed rolling sum (p=2)", records, seconds, loop);
  }
  return 0;
}
