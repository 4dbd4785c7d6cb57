// The Dispatcher's side of checkpoints (DESIGN "Checkpoints"): the periodic tick that
// triggers checkpoints, savepoints and the drain of a stop with drain; acknowledgements and
// declines from tasks; writing `_metadata` on the checkpoint I/O thread and completing or
// aborting; deleting what is no longer retained; and the checkpoint REST views. The
// bookkeeping itself is the job's CheckpointCoordinator; this file talks to TaskManagers and
// storage.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/fs/checkpoint_storage.h"
#include "common/fs/file_system.h"
#include "common/logging.h"
#include "jobmanager/dispatcher.h"

namespace eddy {

bool Dispatcher::IsSourceVertex(const Job& job, const std::string& vertex_id) {
  return std::find(job.source_vertices.begin(), job.source_vertices.end(), vertex_id) !=
         job.source_vertices.end();
}

void Dispatcher::FailOnDrainFailureLocked(Job& job) {
  // The drained tasks wait for a savepoint that will not come: the job fails, and its
  // restart strategy restarts it from its latest checkpoint (the stop did not happen).
  if (auto failure = job.checkpoints->TakeDrainFailure(); failure && job.state == job::RUNNING) {
    FailJobLocked(job, "Stop with drain failed: " + *failure, "", TaskManagerId(""), "");
    CheckTerminalLocked(job);
  }
}

bool Dispatcher::FailOnTooManyCheckpointFailuresLocked(Job& job) {
  if (job.state != job::RUNNING || !job.checkpoints->TooManyFailures()) return false;
  FailJobLocked(job, "Exceeded checkpoint tolerable failure threshold", "", TaskManagerId(""), "");
  CheckTerminalLocked(job);
  return true;
}

void Dispatcher::CheckpointTickLocked(Job& job, Clock::time_point now) {
  CheckpointCoordinator& cc = *job.checkpoints;
  const std::string pending_location = cc.PendingLocation(cc.pending_id());
  std::vector<std::string> files;
  if (int64_t expired = cc.AbortIfExpired(now, NowMs(), &files); expired != 0) {
    EDDY_LOG(WARN) << "checkpoint " << expired << " of job " << job.id << " expired";
    NotifyCheckpointLocked(job, expired, false);
    DiscardLocked(job, {pending_location}, std::move(files));
    FailOnDrainFailureLocked(job);
    if (job.state != job::RUNNING || FailOnTooManyCheckpointFailuresLocked(job)) return;
  }
  if (int64_t final = cc.final_completed(); final != 0) {
    // The tasks finish once they heard of the final checkpoint: tell them again in case a
    // notification was lost.
    if (now - job.final_notified >= std::chrono::seconds(1)) {
      job.final_notified = now;
      NotifyCheckpointLocked(job, final, true, true);
    }
    return;
  }
  bool sources_ended = true;
  for (const auto& e : job.executions) {
    if (e.state != rpc::RUNNING || e.attempt != job.attempt) return;  // every task must run
    if (!e.end_of_input && IsSourceVertex(job, e.vertex.value())) {
      sources_ended = false;
    }
  }
  // Stop with drain: the running attempt's sources end their input; the drained savepoint
  // is the final checkpoint taken once they all have.
  if (cc.drain_requested() && job.drained_attempt != job.attempt) {
    job.drained_attempt = job.attempt;
    EDDY_LOG(INFO) << "job " << job.id << ": draining the sources (stop with drain)";
    rpc::JobRequest request;
    request.set_job_id(job.id.value());
    request.set_attempt(job.attempt);
    for (const auto& tm : TaskManagersOfLocked(job)) {
      gateway_.Send(tm, "DrainJob", request.SerializeAsString(),
                    [this, job_id = job.id, attempt = job.attempt](const absl::Status& status) {
                      if (status.ok()) return;
                      std::lock_guard<std::mutex> lock(mu_);
                      auto it = jobs_.find(job_id);
                      // Sent again on the next tick (a task drains once however often told).
                      if (it != jobs_.end() && it->second->drained_attempt == attempt) {
                        it->second->drained_attempt = -1;
                      }
                    });
    }
  }
  // Once every source ended, the final checkpoint is taken at once; the tasks finish when
  // it completed.
  std::optional<checkpoint::CheckpointOptions> options =
      cc.MaybeTrigger(now, NowMs(), sources_ended);
  if (!options) return;
  rpc::TriggerCheckpointRequest request;
  request.set_job_id(job.id.value());
  request.set_attempt(job.attempt);
  *request.mutable_options() = *options;
  std::set<TaskManagerId> tms;
  for (const auto& e : job.executions) {
    if (IsSourceVertex(job, e.vertex.value())) tms.insert(e.tm);
  }
  const std::string payload = request.SerializeAsString();
  const int64_t id = options->checkpoint_id();
  for (const auto& tm : tms) {
    gateway_.Send(tm, "TriggerCheckpoint", payload,
                  [this, job_id = job.id, id, tm](const absl::Status& status) {
                    if (status.ok()) return;
                    std::lock_guard<std::mutex> lock(mu_);
                    auto it = jobs_.find(job_id);
                    if (it == jobs_.end()) return;
                    AbortCheckpointLocked(*it->second, id,
                                          absl::StrCat("cannot trigger it at TaskManager ",
                                                       tm.value(), ": ", status.message()));
                  });
  }
}

void Dispatcher::NotifyCheckpointLocked(const Job& job, int64_t id, bool completed, bool final) {
  rpc::NotifyCheckpointRequest request;
  request.set_job_id(job.id.value());
  request.set_attempt(job.attempt);
  request.set_checkpoint_id(id);
  request.set_completed(completed);
  request.set_final(final);
  const std::string payload = request.SerializeAsString();
  for (const auto& tm : TaskManagersOfLocked(job)) gateway_.Send(tm, "NotifyCheckpoint", payload);
}

void Dispatcher::AbortCheckpointLocked(Job& job, int64_t id, const std::string& reason) {
  CheckpointCoordinator& cc = *job.checkpoints;
  if (!cc.pending()) return;
  const std::string location = cc.PendingLocation(cc.pending_id());
  std::vector<std::string> files;
  const int64_t aborted = cc.Abort(id, reason, NowMs(), &files);
  if (aborted == 0) return;
  EDDY_LOG(WARN) << "checkpoint " << aborted << " of job " << job.id << " aborted: " << reason;
  if (job.state == job::RUNNING) NotifyCheckpointLocked(job, aborted, false);
  // What its tasks uploaded (also a savepoint's directory), and shared files only it had.
  DiscardLocked(job, {location}, std::move(files));
  FailOnDrainFailureLocked(job);
}

void Dispatcher::DiscardLocked(const Job& job, std::vector<std::string> locations,
                               std::vector<std::string> files) {
  if (locations.empty() && files.empty()) return;
  checkpoint_io_.Submit([locations = std::move(locations), files = std::move(files),
                         config = job.config] {
    std::shared_ptr<fs::FileSystem> fs;
    auto remove = [&](const std::string& uri, bool recursive) {
      absl::Status s;
      if (fs == nullptr) {  // one client for the lot (they share a file system)
        auto made = fs::FileSystem::ForUri(uri, config);
        if (made.ok()) fs = *made;
        s = made.status();
      }
      if (s.ok()) s = recursive ? fs->DeleteRecursive(uri) : fs->Delete(uri);
      if (!s.ok()) {
        EDDY_LOG(WARN) << "cannot delete checkpoint data " << uri << ": " << s.message();
      }
    };
    for (const std::string& uri : locations) remove(uri, true);
    for (const std::string& uri : files) remove(uri, false);
  });
}

void Dispatcher::OnCheckpointAck(const TaskManagerId& tm,
                                 const rpc::AcknowledgeCheckpointRequest& ack) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(JobId(ack.job_id()));
  if (it == jobs_.end()) return;
  Job& job = *it->second;
  Execution* e = FindExecutionLocked(job, ack.vertex_id(), ack.subtask());
  if (e == nullptr || e->tm != tm || ack.attempt() != job.attempt || e->attempt != job.attempt) {
    // An earlier attempt's late upload: nothing will refer to what it wrote.
    DiscardLocked(job, {}, job.checkpoints->UnreferencedUploads(ack));
    return;
  }
  CheckpointCoordinator& cc = *job.checkpoints;
  std::vector<std::string> unused;
  switch (cc.Acknowledge(ack, NowMs(), &unused)) {
    case CheckpointCoordinator::AckOutcome::kIgnored:
      DiscardLocked(job, {}, std::move(unused));
      return;
    case CheckpointCoordinator::AckOutcome::kRejected:
      AbortCheckpointLocked(job, ack.checkpoint_id(),
                            absl::StrCat("subtask ", ack.subtask(), " of ", ack.vertex_id(),
                                         " refers to state files of a checkpoint no longer "
                                         "retained"));
      FailOnTooManyCheckpointFailuresLocked(job);
      return;
    case CheckpointCoordinator::AckOutcome::kPending:
      return;
    case CheckpointCoordinator::AckOutcome::kAllAcknowledged:
      break;
  }
  checkpoint::CheckpointMetadata metadata = cc.BuildMetadata(job.graph);
  std::string location = cc.PendingLocation(ack.checkpoint_id());
  checkpoint_io_.Submit([this, job_id = job.id, id = ack.checkpoint_id(),
                         location = std::move(location), metadata = std::move(metadata),
                         config = job.config]() mutable {
    CompleteCheckpoint(job_id, id, std::move(location), std::move(metadata), std::move(config));
  });
}

