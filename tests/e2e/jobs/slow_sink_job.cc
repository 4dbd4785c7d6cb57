// Test job: an unbounded, unthrottled source feeds (across the network) a sink that takes
// 200 µs per record, so the source must be slowed down by backpressure.
#include <chrono>
#include <thread>

#include "api/job.h"
#include "connectors/datagen/datagen.h"

namespace {
struct SlowSink : eddy::SinkFunction<int64_t> {
  void WriteBatch(std::span<const eddy::StreamRecord<int64_t>> batch) override {
    // Deliberately slow consumer: the point of the test.
    std::this_thread::sleep_for(std::chrono::microseconds(200) * batch.size());
  }
};
}  // namespace

EDDY_JOB(slow_sink_job) {
  eddy::connectors::datagen::GeneratorOptions options;
  options.name = "FastSource";
  job.source(eddy::connectors::datagen::generator<int64_t>(
                 [](int64_t i, std::mt19937_64&) { return i; }, options))
      .rebalance()
      .sink(eddy::SinkDef<int64_t>{"SlowSink", [] { return std::make_unique<SlowSink>(); }});
}
