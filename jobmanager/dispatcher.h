// The JobManager's job side: accepts submitted JobGraphs, waits for enough free slots,
// turns each into an execution graph (vertex x parallelism), places subtasks into slots
// (slot sharing: subtask i of every vertex shares slot i), deploys them to TaskManagers,
// tracks task states into job states (CREATED, RUNNING, FINISHED, CANCELING, CANCELED,
// FAILING, FAILED), and cancels or fails jobs. Thread-safe: state is guarded by one mutex;
// blocking RPCs to TaskManagers run on the dispatcher's own worker thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/proto/job.pb.h"
#include "common/proto/rpc.pb.h"
#include "common/rpc/rpc_client.h"
#include "jobmanager/taskmanager_registry.h"

namespace eddy {

class Dispatcher {
 public:
  struct Options {
    std::chrono::milliseconds slot_request_timeout{30000};
    std::chrono::milliseconds rpc_timeout{10000};
    rpc::ConnectionOptions connection;
    /// Base URL TaskManagers fetch libraries from, e.g. "http://127.0.0.1:8081/blobs/".
    std::string blob_url_base;
  };

  Dispatcher(boost::asio::io_context& io, TaskManagerRegistry& registry, Options options);
  ~Dispatcher();

  void Start();
  /// Stops the worker thread (running jobs are left to their TaskManagers).
  void Stop();

  /// Accepts a job; `graph.library_sha256` names its library in the blob store.
  /// Returns the new job id.
  absl::StatusOr<std::string> Submit(job::JobGraph graph);
  /// Cancels a job. Errors: unknown job, job already terminal.
  absl::Status Cancel(const std::string& job_id);

  /// A TaskManager reported a task state (by RPC or with a heartbeat).
  void OnTaskReport(const TaskManagerId& tm, const rpc::TaskReport& report);
  /// A TaskManager missed its heartbeats: its tasks fail.
  void OnTaskManagerLost(const TaskManagerId& tm);

  struct Counts {
    int running = 0, finished = 0, cancelled = 0, failed = 0;
  };
  Counts counts() const;
  nlohmann::json JobsJson() const;          // GET /jobs
  nlohmann::json JobsOverviewJson() const;  // GET /jobs/overview
  /// GET /jobs/{id}; NotFound for an unknown id.
  absl::StatusOr<nlohmann::json> JobJson(const std::string& job_id) const;
  /// GET /jobs/{id}/exceptions.
  absl::StatusOr<nlohmann::json> ExceptionsJson(const std::string& job_id) const;

 private:
  struct Execution {
    std::string vertex_id;
    int subtask = 0;
    TaskManagerId tm;
    std::string state = "CREATED";
    uint64_t records_in = 0;
    uint64_t records_out = 0;
    std::string failure;
    int64_t start_ms = -1;
    int64_t end_ms = -1;
  };
  struct Job {
    std::string id;
    job::JobGraph graph;
    std::string state = "CREATED";
    int64_t start_ms = 0;
    int64_t end_ms = -1;
    std::chrono::steady_clock::time_point submitted;
    std::vector<Execution> executions;
    std::map<TaskManagerId, int> slots;  // slots taken per TaskManager
    std::string root_exception;
    int64_t root_exception_ms = 0;
    std::vector<nlohmann::json> exception_history;
    std::chrono::steady_clock::time_point cancel_sent;  // last CancelJob to its TaskManagers
  };

  void WorkerLoop();
  void Enqueue(std::function<void()> work);
  void TrySchedule(const std::string& job_id);
  void SchedulePending();
  /// Sends CancelJob again for jobs whose tasks have not all stopped after a while (a
  /// TaskManager may have missed it).
  void RepeatStaleCancels();
  void SendToTaskManagers(const std::string& job_id, const std::string& method,
                          const std::vector<TaskManagerId>& tms);
  rpc::RpcClient* ClientFor(const TaskManagerId& tm, absl::Status* error);

  // REQUIRES: mu_ held.
  Execution* FindExecutionLocked(Job& job, const std::string& vertex_id, int subtask);
  void FailJobLocked(Job& job, const std::string& cause, const std::string& task_name);
  void CheckTerminalLocked(Job& job);
  void ReleaseSlotsLocked(Job& job);
  std::vector<TaskManagerId> TaskManagersOfLocked(const Job& job) const;
  nlohmann::json VertexJsonLocked(const Job& job, const job::JobVertexDef& vertex) const;

  boost::asio::io_context& io_;
  TaskManagerRegistry& registry_;
  Options options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;  // guarded by mu_
  std::vector<std::string> job_order_;                // guarded by mu_; submission order
  std::deque<std::function<void()>> queue_;           // guarded by mu_
  bool stopping_ = false;                             // guarded by mu_
  std::thread worker_;
  std::map<TaskManagerId, std::unique_ptr<rpc::RpcClient>> clients_;  // worker thread only
};

}  // namespace eddy
