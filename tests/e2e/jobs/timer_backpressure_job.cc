// Test job: an unthrottled source feeds a process function whose output crosses the network
// to a sink that takes 200 µs per record, so the process function's task is backpressured.
// The function registers a processing-time timer every 50 ms; each firing appends
// "<due> <fired>" (ms) to --timers FILE at once, so the test sees how late timers run
// while the task's outputs are full.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "api/job.h"
#include "connectors/datagen/datagen.h"

namespace {

struct SlowSink : eddy::SinkFunction<int64_t> {
  void WriteBatch(std::span<const eddy::StreamRecord<int64_t>> batch) override {
    std::this_thread::sleep_for(std::chrono::microseconds(200) * batch.size());
  }
};

class PeriodicTimers {
 public:
  explicit PeriodicTimers(std::string path) : path_(std::move(path)) {}
  void open(eddy::RuntimeContext& ctx) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    time_ = ctx.processing_time;
    Schedule(time_->CurrentProcessingTime() + 50);
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void operator()(const int64_t& v, eddy::ProcessContext&, eddy::Collector<int64_t>& out) {
    out.collect(v);
  }

 private:
  void Schedule(int64_t due) {
    time_->RegisterTimer(due, [this, due](int64_t now) {
      std::string line = std::to_string(due) + " " + std::to_string(now) + "\n";
      if (fd_ >= 0 && ::write(fd_, line.data(), line.size()) < 0) return;
      Schedule(due + 50);
    });
  }
  std::string path_;
  int fd_ = -1;
  eddy::ProcessingTimeService* time_ = nullptr;
};

}  // namespace

EDDY_JOB(timer_backpressure_job) {
  eddy::connectors::datagen::GeneratorOptions options;
  options.name = "FastSource";
  job.source(eddy::connectors::datagen::generator<int64_t>(
                 [](int64_t i, std::mt19937_64&) { return i; }, options))
      .process(PeriodicTimers(args.require("timers")))
      .name("Timers")
      .rebalance()
      .sink(eddy::SinkDef<int64_t>{"SlowSink", [] { return std::make_unique<SlowSink>(); }});
}
