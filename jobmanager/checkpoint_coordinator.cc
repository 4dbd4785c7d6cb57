#include "jobmanager/checkpoint_coordinator.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/fs/checkpoint_storage.h"
#include "common/fs/file_system.h"
#include "common/ids.h"

namespace eddy {
namespace {

constexpr size_t kHistorySize = 10;  // Flink's web.checkpoints.history
constexpr int kDrainAttempts = 3;   // drained savepoints tried before a stop with drain fails
constexpr auto kDrainRetryPause = std::chrono::seconds(1);

nlohmann::json Summary(std::vector<int64_t> values) {
  if (values.empty()) {
    return {{"min", 0}, {"max", 0}, {"avg", 0}, {"p50", 0}, {"p90", 0}, {"p95", 0},
            {"p99", 0}, {"p999", 0}};
  }
  std::sort(values.begin(), values.end());
  auto pct = [&](double p) {
    size_t i = static_cast<size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(i, values.size() - 1)];
  };
  int64_t sum = 0;
  for (int64_t v : values) sum += v;
  return {{"min", values.front()},
          {"max", values.back()},
          {"avg", sum / static_cast<int64_t>(values.size())},
          {"p50", pct(0.5)},
          {"p90", pct(0.9)},
          {"p95", pct(0.95)},
          {"p99", pct(0.99)},
          {"p999", pct(0.999)}};
}

/// Calls `f(file)` for each shared file of the native handles in an operator's subtask
/// state, a subtask's state or a whole checkpoint (stored in the job's shared directory,
/// named by its full URI).
template <typename F>
void ForEachSharedFile(const checkpoint::OperatorSubtaskState& state, F&& f) {
  for (const auto& handle : state.keyed()) {
    for (const auto& file : handle.native().shared()) f(file);
  }
}
template <typename F>
void ForEachSharedFile(const checkpoint::SubtaskState& state, F&& f) {
  for (const auto& op : state.operators()) ForEachSharedFile(op, f);
}
template <typename F>
void ForEachSharedFile(const checkpoint::CheckpointMetadata& metadata, F&& f) {
  for (const auto& op : metadata.operators()) {
    for (const auto& subtask : op.subtasks()) ForEachSharedFile(subtask, f);
  }
}

}  // namespace

CheckpointSettings CheckpointSettings::FromConfig(const Config& config) {
  CheckpointSettings s;
  s.interval = config.GetDuration(opt::kCheckpointingInterval);
  s.timeout = config.GetDuration(opt::kCheckpointingTimeout);
  s.min_pause = config.GetDuration(opt::kCheckpointingMinPause);
  s.exactly_once = config.GetString(opt::kCheckpointingMode) != "AT_LEAST_ONCE";
  s.tolerable_failures = config.GetInt(opt::kCheckpointingTolerableFailures);
  s.num_retained = static_cast<int>(config.GetInt(opt::kCheckpointsNumRetained));
  s.dir = config.GetString(opt::kCheckpointsDir);
  s.savepoint_dir = config.GetString(opt::kSavepointsDir);
  return s;
}

CheckpointCoordinator::CheckpointCoordinator(std::string job_id, CheckpointSettings settings,
                                             int num_subtasks)
    : job_id_(std::move(job_id)),
      settings_(std::move(settings)),
      num_subtasks_(num_subtasks),
      next_periodic_(Clock::now() + settings_.interval) {}

void CheckpointCoordinator::SetRestoredFrom(checkpoint::CheckpointMetadata metadata,
                                            std::string path, int64_t now_ms) {
  next_id_ = std::max(next_id_, metadata.checkpoint_id() + 1);
  Reference(metadata);  // its shared files stay (the job did not write them)
  restored_json_ = {{"id", metadata.checkpoint_id()},
                    {"restore_timestamp", now_ms},
                    {"is_savepoint", metadata.is_savepoint()},
                    {"external_path", path}};
  ++counts_restored_;
  restored_ = Completed{std::move(metadata), std::move(path)};
}

