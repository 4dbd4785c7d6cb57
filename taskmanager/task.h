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
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "api/job_builder.h"
#include "common/config.h"
#include "common/proto/job.pb.h"
#include "common/proto/rpc.pb.h"
#include "taskmanager/network/network_environment.h"
#include "common/serial_executor.h"

namespace eddy {

/// Everything a task needs from its TaskManager.
struct TaskSetup {
  std::string job_id;
  /// The job's data-plane credential: this task's partition requests carry it.
  std::string data_credential;
  std::shared_ptr<const job::JobGraph> graph;
  std::shared_ptr<const JobBuilder> plan;  // the builder run in this process
  std::shared_ptr<const JobArgs> args;
  rpc::TaskDeployment deployment;
  net::NetworkEnvironment* network = nullptr;
  /// The TaskManager's configuration; the job's -D keys apply over it.
  std::shared_ptr<const Config> config = std::make_shared<const Config>();
  /// execution.checkpointing.interval of the job (0: no checkpoints). With checkpoints a
  /// task whose input ended finishes only after a checkpoint taken since then completed.
  int64_t checkpoint_interval_ms = 0;
  /// Report a checkpoint taken (state uploaded) or declined to the JobManager; called on
  /// the task's snapshot thread, may block.
  std::function<void(const rpc::AcknowledgeCheckpointRequest&)> acknowledge_checkpoint;
  std::function<void(const rpc::DeclineCheckpointRequest&)> decline_checkpoint;
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
  /// Source tasks take the checkpoint and emit its barrier (a mail); other tasks ignore it.
  void TriggerCheckpoint(const checkpoint::CheckpointOptions& options);
  /// Stop with drain (a mail): a source task ends its input as a bounded one does (the MAX
  /// watermark fires every timer and window, its operators finish), and every task waits
  /// for the final savepoint before it finishes.
  void Drain();
  /// The checkpoint completed (operators publish what it covers) or was aborted (a mail).
  /// `final`: taken after every source's input ended, so a task whose input ended finishes.
  void NotifyCheckpoint(int64_t checkpoint_id, bool completed, bool final);
  /// Returns the current state, metrics and watermark.
  rpc::TaskReport Report() const;
  bool terminal() const;
  const std::string& name() const { return name_; }
  int attempt() const { return setup_.deployment.attempt(); }

 private:
  struct Runtime;
  void Run();
  absl::Status RunChain();
  // Checkpoints, on the task thread.
  /// Snapshots the chain's operators, sends the barrier on and hands the upload to the
  /// snapshot thread.
  void PerformCheckpoint(const checkpoint::CheckpointOptions& options, int64_t alignment_ms);
  void OnBarrier(int channel, const checkpoint::CheckpointOptions& options);
  /// Channel `channel` will deliver no more barriers (end of partition).
  void OnChannelClosed(int channel);
  void MaybeCompleteAlignment();
  /// Gives up aligning the current checkpoint: unblocks the channels and declines it.
  void AbortAlignment(const std::string& reason);
  /// Upload and acknowledge (snapshot thread).
  void UploadSnapshot(const checkpoint::CheckpointOptions& options,
                      std::vector<std::pair<std::string, OperatorSnapshot>> snapshots,
                      bool finished, int64_t sync_ms, int64_t alignment_ms);
  void Decline(int64_t checkpoint_id, const std::string& reason);
  /// The restore the deployment carries, per operator id (downloads keyed state);
  /// `*finished` tells whether every operator had finished in it.
  absl::StatusOr<std::map<std::string, StateInitContext>> LoadRestore(bool* finished);
  /// LoadRestore's work; on an error `*restore` holds what was loaded so far.
  absl::Status LoadRestoreInto(std::map<std::string, StateInitContext>* restore, bool* finished);
  /// The snapshot thread, made on first use.
  SerialExecutor& snapshots();
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
  std::atomic<bool> end_of_input_{false};
  mutable std::mutex mu_;
  rpc::ExecutionState state_ = rpc::DEPLOYING;  // guarded by mu_
  std::string failure_;                         // guarded by mu_
  std::vector<rpc::LatencyHistogram> latency_;  // guarded by mu_

  std::unique_ptr<Runtime> rt_;  // created before the thread starts; its loop is the task thread's
  /// The asynchronous part of checkpoints and checkpoint reports (its thread starts with the
  /// first); declared last so that it is joined first.
  std::unique_ptr<SerialExecutor> snapshots_;
};

}  // namespace eddy