void Dispatcher::CompleteCheckpoint(const JobId& job_id, int64_t id, std::string location,
                                    checkpoint::CheckpointMetadata metadata, Config config) {
  absl::Status written;
  {
    auto fs = fs::FileSystem::ForUri(location, config);
    written = fs.ok() ? fs::WriteMetadata(**fs, location, metadata) : fs.status();
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  Job& job = *it->second;
  CheckpointCoordinator& cc = *job.checkpoints;
  std::vector<std::string> discard, discard_files;
  const bool is_savepoint = metadata.is_savepoint();
  bool final = false;
  if (!cc.OnMetadataWritten(id, written, std::move(metadata), NowMs(), &discard, &discard_files,
                            &final)) {
    if (!written.ok()) {
      EDDY_LOG(WARN) << "checkpoint " << id << " of job " << job_id << " failed: "
                     << written.message();
      if (job.state == job::RUNNING) NotifyCheckpointLocked(job, id, false);
      FailOnDrainFailureLocked(job);
      FailOnTooManyCheckpointFailuresLocked(job);
    }
    if (!is_savepoint) discard.push_back(location);  // aborted meanwhile: not retained
    DiscardLocked(job, std::move(discard), std::move(discard_files));
    return;
  }
  EDDY_LOG(INFO) << (is_savepoint ? "savepoint " : "checkpoint ") << id << " of job " << job_id
                 << " completed: " << location;
  if (job.state == job::RUNNING) {
    NotifyCheckpointLocked(job, id, true, final);
    if (final) job.final_notified = Clock::now();
  }
  DiscardLocked(job, std::move(discard), std::move(discard_files));
  if (cc.TakeStopRequest(id) && job.state == job::RUNNING) {
    EDDY_LOG(INFO) << "job " << job_id << " stopping after savepoint " << location;
    job.stop_with_savepoint = true;
    SetStateLocked(job, job::CANCELLING);
    job.cancel_sent = Clock::now();
    SendJobRequestLocked(job, "CancelJob", TaskManagersOfLocked(job));
  }
}

void Dispatcher::OnCheckpointDecline(const TaskManagerId& tm,
                                     const rpc::DeclineCheckpointRequest& decline) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(JobId(decline.job_id()));
  if (it == jobs_.end()) return;
  Job& job = *it->second;
  Execution* e = FindExecutionLocked(job, decline.vertex_id(), decline.subtask());
  if (e == nullptr || e->tm != tm || decline.attempt() != job.attempt) return;
  AbortCheckpointLocked(job, decline.checkpoint_id(),
                        absl::StrCat("declined by a task: ", decline.reason()));
  FailOnTooManyCheckpointFailuresLocked(job);
}

