// The JobManager's job side: validates and accepts submitted JobGraphs, waits for enough
// free slots, keeps each job's execution graph (vertex -> subtask -> execution attempt),
// places subtasks into slots (slot sharing: subtask i of every vertex shares slot i),
// deploys them, folds task states into job states (Flink's JobStatus), and on a failed
// task or a lost TaskManager asks the job's restart strategy: RESTARTING (cancel the rest,
// return the slots, wait, deploy every subtask again with attempt + 1) or FAILED. Keeps
// terminal jobs up to jobstore.max-capacity / jobstore.expiration-time, and with
// jobmanager.archive.fs.dir writes each terminal job's REST views to an archive that the
// job lookups fall back to once the job left memory.
// Thread-safe: state is guarded by one mutex; RPCs to TaskManagers go through the
// asynchronous TaskManagerGateway, so no call here waits for a TaskManager.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "common/serial_executor.h"
#include "common/ids.h"
#include "common/proto/job.pb.h"
#include "common/proto/rpc.pb.h"
#include "common/rpc/rpc_connection.h"
#include "jobmanager/checkpoint_coordinator.h"
#include "jobmanager/job_archive.h"
#include "jobmanager/restart_strategy.h"
#include "jobmanager/taskmanager_gateway.h"
#include "jobmanager/taskmanager_registry.h"

namespace eddy {

/// Where a submitted job starts from (`eddy run --from-savepoint`).
struct JobRestoreSettings {
  std::string path;  // a savepoint or retained checkpoint directory (or its _metadata)
  bool allow_non_restored_state = false;
};

class Dispatcher {
 public:
  struct Options {
    std::chrono::milliseconds slot_request_timeout{30000};
    std::chrono::milliseconds rpc_timeout{10000};
    rpc::ConnectionOptions connection;
    /// The cluster configuration: defaults of the per-job keys (restart strategy, ...)
    /// jobstore.expiration-time / jobstore.max-capacity and jobmanager.archive.fs.dir.
    Config config;
  };

  Dispatcher(boost::asio::io_context& io, TaskManagerRegistry& registry, Options options);
  ~Dispatcher();

  void Start();
  /// Stops the worker and sender threads (running jobs are left to their TaskManagers)
  /// and writes the archives still queued.
  void Stop();

  using RestoreSettings = JobRestoreSettings;
  /// Validates and accepts a job; `graph.library_sha256` names its library in the blob
  /// store. Returns the new job id, or InvalidArgument naming the bad field, key or value
  /// (FailedPrecondition / NotFound / DataLoss naming the path for a savepoint that cannot
  /// be restored).
  /// `owner` is who submitted it (the REST caller's principal).
  absl::StatusOr<std::string> Submit(job::JobGraph graph, RestoreSettings restore = {},
                                     std::string owner = "anonymous");
  /// Who submitted the job, if it is known.
  std::optional<std::string> OwnerOf(const std::string& job_id) const;
  /// Cancels a job. Errors: unknown job, job already terminal.
  absl::Status Cancel(const std::string& job_id);

  /// Triggers a savepoint into `dir` ("" for state.savepoints.dir); with `stop` the job
  /// finishes once it completed (stop with savepoint). With `drain` (stop only) the sources
  /// end their input first, so every window and timer fires, and the savepoint is the
  /// final one after it. Returns the request id.
  absl::StatusOr<std::string> TriggerSavepoint(const std::string& job_id, std::string dir,
                                               bool stop, bool drain = false);
  /// A subtask acknowledged or declined a checkpoint (ignored unless it is the current
  /// attempt's, from the TaskManager running it).
  void OnCheckpointAck(const TaskManagerId& tm, const rpc::AcknowledgeCheckpointRequest& ack);
  void OnCheckpointDecline(const TaskManagerId& tm, const rpc::DeclineCheckpointRequest& decline);
  /// GET /jobs/{id}/checkpoints, /checkpoints/config, /savepoints/{request id}.
  absl::StatusOr<nlohmann::json> CheckpointsJson(const std::string& job_id) const;
  absl::StatusOr<nlohmann::json> CheckpointConfigJson(const std::string& job_id) const;
  absl::StatusOr<nlohmann::json> SavepointStatusJson(const std::string& job_id,
                                                     const std::string& request_id) const;

