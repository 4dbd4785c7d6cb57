// The checkpoint coordinator of one job (DESIGN "Checkpoints"): triggers periodic
// checkpoints (execution.checkpointing.interval, .min-pause, one at a time) and savepoints,
// collects the subtasks' acknowledgements, builds the `_metadata` of a checkpoint once all
// have acknowledged, completes it when that file is written, aborts it on a timeout, a
// declining task or a failed write (the job carries on), keeps
// state.checkpoints.num-retained completed checkpoints and names the ones to delete, and
// keeps the statistics behind GET /jobs/{id}/checkpoints (Flink's shapes).
// Not thread-safe: the Dispatcher calls it under its mutex; storage I/O happens outside.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/proto/checkpoint.pb.h"
#include "common/proto/job.pb.h"
#include "common/proto/rpc.pb.h"

namespace eddy {

struct CheckpointSettings {
  std::chrono::milliseconds interval{0};  // 0: no periodic checkpoints
  std::chrono::milliseconds timeout{600000};
  std::chrono::milliseconds min_pause{0};
  bool exactly_once = true;
  int64_t tolerable_failures = -1;  // -1: unlimited
  int num_retained = 1;
  std::string dir;            // state.checkpoints.dir
  std::string savepoint_dir;  // state.savepoints.dir

  /// Reads the execution.checkpointing.* and state.* keys of a job's effective config.
  static CheckpointSettings FromConfig(const Config& config);
};

class CheckpointCoordinator {
 public:
  using Clock = std::chrono::steady_clock;

  /// `num_subtasks`: every subtask of the job acknowledges each checkpoint.
  CheckpointCoordinator(std::string job_id, CheckpointSettings settings, int num_subtasks);

  const CheckpointSettings& settings() const { return settings_; }

  /// The job was restored from `metadata` (a savepoint or a retained checkpoint at `path`):
  /// the latest completed state until a checkpoint completes; ids continue after it.
  void SetRestoredFrom(checkpoint::CheckpointMetadata metadata, std::string path,
                       int64_t now_ms);
  /// The job restarted from the latest completed checkpoint (REST "latest.restored").
  void OnRestored(int64_t now_ms);

  /// A savepoint asked for by a user: `dir` ("" for state.savepoints.dir). Returns the
  /// request id, or an error (no directory configured, a drain asked for already).
  /// `drain` (stop with drain): it is not queued; it becomes the final checkpoint, taken
  /// once the drained sources have ended, and the job then finishes by itself.
  absl::StatusOr<std::string> RequestSavepoint(std::string dir, bool stop_job,
                                               bool drain = false);
  /// A drain was asked for and its savepoint has not completed.
  bool drain_requested() const { return !drain_request_.empty(); }
  /// The drained savepoint failed every attempt: returns why, once. The drained tasks wait
  /// for a savepoint that will not come, so the job must fail (and restart, carrying on).
  std::optional<std::string> TakeDrainFailure();

  /// Returns the options of a checkpoint or savepoint to trigger now (the job runs every
  /// task), or nothing. Queued savepoints go first and ignore the interval.
  /// `final`: every source's input ended; a checkpoint is triggered at once (not waiting
  /// for the interval) and marked final.
  std::optional<checkpoint::CheckpointOptions> MaybeTrigger(Clock::time_point now,
                                                             int64_t now_ms, bool final = false);

  enum class AckOutcome { kIgnored, kRejected, kPending, kAllAcknowledged };
  /// kIgnored: not for the pending checkpoint (late, or a duplicate); `*discard` gets the
  /// shared files it uploaded, which nothing will refer to. kRejected: it refers to a shared
  /// file no retained checkpoint holds any more; abort the checkpoint.
  AckOutcome Acknowledge(const rpc::AcknowledgeCheckpointRequest& ack, int64_t now_ms,
                         std::vector<std::string>* discard = nullptr);
  /// The `_metadata` of the pending checkpoint, once every subtask acknowledged it.
  checkpoint::CheckpointMetadata BuildMetadata(const job::JobGraph& graph) const;
  /// The directory of checkpoint `id` while it is pending ("" if it is not).
  std::string PendingLocation(int64_t id) const;

  /// The `_metadata` write of checkpoint `id` ended. On success the checkpoint is
  /// complete: returns true, `*discard` gets the directories of checkpoints no longer
  /// retained and `*discard_files` the shared files no retained checkpoint refers to. On
  /// failure it is aborted (`*discard_files`: the shared files only it referred to).
  /// `*final` tells whether it was a final checkpoint.
  bool OnMetadataWritten(int64_t id, const absl::Status& status,
                         checkpoint::CheckpointMetadata metadata, int64_t now_ms,
                         std::vector<std::string>* discard,
                         std::vector<std::string>* discard_files, bool* final = nullptr);
  /// Aborts the pending checkpoint `id` (0: whichever is pending). Returns its id, or 0.
  /// `*discard` gets the shared files only it referred to.
  int64_t Abort(int64_t id, const std::string& reason, int64_t now_ms,
                std::vector<std::string>* discard = nullptr);
  /// Aborts the pending checkpoint if it timed out; returns its id, or 0.
  int64_t AbortIfExpired(Clock::time_point now, int64_t now_ms,
                         std::vector<std::string>* discard = nullptr);
  /// How many retained or pending checkpoints refer to shared file `uri` (0: none; it is
  /// deleted).
  int SharedFileReferences(const std::string& uri) const;
  /// The shared files `ack` uploaded that nothing refers to (an acknowledgement that is
  /// not taken: its files are deleted).
  std::vector<std::string> UnreferencedUploads(const rpc::AcknowledgeCheckpointRequest& ack) const;
  /// True when more consecutive checkpoints failed than tolerated (the job must fail).
  bool TooManyFailures() const;

