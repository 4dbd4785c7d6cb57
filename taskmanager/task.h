// One running subtask: instantiates its chain of operators from the job library's builder,
// wires network writers and input channels, and runs the chain on its own thread until the
// input ends, the job is cancelled, or a user function throws. State changes and metrics are
// reported through a callback. Cancel() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "api/job_builder.h"
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
  std::chrono::milliseconds buffer_timeout{5};
};

class Task {
 public:
  /// Called on the task thread at every state change (RUNNING, FINISHED, CANCELED, FAILED).
  using StateListener = std::function<void(const rpc::TaskReport&)>;

  Task(TaskSetup setup, StateListener listener);
  ~Task();  // joins the thread

  /// Starts the task thread.
  void Start();
  /// Asks the task to stop; it reports CANCELED once it has.
  void Cancel();
  /// Returns the current state and metrics.
  rpc::TaskReport Report() const;
  bool terminal() const;
  const std::string& name() const { return name_; }

 private:
  void Run();
  void RunChain();
  void SetState(const std::string& state, const std::string& failure = "");
  void Poll();

  TaskSetup setup_;
  StateListener listener_;
  std::string name_;  // "vertex name (2/4)"
  std::thread thread_;
  std::atomic<bool> cancelled_{false};
  std::atomic<uint64_t> records_in_{0};
  std::atomic<uint64_t> records_out_{0};
  mutable std::mutex mu_;
  std::string state_ = "DEPLOYING";  // guarded by mu_
  std::string failure_;              // guarded by mu_

  std::vector<std::shared_ptr<net::ResultPartition>> partitions_;  // guarded by mu_
  // Owned by the task thread while it runs.
  struct Runtime;
  std::unique_ptr<Runtime> rt_;
};

}  // namespace eddy