void CheckpointCoordinator::FailQueuedSavepoints(const std::string& reason) {
  for (const std::string& id : savepoint_queue_) {
    SavepointRequest& r = savepoints_[id];
    r.status = "FAILED";
    r.failure = reason;
  }
  savepoint_queue_.clear();
  if (!drain_request_.empty()) {
    SavepointRequest& r = savepoints_[drain_request_];
    r.status = "FAILED";
    r.failure = reason;
    drain_request_.clear();
  }
}

const CheckpointCoordinator::Completed* CheckpointCoordinator::restore_point() const {
  if (drained_) return &*drained_;  // restored tasks finish at once
  if (settings_.interval.count() > 0) return latest();
  return restored_ ? &*restored_ : nullptr;
}

void CheckpointCoordinator::OnRestored(int64_t now_ms) {
  final_completed_ = 0;  // the new attempt's tasks take their own final checkpoint
  const Completed* from = restore_point();
  if (from == nullptr) return;
  restored_json_ = {{"id", from->metadata.checkpoint_id()},
                    {"restore_timestamp", now_ms},
                    {"is_savepoint", from->metadata.is_savepoint()},
                    {"external_path", from->location}};
  ++counts_restored_;
}

absl::StatusOr<std::string> CheckpointCoordinator::RequestSavepoint(std::string dir,
                                                                    bool stop_job, bool drain) {
  if (dir.empty()) dir = settings_.savepoint_dir;
  if (dir.empty()) {
    return absl::InvalidArgumentError(
        "no savepoint directory: name one (target-directory) or set state.savepoints.dir");
  }
  if (drain && !drain_request_.empty()) {
    return absl::FailedPreconditionError("the job is being stopped with drain already");
  }
  std::string id = RandomHexId(16);
  savepoints_[id] = SavepointRequest{.dir = std::move(dir), .stop_job = stop_job};
  if (drain) {
    drain_request_ = id;
  } else {
    savepoint_queue_.push_back(id);
  }
  return id;
}

std::optional<checkpoint::CheckpointOptions> CheckpointCoordinator::MaybeTrigger(
    Clock::time_point now, int64_t now_ms, bool final) {
  if (pending_ || final_completed_ != 0) return std::nullopt;
  std::string savepoint_request;
  if (final) {
    // The drained savepoint, or the final checkpoint (without checkpoints and a drain the
    // tasks do not wait for one).
    if (!drain_request_.empty()) {
      // A failed one is taken again after a pause.
      if (drain_attempts_ > 0 && now < last_end_ + kDrainRetryPause) return std::nullopt;
      savepoint_request = drain_request_;
      ++drain_attempts_;
    } else if (settings_.interval.count() <= 0) {
      return std::nullopt;
    }
  } else if (!savepoint_queue_.empty()) {
    savepoint_request = savepoint_queue_.front();
    savepoint_queue_.pop_front();
  } else {
    if (settings_.interval.count() <= 0) return std::nullopt;
    if (now < next_periodic_) return std::nullopt;
    if (ever_ended_ && now < last_end_ + settings_.min_pause) return std::nullopt;
  }
  const int64_t id = next_id_++;
  checkpoint::CheckpointOptions options;
  options.set_checkpoint_id(id);
  options.set_timestamp(now_ms);
  options.set_exactly_once(settings_.exactly_once);
  if (savepoint_request.empty()) {
    options.set_location(fs::CheckpointUri(settings_.dir, job_id_, id));
    options.set_shared_location(fs::SharedStateUri(settings_.dir, job_id_));
    next_periodic_ = now + settings_.interval;
  } else {
    SavepointRequest& r = savepoints_[savepoint_request];
    r.checkpoint_id = id;
    options.set_is_savepoint(true);
    options.set_location(fs::JoinUri(
        r.dir, absl::StrCat("savepoint-", job_id_.substr(0, 6), "-", RandomHexId(6))));
  }
  Pending p;
  p.options = options;
  p.triggered = now;
  p.trigger_ms = now_ms;
  p.savepoint_request = savepoint_request;
  p.final = final;
  pending_ = std::move(p);
  Stats s;
  s.id = id;
  s.status = "IN_PROGRESS";
  s.is_savepoint = options.is_savepoint();
  s.trigger_ms = now_ms;
  s.external_path = options.location();
  history_.push_front(s);
  while (history_.size() > kHistorySize) history_.pop_back();
  return options;
}