absl::StatusOr<std::string> Dispatcher::TriggerSavepoint(const std::string& job_id,
                                                         std::string dir, bool stop,
                                                         bool drain) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(JobId(job_id));
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job with id ", job_id));
  Job& job = *it->second;
  if (job.state != job::RUNNING) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " is ", job::JobState_Name(job.state), ": only a RUNNING job takes savepoints"));
  }
  // A finished task cannot take part (a bounded source whose input ended without
  // checkpoints): the savepoint could never complete.
  for (const auto& e : job.executions) {
    if (e.attempt == job.attempt && e.state == rpc::FINISHED) {
      return absl::FailedPreconditionError(absl::StrCat(
          "job ", job_id, " cannot take a savepoint: subtask ", e.subtask.value() + 1, " of ",
          e.vertex.value(), " has finished (its input ended); a savepoint needs every task "
          "running"));
    }
  }
  auto request = job.checkpoints->RequestSavepoint(std::move(dir), stop, drain);
  if (request.ok()) cv_.notify_all();
  return request;
}

absl::StatusOr<nlohmann::json> Dispatcher::CheckpointsJson(const std::string& job_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(JobId(job_id));
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job with id ", job_id));
  return it->second->checkpoints->StatsJson();
}

absl::StatusOr<nlohmann::json> Dispatcher::CheckpointConfigJson(const std::string& job_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(JobId(job_id));
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job with id ", job_id));
  return it->second->checkpoints->ConfigJson();
}

absl::StatusOr<nlohmann::json> Dispatcher::SavepointStatusJson(
    const std::string& job_id, const std::string& request_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(JobId(job_id));
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job with id ", job_id));
  return it->second->checkpoints->SavepointStatusJson(request_id);
}

}  // namespace eddy