  enum class ReportOutcome { kApplied, kIgnored, kUnknownJob };
  /// A TaskManager reported a task state (by RPC or with a heartbeat). Reports of another
  /// attempt than the current one, or from a TaskManager that does not run that attempt,
  /// are ignored; kUnknownJob tells the caller to have the TaskManager release the job.
  ReportOutcome OnTaskReport(const TaskManagerId& tm, const rpc::TaskReport& report);
  /// A TaskManager is gone (connection closed or heartbeats missed): its tasks fail and
  /// their jobs restart or fail. `reason` says how it was noticed.
  void OnTaskManagerLost(const TaskManagerId& tm, const std::string& host,
                         const std::string& reason);

  struct Counts {
    int running = 0, finished = 0, cancelled = 0, failed = 0;
  };
  Counts counts() const;
  /// Returns the number of jobs held in memory (any state).
  size_t job_count() const;
  nlohmann::json JobsJson() const;          // GET /jobs
  nlohmann::json JobsOverviewJson() const;  // GET /jobs/overview
  // The job lookups below answer from the archive (jobmanager.archive.fs.dir) for a job
  // no longer in memory, reading its file on the caller's thread.
  /// GET /jobs/{id}; NotFound for an unknown id.
  absl::StatusOr<nlohmann::json> JobJson(const std::string& job_id) const;
  /// GET /jobs/{id}/exceptions.
  absl::StatusOr<nlohmann::json> ExceptionsJson(const std::string& job_id) const;
  /// GET /jobs/{id}/vertices/{vid}/watermarks.
  absl::StatusOr<nlohmann::json> WatermarksJson(const std::string& job_id,
                                                const std::string& vertex_id) const;
  /// GET /jobs/{id}/latency: what the sinks measured of the sources' latency markers.
  absl::StatusOr<nlohmann::json> LatencyJson(const std::string& job_id) const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Execution {
    VertexId vertex;
    SubtaskIndex subtask;
    int attempt = 0;
    TaskManagerId tm;
    std::string tm_host;
    rpc::ExecutionState state = rpc::CREATED;
    uint64_t records_in = 0;
    uint64_t records_out = 0;
    int64_t watermark = INT64_MIN;
    bool end_of_input = false;  // its input ended (it waits for the final checkpoint)
    std::vector<rpc::LatencyHistogram> latency;  // sinks: per source subtask
    std::string failure;
    int64_t start_ms = -1;
    int64_t end_ms = -1;
  };
  struct Job {
    JobId id;
    job::JobGraph graph;
    job::JobState state = job::CREATED;
    /// Random, handed to the job's TaskManagers with each deployment: partition requests
    /// must carry it (no stranger reads the job's records).
    std::string data_credential;
    std::string owner;  // who submitted it
    std::unique_ptr<RestartStrategy> restart_strategy;
    int attempt = 0;        // the attempt every current execution runs
    int num_restarts = 0;
    int64_t start_ms = 0;
    int64_t end_ms = -1;
    /// When the job last entered each state (epoch ms; REST "timestamps", Flink's field).
    std::map<job::JobState, int64_t> state_ms;
    Clock::time_point waiting_since;  // for slots, since submission or the last restart
    Clock::time_point restart_at;     // RESTARTING: when to deploy again
    Clock::time_point terminal_at;    // when it became terminal (job store expiry)
    std::vector<Execution> executions;
    std::map<TaskManagerId, int> slots;  // slots taken per TaskManager
    std::string root_exception;
    int64_t root_exception_ms = 0;
    std::deque<nlohmann::json> exception_history;  // newest first, bounded
    Clock::time_point cancel_sent;  // last CancelJob to its TaskManagers
    /// The job's effective configuration (cluster keys, then its -D keys).
    Config config;
    std::unique_ptr<CheckpointCoordinator> checkpoints;
    std::vector<std::string> source_vertices;  // vertices without inputs
    bool stop_with_savepoint = false;  // cancelled after a stop savepoint: ends FINISHED
    Clock::time_point final_notified;  // last NotifyCheckpoint of the final checkpoint
    int drained_attempt = -1;          // the attempt told to drain (stop with drain)
  };