CheckpointCoordinator::Stats* CheckpointCoordinator::FindStats(int64_t id) {
  for (auto& s : history_) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

template <typename State>
void CheckpointCoordinator::Reference(const State& state) {
  ForEachSharedFile(state, [&](const checkpoint::StateFile& file) { ++shared_refs_[file.uri()]; });
}

template <typename State>
void CheckpointCoordinator::Unreference(const State& state, std::vector<std::string>* discard) {
  ForEachSharedFile(state, [&](const checkpoint::StateFile& file) {
    auto it = shared_refs_.find(file.uri());
    if (it == shared_refs_.end() || --it->second > 0) return;
    shared_refs_.erase(it);
    if (discard != nullptr) discard->push_back(file.uri());
  });
}

std::vector<std::string> CheckpointCoordinator::UnreferencedUploads(
    const rpc::AcknowledgeCheckpointRequest& ack) const {
  // Only files in this job's shared directory are ever deleted.
  const std::string shared = fs::SharedStateUri(settings_.dir, job_id_) + "/";
  std::vector<std::string> out;
  ForEachSharedFile(ack.state(), [&](const checkpoint::StateFile& file) {
    if (file.uploaded() && file.uri().starts_with(shared) &&
        SharedFileReferences(file.uri()) == 0) {
      out.push_back(file.uri());
    }
  });
  return out;
}

int CheckpointCoordinator::SharedFileReferences(const std::string& uri) const {
  auto it = shared_refs_.find(uri);
  return it == shared_refs_.end() ? 0 : it->second;
}

CheckpointCoordinator::AckOutcome CheckpointCoordinator::Acknowledge(
    const rpc::AcknowledgeCheckpointRequest& ack, int64_t now_ms,
    std::vector<std::string>* discard) {
  const std::string key = absl::StrCat(ack.vertex_id(), "/", ack.subtask());
  if (!pending_ || pending_->writing || pending_->options.checkpoint_id() != ack.checkpoint_id() ||
      pending_->acks.contains(key)) {
    // Files it uploaded that nothing refers to (its checkpoint was aborted).
    if (discard != nullptr) {
      for (std::string& uri : UnreferencedUploads(ack)) discard->push_back(std::move(uri));
    }
    return AckOutcome::kIgnored;
  }
  // A file referred to, not uploaded, must still be held by a retained checkpoint: a task
  // that had not heard of a newer completed checkpoint may refer to one that was dropped.
  bool dangling = false;
  ForEachSharedFile(ack.state(), [&](const checkpoint::StateFile& file) {
    if (!file.uploaded() && SharedFileReferences(file.uri()) == 0) dangling = true;
  });
  pending_->acks.emplace(key, ack);
  Reference(ack.state());  // released again if the checkpoint is aborted
  if (dangling) return AckOutcome::kRejected;
  pending_->latest_ack_ms = now_ms;
  if (Stats* s = FindStats(ack.checkpoint_id())) {
    s->latest_ack_ms = now_ms;
    s->num_acknowledged = static_cast<int>(pending_->acks.size());
    s->state_size += ack.state_size();
    s->checkpointed_size += ack.checkpointed_size();
    s->sync_ms_max = std::max(s->sync_ms_max, ack.sync_duration_ms());
    s->async_ms_max = std::max(s->async_ms_max, ack.async_duration_ms());
    s->alignment_ms_max = std::max(s->alignment_ms_max, ack.alignment_duration_ms());
  }
  if (static_cast<int>(pending_->acks.size()) < num_subtasks_) return AckOutcome::kPending;
  pending_->writing = true;
  return AckOutcome::kAllAcknowledged;
}

checkpoint::CheckpointMetadata CheckpointCoordinator::BuildMetadata(
    const job::JobGraph& graph) const {
  checkpoint::CheckpointMetadata m;
  m.set_format_version(fs::kMetadataVersion);
  m.set_job_id(job_id_);
  m.set_job_name(graph.name());
  m.set_max_parallelism(graph.max_parallelism());
  if (!pending_) return m;
  m.set_checkpoint_id(pending_->options.checkpoint_id());
  m.set_trigger_timestamp(pending_->trigger_ms);
  m.set_is_savepoint(pending_->options.is_savepoint());
  for (const auto& v : graph.vertices()) {
    std::map<std::string, checkpoint::OperatorState*> ops;
    for (const std::string& id : v.operator_ids()) {
      checkpoint::OperatorState* op = m.add_operators();
      op->set_operator_id(id);
      op->set_parallelism(v.parallelism());
      for (int i = 0; i < v.parallelism(); ++i) op->add_subtasks()->set_operator_id(id);
      ops[id] = op;
    }
    for (int i = 0; i < v.parallelism(); ++i) {
      auto ack = pending_->acks.find(absl::StrCat(v.id(), "/", i));
      if (ack == pending_->acks.end()) continue;
      for (const auto& state : ack->second.state().operators()) {
        auto op = ops.find(state.operator_id());
        if (op != ops.end()) *op->second->mutable_subtasks(i) = state;
      }
    }
  }
  return m;
}

std::string CheckpointCoordinator::PendingLocation(int64_t id) const {
  if (!pending_ || pending_->options.checkpoint_id() != id) return "";
  return pending_->options.location();
}

bool CheckpointCoordinator::OnMetadataWritten(int64_t id, const absl::Status& status,
                                              checkpoint::CheckpointMetadata metadata,
                                              int64_t now_ms, std::vector<std::string>* discard,
                                              std::vector<std::string>* discard_files,
                                              bool* final) {
  if (!pending_ || pending_->options.checkpoint_id() != id) return false;
  if (!status.ok()) {
    Abort(id, absl::StrCat("writing its _metadata: ", status.message()), now_ms, discard_files);
    return false;
  }
  Pending p = std::move(*pending_);
  pending_.reset();
  if (final != nullptr) *final = p.final;
  if (p.final) final_completed_ = id;
  last_end_ = Clock::now();
  ever_ended_ = true;
  consecutive_failures_ = 0;
  ++counts_completed_;
  if (Stats* s = FindStats(id)) {
    s->status = "COMPLETED";
    s->end_to_end_ms = now_ms - p.trigger_ms;
  }
  Completed c{std::move(metadata), p.options.location()};
  if (p.options.is_savepoint()) {
    latest_savepoint_ = c;
  } else {
    completed_.push_back(c);
    while (static_cast<int>(completed_.size()) > settings_.num_retained) {
      discard->push_back(completed_.front().location);
      Unreference(completed_.front().metadata, discard_files);
      if (Stats* s = FindStats(completed_.front().metadata.checkpoint_id())) s->discarded = true;
      completed_.pop_front();
    }
  }
  if (!p.savepoint_request.empty()) {
    SavepointRequest& r = savepoints_[p.savepoint_request];
    r.status = "COMPLETED";
    r.location = c.location;
    if (p.savepoint_request == drain_request_) {
      drain_request_.clear();  // final: the tasks finish, and with them the job
      drained_ = c;
    } else if (r.stop_job) {
      stop_requests_.insert(id);
    }
  }
  return true;
}

int64_t CheckpointCoordinator::Abort(int64_t id, const std::string& reason, int64_t now_ms,
                                     std::vector<std::string>* discard) {
  if (!pending_ || (id != 0 && pending_->options.checkpoint_id() != id)) return 0;
  const int64_t aborted = pending_->options.checkpoint_id();
  for (const auto& [key, ack] : pending_->acks) Unreference(ack.state(), discard);
  if (Stats* s = FindStats(aborted)) {
    s->status = "FAILED";
    s->failure_ms = now_ms;
    s->failure_message = reason;
  }
  // A drained savepoint that failed is taken again (the drained tasks wait for it), up to
  // kDrainAttempts times; then the stop fails (TakeDrainFailure()).
  const bool retry_drain = pending_->savepoint_request == drain_request_ &&
                           !drain_request_.empty() && drain_attempts_ < kDrainAttempts;
  if (!pending_->savepoint_request.empty() && !retry_drain) {
    SavepointRequest& r = savepoints_[pending_->savepoint_request];
    r.status = "FAILED";
    r.failure = reason;
    if (pending_->savepoint_request == drain_request_) {
      r.failure = absl::StrCat("the drained savepoint failed ", drain_attempts_, " times; last: ",
                               reason);
      drain_failure_ = r.failure;
      drain_request_.clear();
    }
  }
  pending_.reset();
  last_end_ = Clock::now();
  ever_ended_ = true;
  ++consecutive_failures_;
  ++counts_failed_;
  return aborted;
}

int64_t CheckpointCoordinator::AbortIfExpired(Clock::time_point now, int64_t now_ms,
                                              std::vector<std::string>* discard) {
  if (!pending_ || pending_->writing || now - pending_->triggered < settings_.timeout) return 0;
  return Abort(0, absl::StrCat("Checkpoint expired before completing (execution.checkpointing.timeout ",
                               FormatDuration(settings_.timeout), ")"),
               now_ms, discard);
}

bool CheckpointCoordinator::TooManyFailures() const {
  return settings_.tolerable_failures >= 0 && consecutive_failures_ > settings_.tolerable_failures;
}

const CheckpointCoordinator::Completed* CheckpointCoordinator::latest() const {
  const Completed* best = nullptr;
  for (const Completed* c : {completed_.empty() ? nullptr : &completed_.back(),
                             latest_savepoint_ ? &*latest_savepoint_ : nullptr,
                             restored_ ? &*restored_ : nullptr}) {
    if (c != nullptr &&
        (best == nullptr || c->metadata.checkpoint_id() > best->metadata.checkpoint_id())) {
      best = c;
    }
  }
  return best;
}

std::optional<std::string> CheckpointCoordinator::TakeDrainFailure() {
  if (drain_failure_.empty()) return std::nullopt;
  std::string failure = std::move(drain_failure_);
  drain_failure_.clear();
  return failure;
}

bool CheckpointCoordinator::TakeStopRequest(int64_t completed_id) {
  return stop_requests_.erase(completed_id) > 0;
}

std::vector<std::string> CheckpointCoordinator::RetainedCheckpointLocations() const {
  std::vector<std::string> out;
  for (const auto& c : completed_) out.push_back(c.location);
  return out;
}

nlohmann::json CheckpointCoordinator::StatsToJson(const Stats& s) const {
  nlohmann::json j = {
      {"className", s.status == "COMPLETED"  ? ".CompletedCheckpointStatistics"
                    : s.status == "FAILED"   ? ".FailedCheckpointStatistics"
                                             : ".PendingCheckpointStatistics"},
      {"id", s.id},
      {"status", s.status},
      {"is_savepoint", s.is_savepoint},
      {"checkpoint_type", s.is_savepoint ? "SAVEPOINT" : "CHECKPOINT"},
      {"trigger_timestamp", s.trigger_ms},
      {"latest_ack_timestamp", s.latest_ack_ms},
      {"state_size", s.state_size},
      {"checkpointed_size", s.checkpointed_size},
      {"end_to_end_duration",
       s.status == "IN_PROGRESS" ? std::max<int64_t>(0, s.latest_ack_ms - s.trigger_ms)
                                 : s.end_to_end_ms},
      {"sync_duration_max", s.sync_ms_max},
      {"async_duration_max", s.async_ms_max},
      {"alignment_duration_max", s.alignment_ms_max},
      {"num_subtasks", num_subtasks_},
      {"num_acknowledged_subtasks", s.num_acknowledged},
      {"external_path", s.external_path},
      {"discarded", s.discarded},
  };
  if (s.status == "FAILED") {
    j["failure_timestamp"] = s.failure_ms;
    j["failure_message"] = s.failure_message;
  }
  return j;
}

nlohmann::json CheckpointCoordinator::StatsJson() const {
  std::vector<int64_t> sizes, checkpointed, durations;
  const Stats* latest_completed = nullptr;
  const Stats* latest_savepoint = nullptr;
  const Stats* latest_failed = nullptr;
  for (const auto& s : history_) {
    if (s.status == "COMPLETED") {
      sizes.push_back(static_cast<int64_t>(s.state_size));
      checkpointed.push_back(static_cast<int64_t>(s.checkpointed_size));
      durations.push_back(s.end_to_end_ms);
      if (!s.is_savepoint && latest_completed == nullptr) latest_completed = &s;
      if (s.is_savepoint && latest_savepoint == nullptr) latest_savepoint = &s;
    }
    if (s.status == "FAILED" && latest_failed == nullptr) latest_failed = &s;
  }
  auto or_null = [&](const Stats* s) { return s ? StatsToJson(*s) : nlohmann::json(nullptr); };
  nlohmann::json history = nlohmann::json::array();
  for (const auto& s : history_) history.push_back(StatsToJson(s));
  return {{"counts",
           {{"restored", counts_restored_},
            {"total", counts_completed_ + counts_failed_ + (pending_ ? 1 : 0)},
            {"in_progress", pending_ ? 1 : 0},
            {"completed", counts_completed_},
            {"failed", counts_failed_}}},
          {"summary",
           {{"state_size", Summary(sizes)},
            {"checkpointed_size", Summary(checkpointed)},
            {"end_to_end_duration", Summary(durations)}}},
          {"latest",
           {{"completed", or_null(latest_completed)},
            {"savepoint", or_null(latest_savepoint)},
            {"failed", or_null(latest_failed)},
            {"restored", restored_json_.is_null() ? nlohmann::json(nullptr) : restored_json_}}},
          {"history", history}};
}

nlohmann::json CheckpointCoordinator::ConfigJson() const {
  return {{"mode", settings_.exactly_once ? "exactly_once" : "at_least_once"},
          {"interval", settings_.interval.count() > 0 ? settings_.interval.count()
                                                      : std::numeric_limits<int64_t>::max()},
          {"timeout", settings_.timeout.count()},
          {"min_pause", settings_.min_pause.count()},
          {"max_concurrent", 1},
          {"externalization", {{"enabled", true}, {"delete_on_cancellation", true}}},
          {"checkpoint_storage", settings_.dir},
          {"savepoint_directory", settings_.savepoint_dir},
          {"unaligned_checkpoints", false},
          {"tolerable_failed_checkpoints", settings_.tolerable_failures},
          {"num_retained", settings_.num_retained},
          {"checkpoints_after_tasks_finish", true}};
}

absl::StatusOr<nlohmann::json> CheckpointCoordinator::SavepointStatusJson(
    const std::string& request_id) const {
  auto it = savepoints_.find(request_id);
  if (it == savepoints_.end()) {
    return absl::NotFoundError(absl::StrCat("no savepoint request ", request_id));
  }
  const SavepointRequest& r = it->second;
  nlohmann::json j = {{"status", {{"id", r.status == "IN_PROGRESS" ? "IN_PROGRESS" : "COMPLETED"}}}};
  if (r.status == "COMPLETED") {
    j["operation"] = {{"location", r.location}};
  } else if (r.status == "FAILED") {
    j["operation"] = {{"failure-cause", {{"class", "CheckpointException"}, {"stack-trace", r.failure}}}};
  }
  return j;
}

}  // namespace eddy