  bool pending() const { return pending_.has_value(); }
  /// The pending checkpoint's id, or 0.
  int64_t pending_id() const { return pending_ ? pending_->options.checkpoint_id() : 0; }
  /// The final checkpoint that completed in this attempt (0: none): no more are triggered,
  /// and the tasks finish once they heard of it.
  int64_t final_completed() const { return final_completed_; }
  /// Savepoint requests not taken yet fail with `reason` (the job ended).
  void FailQueuedSavepoints(const std::string& reason);
  struct Completed {
    checkpoint::CheckpointMetadata metadata;
    std::string location;  // its directory
  };
  /// The latest completed checkpoint or savepoint, if any.
  const Completed* latest() const;
  /// What a restart restores: the latest completed checkpoint or savepoint when the job
  /// takes checkpoints; without them, only the savepoint it was started from (its sinks
  /// are not transactional, so a later savepoint would lose their unpublished output) —
  /// unless a stop with drain completed, whose savepoint is the job's end either way.
  const Completed* restore_point() const;
  /// Savepoints completed whose job must stop afterwards (stop with savepoint): returns
  /// true once per such savepoint.
  bool TakeStopRequest(int64_t completed_id);
  /// Every retained checkpoint directory (not savepoints): deleted when the job ends.
  std::vector<std::string> RetainedCheckpointLocations() const;

  /// GET /jobs/{id}/checkpoints, /checkpoints/config, /savepoints/{request id}.
  nlohmann::json StatsJson() const;
  nlohmann::json ConfigJson() const;
  absl::StatusOr<nlohmann::json> SavepointStatusJson(const std::string& request_id) const;

 private:
  struct Pending {
    checkpoint::CheckpointOptions options;
    Clock::time_point triggered;
    int64_t trigger_ms = 0;
    int64_t latest_ack_ms = 0;
    std::map<std::string, rpc::AcknowledgeCheckpointRequest> acks;  // "vertex/subtask"
    std::string savepoint_request;  // "" for a checkpoint
    bool writing = false;           // every subtask acknowledged; `_metadata` being written
    bool final = false;             // triggered after every source's input ended
  };
  struct Stats {
    int64_t id = 0;
    std::string status;  // IN_PROGRESS, COMPLETED, FAILED
    bool is_savepoint = false;
    int64_t trigger_ms = 0;
    int64_t latest_ack_ms = 0;
    uint64_t state_size = 0;
    uint64_t checkpointed_size = 0;
    int64_t end_to_end_ms = 0;
    int num_acknowledged = 0;
    int64_t sync_ms_max = 0;
    int64_t async_ms_max = 0;
    int64_t alignment_ms_max = 0;
    std::string external_path;
    int64_t failure_ms = 0;
    std::string failure_message;
    bool discarded = false;
  };
  struct SavepointRequest {
    std::string dir;
    bool stop_job = false;
    int64_t checkpoint_id = 0;  // once triggered
    std::string status = "IN_PROGRESS";
    std::string location;
    std::string failure;
  };
  Stats* FindStats(int64_t id);
  /// Shared-file references (incremental checkpoints): +1 / -1 for each shared file of a
  /// state (an operator subtask's, a subtask's or a whole checkpoint's); files whose count
  /// drops to 0 go to `*discard`.
  template <typename State>
  void Reference(const State& state);
  template <typename State>
  void Unreference(const State& state, std::vector<std::string>* discard);
  nlohmann::json StatsToJson(const Stats& s) const;

  const std::string job_id_;
  const CheckpointSettings settings_;
  const int num_subtasks_;
  int64_t next_id_ = 1;
  std::optional<Pending> pending_;
  Clock::time_point last_end_{};  // when the last checkpoint completed or failed
  bool ever_ended_ = false;
  Clock::time_point next_periodic_;  // the first an interval after the job was submitted
  int consecutive_failures_ = 0;
  int64_t final_completed_ = 0;
  std::deque<Completed> completed_;  // checkpoints, oldest first (at most num_retained)
  std::optional<Completed> latest_savepoint_;
  std::optional<Completed> restored_;  // from a savepoint/retained checkpoint at submission
  std::optional<Completed> drained_;   // the completed savepoint of a stop with drain
  std::deque<std::string> savepoint_queue_;  // request ids waiting for a trigger
  std::string drain_request_;                // the stop-with-drain request, until completed
  int drain_attempts_ = 0;                   // drained savepoints triggered
  std::string drain_failure_;                // why the drain failed, until taken
  std::map<std::string, SavepointRequest> savepoints_;
  std::set<int64_t> stop_requests_;
  std::deque<Stats> history_;  // newest first, bounded
  std::map<std::string, int> shared_refs_;  // shared file URI -> checkpoints referring to it
  int64_t counts_completed_ = 0, counts_failed_ = 0, counts_restored_ = 0;
  nlohmann::json restored_json_;  // REST latest.restored
};

}  // namespace eddy