  void WorkerLoop();
  void Tick();
  /// Triggers due checkpoints, aborts expired ones (REQUIRES: mu_ held).
  void CheckpointTickLocked(Job& job, Clock::time_point now);
  static bool IsSourceVertex(const Job& job, const std::string& vertex_id);
  /// Fails the job if its stop with drain failed for good.
  void FailOnDrainFailureLocked(Job& job);
  /// Wall-clock milliseconds since the epoch (REST timestamps).
  static int64_t NowMs();
  /// Fails (restarts) a RUNNING job whose checkpoints failed more often in a row than
  /// tolerated; returns true if it did.
  bool FailOnTooManyCheckpointFailuresLocked(Job& job);
  /// Sends NotifyCheckpoint to the job's TaskManagers.
  void NotifyCheckpointLocked(const Job& job, int64_t id, bool completed, bool final = false);
  /// Aborts the job's pending checkpoint (if any) and tells the tasks.
  void AbortCheckpointLocked(Job& job, int64_t id, const std::string& reason);
  /// Writes the `_metadata` of a fully acknowledged checkpoint (checkpoint I/O thread).
  void CompleteCheckpoint(const JobId& job_id, int64_t id, std::string location,
                          checkpoint::CheckpointMetadata metadata, Config config);
  /// Deletes checkpoint directories (checkpoint I/O thread).
  /// Deletes checkpoint directories (recursively) and single files, on the checkpoint I/O
  /// thread.
  void DiscardLocked(const Job& job, std::vector<std::string> locations,
                     std::vector<std::string> files = {});
  void TrySchedule(const JobId& job_id);
  /// Sends CancelJob again for jobs whose tasks have not all stopped after a while (a
  /// TaskManager may have missed it).
  void RepeatStaleCancels();

  // REQUIRES: mu_ held.
  static void SetStateLocked(Job& job, job::JobState state);
  Execution* FindExecutionLocked(Job& job, const std::string& vertex_id, int subtask);
  /// Adds a failure to the job's exception history (newest first, bounded).
  void RecordExceptionLocked(Job& job, const std::string& cause, const std::string& task_name,
                             const TaskManagerId& tm, const std::string& host);
  /// Records a failure and restarts or fails the job as its restart strategy says.
  void FailJobLocked(Job& job, const std::string& cause, const std::string& task_name,
                     const TaskManagerId& tm, const std::string& host);
  void CheckTerminalLocked(Job& job);
  void ReleaseSlotsLocked(Job& job);
  /// Sends `method` (CancelJob or ReleaseJob) for the job's current attempt to `tms`.
  void SendJobRequestLocked(const Job& job, const std::string& method,
                            const std::vector<TaskManagerId>& tms);
  void DeployFailedLocked(Job& job, int attempt, const TaskManagerId& tm,
                          const absl::Status& error);
  /// Drops terminal jobs past jobstore.expiration-time or beyond jobstore.max-capacity.
  void ExpireJobsLocked(Clock::time_point now);
  std::vector<TaskManagerId> TaskManagersOfLocked(const Job& job) const;
  nlohmann::json VertexJsonLocked(const Job& job, const job::JobVertexDef& vertex) const;
  nlohmann::json JobJsonLocked(const Job& job) const;
  nlohmann::json ExceptionsJsonLocked(const Job& job) const;
  /// NotFound if the job has no vertex `vertex_id`.
  absl::StatusOr<nlohmann::json> WatermarksJsonLocked(const Job& job,
                                                      const std::string& vertex_id) const;
  /// Queues the job's REST views for the archive (a no-op without jobmanager.archive.fs.dir).
  void ArchiveLocked(const Job& job);

  TaskManagerRegistry& registry_;
  Options options_;
  const std::chrono::milliseconds jobstore_expiration_;
  const size_t jobstore_max_capacity_;
  TaskManagerGateway gateway_;
  JobArchive archive_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<JobId, std::shared_ptr<Job>> jobs_;  // guarded by mu_
  std::vector<JobId> job_order_;                // guarded by mu_; submission order
  std::deque<JobId> schedule_queue_;            // guarded by mu_
  bool stopping_ = false;                       // guarded by mu_
  std::thread worker_;
  /// Checkpoint storage I/O (metadata writes, deletions) off the mutex; declared last so
  /// that it drains first.
  SerialExecutor checkpoint_io_;
};

}  // namespace eddy
