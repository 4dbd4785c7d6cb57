// One running subtask (one execution attempt): instantiates its chain of operators from the
// job library's builder, wires network writers and input channels, and runs a mailbox loop
// on its own thread (DESIGN "The task"): mails first (cancel, processing-time timers), then
// one unit of input (a network buffer or a batch polled from a source) when the outputs can
// take it, else sleep on one waker. It tracks watermarks per input channel and ends when
// its input ends, the job is cancelled, or a user function fails. State changes are
// reported through a callback that must not block. Cancel() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/job_builder.h"
#include "common/config.h"
#include "common/proto/job.pb.h"
#include "common/proto/rpc.pb.h"
#include "taskmanager/network/network_environment.h"

namespace eddy {

/// Everything a task needs from its TaskManager.
struct TaskSetup {
  std::string job_id;
  std::shared_ptr<const job::JobGraph> graph;
  std::shared_ptr<const JobBuilder> plan;  // the builder run in this process
  std::shared_ptr<const JobArgs> args;
  rpc::TaskDeployment deployment;
  net::NetworkEnvironment* network = nullptr;
  /// The TaskManager's configuration; the job's -D keys apply over it.
  std::shared_ptr<const Config> config = std::make_shared<const Config>();
};

class Task {
 public:
  /// Called on the task thread at every state change (INITIALIZING, RUNNING, FINISHED,
  /// CANCELED, FAILED); must not block (hand the report to another thread).
  using StateListener = std::function<void(const rpc::TaskReport&)>;

  Task(TaskSetup setup, StateListener listener);
  ~Task();  // joins the thread

  /// Starts the task thread.
  void Start();
  /// Asks the task to stop (a mail); it reports CANCELED once it has.
  void Cancel();
  /// Returns the current state, metrics and watermark.
  rpc::TaskReport Report() const;
  bool terminal() const;
  const std::string& name() const { return name_; }
  int attempt() const { return setup_.deployment.attempt(); }

 private:
  struct Runtime;
  void Run();
  absl::Status RunChain();
  void SetState(rpc::ExecutionState state, const std::string& failure = "");
  /// Copies the sink's latency summaries into what Report() returns (task thread).
  void PublishLatency();

  TaskSetup setup_;
  StateListener listener_;
  std::string name_;  // "vertex name (2/4)"
  std::thread thread_;
  std::atomic<bool> cancelled_{false};
  std::atomic<uint64_t> records_in_{0};
  std::atomic<uint64_t> records_out_{0};
  std::atomic<int64_t> watermark_;
  mutable std::mutex mu_;
  rpc::ExecutionState state_ = rpc::DEPLOYING;  // guarded by mu_
  std::string failure_;                         // guarded by mu_
  std::vector<rpc::LatencyHistogram> latency_;  // guarded by mu_

  std::unique_ptr<Runtime> rt_;  // created before the thread starts; its loop is the task thread's
};

}  // namespace eddy
