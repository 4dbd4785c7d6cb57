// Runs the tasks the JobManager deploys to this TaskManager: fetches and verifies each job
// library (by SHA-256, cached per process), runs its builder, checks that it yields the
// submitted JobGraph, and starts one Task per deployed subtask. Bookkeeping is per job and
// execution attempt: cancelling attempt n refuses queued deployments of attempts <= n but
// never a later attempt, so a job can restart on the same TaskManager.
// Thread-safe: RPC handlers enqueue work that one worker thread performs, so no RPC thread
// ever blocks.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/job_library.h"
#include "common/config.h"
#include "common/proto/rpc.pb.h"
#include "taskmanager/network/network_environment.h"
#include "taskmanager/task.h"

namespace eddy {

class JobRunner {
 public:
  using ReportFn = std::function<void(const rpc::TaskReport&)>;

  /// `config` is the TaskManager's (buffer timeout, state backend, ...).
  JobRunner(net::NetworkEnvironment* network, std::string cache_dir, const Config& config,
            ReportFn report);
  ~JobRunner();

  /// Writes the job library with the given SHA-256 to a file (the TaskManager fetches it
  /// from the JobManager it registered with; no other source is ever used).
  using LibraryFetcher = std::function<absl::Status(const std::string& sha256, const std::string& path)>;
  void SetLibraryFetcher(LibraryFetcher fetcher);
  /// Queues the deployment; tasks report their states through the report function.
  void Submit(rpc::SubmitTasksRequest request);
  /// Cancels every task of the job with attempt <= `attempt`; a queued deployment of such
  /// an attempt will not start.
  void Cancel(const std::string& job_id, int attempt);
  /// Cancels and forgets the job's tasks with attempt <= `attempt` and its network
  /// partitions (called before a later attempt is deployed, or when the job ended).
  void Release(const std::string& job_id, int attempt);
  /// Where tasks acknowledge and decline checkpoints (set before the first deployment).
  void SetCheckpointReporters(
      std::function<void(const rpc::AcknowledgeCheckpointRequest&)> acknowledge,
      std::function<void(const rpc::DeclineCheckpointRequest&)> decline);
  /// Hands a checkpoint trigger to every task of the job's attempt (sources take it).
  /// NotFound if this TaskManager runs no task of that attempt.
  absl::Status TriggerCheckpoint(const rpc::TriggerCheckpointRequest& request);
  /// Tells every task of the job's attempt that a checkpoint completed or was aborted.
  void NotifyCheckpoint(const rpc::NotifyCheckpointRequest& request);
  /// Stop with drain: every task of `attempt` of the job drains (Task::Drain()).
  void Drain(const std::string& job_id, int attempt);
  /// Returns the reports of every task held.
  std::vector<rpc::TaskReport> Reports() const;
  /// Cancels everything and joins all threads.
  void Stop();

 private:
  void WorkerLoop();
  void Deploy(const rpc::SubmitTasksRequest& request);
  absl::StatusOr<std::shared_ptr<JobLibrary>> FetchLibrary(const std::string& sha256);
  void FailAll(const rpc::SubmitTasksRequest& request, const std::string& failure);
  /// Returns true if the request's attempt was cancelled. REQUIRES: mu_ held.
  bool CancelledLocked(const rpc::SubmitTasksRequest& request);
  void ReportAll(const rpc::SubmitTasksRequest& request, const std::string& state,
                 const std::string& failure);

  net::NetworkEnvironment* network_;
  std::string cache_dir_;
  std::shared_ptr<const Config> config_;
  ReportFn report_;
  std::function<void(const rpc::AcknowledgeCheckpointRequest&)> acknowledge_;
  std::function<void(const rpc::DeclineCheckpointRequest&)> decline_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;                          // guarded by mu_
  bool stopping_ = false;                                            // guarded by mu_
  LibraryFetcher fetch_library_;                                     // guarded by mu_
  struct JobTasks {
    int cancelled_through = -1;  // attempts <= this were cancelled (or released)
    std::map<int, std::vector<std::unique_ptr<Task>>> attempts;  // attempt -> its tasks
  };
  std::map<std::string, JobTasks> jobs_;  // guarded by mu_
  std::map<std::string, std::shared_ptr<JobLibrary>> libraries_;     // worker thread only
  std::thread worker_;
};

}  // namespace eddy
