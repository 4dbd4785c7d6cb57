#include "jobmanager/dispatcher.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/secrets.h"
#include "common/fs/checkpoint_storage.h"
#include "jobmanager/deployment_plan.h"
#include "jobmanager/job_graph_validator.h"
#include "jobmanager/state_assignment.h"

namespace eddy {

int64_t Dispatcher::NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

bool IsTerminalTask(rpc::ExecutionState s) {
  return s == rpc::FINISHED || s == rpc::CANCELED || s == rpc::FAILED;
}

bool IsTerminalJob(job::JobState s) {
  return s == job::FINISHED || s == job::CANCELED || s == job::FAILED;
}

const std::string& Name(job::JobState s) { return job::JobState_Name(s); }
const std::string& Name(rpc::ExecutionState s) { return rpc::ExecutionState_Name(s); }

std::string TaskName(const std::string& vertex_name, int subtask, int parallelism) {
  return absl::StrCat(vertex_name, " (", subtask + 1, "/", parallelism, ")");
}

constexpr auto kTick = std::chrono::milliseconds(100);
constexpr size_t kExceptionHistorySize = 16;  // Flink's web.exception-history-size
// How long after a job FAILED a TaskManager loss is still added to its history.
constexpr auto kLateLossWindow = std::chrono::seconds(10);

// The REST paths of a job's views, under which the archive keeps them.
std::string JobPath(const std::string& job_id) { return absl::StrCat("/jobs/", job_id); }
std::string ExceptionsPath(const std::string& job_id) {
  return absl::StrCat("/jobs/", job_id, "/exceptions");
}
std::string WatermarksPath(const std::string& job_id, const std::string& vertex_id) {
  return absl::StrCat("/jobs/", job_id, "/vertices/", vertex_id, "/watermarks");
}

}  // namespace

Dispatcher::Dispatcher(boost::asio::io_context& io, TaskManagerRegistry& registry, Options options)
    : registry_(registry),
      options_(std::move(options)),
      jobstore_expiration_(options_.config.GetDuration(opt::kJobStoreExpirationTime)),
      jobstore_max_capacity_(
          static_cast<size_t>(options_.config.GetInt(opt::kJobStoreMaxCapacity))),
      gateway_(io, options_.connection, options_.rpc_timeout,
               [this](const TaskManagerId& tm) -> std::optional<TaskManagerGateway::Address> {
                 auto info = registry_.Find(tm);
                 if (!info) return std::nullopt;
                 return TaskManagerGateway::Address{info->host, info->rpc_port,
                                                    info->rpc_credential};
               }),
      archive_(options_.config.GetString(opt::kJobManagerArchiveDir)) {
  if (archive_.enabled()) {
    EDDY_LOG(INFO) << "archiving terminal jobs to " << archive_.dir();
  }
}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::Start() {
  worker_ = std::thread([this] { WorkerLoop(); });
}

void Dispatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  gateway_.Stop();
  archive_.Stop();
}

void Dispatcher::WorkerLoop() {
  while (true) {
    std::vector<JobId> to_schedule;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, kTick, [this] { return stopping_ || !schedule_queue_.empty(); });
      if (stopping_) return;
      to_schedule.assign(schedule_queue_.begin(), schedule_queue_.end());
      schedule_queue_.clear();
    }
    for (const auto& id : to_schedule) TrySchedule(id);
    Tick();
  }
}

void Dispatcher::Tick() {
  std::vector<JobId> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto now = Clock::now();
    for (const auto& id : job_order_) {
      Job& job = *jobs_.at(id);
      if (job.state == job::CREATED || (job.state == job::RESTARTING && now >= job.restart_at)) {
        due.push_back(id);
      }
      if (job.state == job::RUNNING) CheckpointTickLocked(job, now);
    }
    ExpireJobsLocked(now);
  }
  for (const auto& id : due) TrySchedule(id);
  RepeatStaleCancels();
}

std::optional<std::string> Dispatcher::OwnerOf(const std::string& job_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(JobId(job_id));
  if (it == jobs_.end()) return std::nullopt;
  return it->second->owner;
}

absl::StatusOr<std::string> Dispatcher::Submit(job::JobGraph graph, RestoreSettings restore,
                                               std::string owner) {
  absl::Status valid = ValidateJobGraph(graph);
  if (!valid.ok()) return valid;
  Config job_config = options_.config;
  std::map<std::string, std::string> keys(graph.config().begin(), graph.config().end());
  absl::Status config_ok = job_config.ApplyJobConfig(keys);
  if (!config_ok.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid job config: ", config_ok.message()));
  }
  // Tasks read these from the graph: the cluster's values apply where the job sets none.
  auto& config = *graph.mutable_config();
  if (!config.contains(opt::kAutoWatermarkInterval)) {
    config[opt::kAutoWatermarkInterval] =
        absl::StrCat(job_config.GetDuration(opt::kAutoWatermarkInterval).count(), "ms");
  }
  if (!config.contains(opt::kLatencyInterval)) {
    config[opt::kLatencyInterval] =
        absl::StrCat(job_config.GetDuration(opt::kLatencyInterval).count(), "ms");
  }
  if (!config.contains(opt::kRuntimeMode)) {
    config[opt::kRuntimeMode] = job_config.GetString(opt::kRuntimeMode);
  }
  // A savepoint (or retained checkpoint) to start from is read and checked now, so that a
  // bad path or an incompatible job is an error of the submission.
  std::optional<checkpoint::CheckpointMetadata> restored;
  if (!restore.path.empty()) {
    auto fs = fs::FileSystem::ForUri(restore.path, job_config);
    if (!fs.ok()) return fs.status();
    std::vector<std::string> skipped;
    auto point = fs::ResolveRestorePoint(**fs, restore.path, &skipped);
    if (!point.ok()) return point.status();
    for (const std::string& s : skipped) {
      EDDY_LOG(WARN) << "skipping a checkpoint that cannot be restored: " << s;
    }
    absl::Status ok = CheckRestorable(point->first, graph, restore.allow_non_restored_state,
                                      point->second);
    if (!ok.ok()) return ok;
    restored = std::move(point->first);
    restore.path = point->second;
  }
  auto job = std::make_shared<Job>();
  job->id = JobId(RandomHexId(16));
  job->graph = std::move(graph);
  job->restart_strategy = CreateRestartStrategy(job_config);
  job->config = job_config;
  int num_subtasks = 0;
  for (const auto& v : job->graph.vertices()) {
    num_subtasks += v.parallelism();
    bool has_input = false;
    for (const auto& e : job->graph.edges()) has_input = has_input || e.target_vertex() == v.id();
    if (!has_input) job->source_vertices.push_back(v.id());
  }
  job->checkpoints = std::make_unique<CheckpointCoordinator>(
      job->id.value(), CheckpointSettings::FromConfig(job_config), num_subtasks);
  if (restored) {
    job->checkpoints->SetRestoredFrom(std::move(*restored), restore.path, NowMs());
  }
  job->data_credential = RandomSecret();
  job->owner = std::move(owner);
  job->start_ms = NowMs();
  job->state_ms[job::CREATED] = job->start_ms;
  job->waiting_since = Clock::now();
  for (const auto& v : job->graph.vertices()) {
    for (int i = 0; i < v.parallelism(); ++i) {
      Execution e;
      e.vertex = VertexId(v.id());
      e.subtask = SubtaskIndex(i);
      job->executions.push_back(e);
    }
  }
  JobId id = job->id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_[id] = job;
    job_order_.push_back(id);
    schedule_queue_.push_back(id);
  }
  cv_.notify_all();
  EDDY_LOG(INFO) << "job " << id << " (" << job->graph.name() << ") submitted: "
                 << job->graph.vertices_size() << " vertices, " << job->executions.size()
                 << " tasks, restart strategy " << job->restart_strategy->Describe();
  return id.value();
}

void Dispatcher::RepeatStaleCancels() {
  constexpr auto kRepeatAfter = std::chrono::seconds(3);
  std::lock_guard<std::mutex> lock(mu_);
  auto now = Clock::now();
  for (auto& [id, job] : jobs_) {
    if ((job->state == job::CANCELLING || job->state == job::FAILING) &&
        now - job->cancel_sent >= kRepeatAfter) {
      job->cancel_sent = now;
      SendJobRequestLocked(*job, "CancelJob", TaskManagersOfLocked(*job));
    }
  }
}

void Dispatcher::SendJobRequestLocked(const Job& job, const std::string& method,
                                      const std::vector<TaskManagerId>& tms) {
  rpc::JobRequest request;
  request.set_job_id(job.id.value());
  request.set_attempt(job.attempt);
  std::string payload = request.SerializeAsString();
  for (const auto& tm : tms) gateway_.Send(tm, method, payload);
}

void Dispatcher::TrySchedule(const JobId& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return;
  Job& job = *it->second;
  auto now = Clock::now();
  if (job.state != job::CREATED && !(job.state == job::RESTARTING && now >= job.restart_at)) return;
  int needed = SlotsNeeded(job.graph);

  auto tms = registry_.List();
  int free = 0;
  for (const auto& tm : tms) free += tm.slots_free;
  if (free < needed) {
    if (now - job.waiting_since >= options_.slot_request_timeout) {
      int total = 0;
      for (const auto& tm : tms) total += tm.slots_total;
      std::string cause = absl::StrCat(
          "Could not acquire the required ", needed, " slots within slot.request.timeout (",
          options_.slot_request_timeout.count(), "ms): the job's largest parallelism is ", needed,
          " but the cluster has ", free, " free of ", total, " slots on ", tms.size(),
          " TaskManagers");
      // No task runs: the job ends FAILED without consulting the restart strategy.
      job.exception_history.push_front(nlohmann::json{{"exceptionName", "NoResourceAvailableException"},
                                                      {"stacktrace", cause},
                                                      {"timestamp", NowMs()},
                                                      {"taskName", nullptr},
                                                      {"location", nullptr}});
      job.root_exception = cause;
      job.root_exception_ms = NowMs();
      SetStateLocked(job, job::FAILING);
      for (auto& e : job.executions) {
        if (!IsTerminalTask(e.state)) e.state = rpc::CANCELED;
      }
      CheckTerminalLocked(job);
    }
    return;
  }
  // Spread slots round robin over TaskManagers so that subtasks land on every host.
  std::vector<const TaskManagerInfo*> slot_tm;
  std::map<TaskManagerId, int> take;
  while (static_cast<int>(slot_tm.size()) < needed) {
    for (const auto& tm : tms) {
      if (static_cast<int>(slot_tm.size()) == needed) break;
      if (take[tm.id] < tm.slots_free) {
        take[tm.id]++;
        slot_tm.push_back(&tm);
      }
    }
  }
  for (auto& [tm, n] : take) {
    if (n == 0) continue;
    if (!registry_.TakeSlots(tm, n)) {
      ReleaseSlotsLocked(job);
      return;  // raced with a lost TaskManager; try again next tick
    }
    job.slots[tm] = n;
  }

  if (job.state == job::RESTARTING) {
    ++job.attempt;
    ++job.num_restarts;
    job.checkpoints->OnRestored(NowMs());
  }
  const CheckpointCoordinator::Completed* restore_from = job.checkpoints->restore_point();
  std::vector<SlotLocation> locations;
  for (const TaskManagerInfo* tm : slot_tm) {
    locations.push_back(SlotLocation{tm->id.value(), tm->host, tm->data_port});
  }
  std::map<TaskManagerId, rpc::SubmitTasksRequest> requests;
  for (auto& planned : PlanDeployments(job.graph, locations, job.attempt)) {
    const TaskManagerInfo* tm = slot_tm[planned.slot];
    Execution* e = FindExecutionLocked(job, planned.deployment.vertex_id(),
                                       planned.deployment.subtask());
    *e = Execution{.vertex = e->vertex, .subtask = e->subtask};
    e->attempt = job.attempt;
    e->tm = tm->id;
    e->tm_host = tm->host;
    e->state = rpc::DEPLOYING;
    if (restore_from != nullptr) {
      for (const auto& v : job.graph.vertices()) {
        if (v.id() != planned.deployment.vertex_id()) continue;
        *planned.deployment.mutable_restore() =
            AssignState(restore_from->metadata, job.graph, v, planned.deployment.subtask());
        planned.deployment.mutable_restore()->set_location(restore_from->location);
        planned.deployment.mutable_restore()->set_share_files(
            restore_from->metadata.job_id() == job.id.value());
      }
    }
    *requests[tm->id].add_tasks() = std::move(planned.deployment);
  }
  std::string graph_bytes = job.graph.SerializeAsString();
  for (auto& [tm, request] : requests) {
    request.set_job_id(job.id.value());
    request.set_job_graph(graph_bytes);
    request.set_library_sha256(job.graph.library_sha256());
    request.set_data_credential(job.data_credential);
    request.set_checkpoint_interval_ms(job.checkpoints->settings().interval.count());
    const int attempt = job.attempt;
    gateway_.Send(tm, "SubmitTasks", request.SerializeAsString(),
                  [this, id = job.id, attempt, tm = tm](const absl::Status& status) {
                    if (status.ok()) return;
                    std::lock_guard<std::mutex> lock(mu_);
                    auto it = jobs_.find(id);
                    if (it != jobs_.end()) DeployFailedLocked(*it->second, attempt, tm, status);
                  });
  }
  SetStateLocked(job, job::RUNNING);
  EDDY_LOG(INFO) << "job " << job.id << " RUNNING (attempt " << job.attempt << "): deploying "
                 << job.executions.size() << " tasks into " << needed << " slots on "
                 << requests.size() << " TaskManagers";
}

void Dispatcher::DeployFailedLocked(Job& job, int attempt, const TaskManagerId& tm,
                                    const absl::Status& error) {
  if (job.attempt != attempt || IsTerminalJob(job.state)) return;
  std::string cause =
      absl::StrCat("cannot deploy to TaskManager ", tm.value(), ": ", error.message());
  std::string host;
  bool any = false;
  for (auto& e : job.executions) {
    if (e.tm == tm && e.attempt == attempt && !IsTerminalTask(e.state)) {
      e.state = rpc::FAILED;
      e.failure = cause;
      e.end_ms = NowMs();
      host = e.tm_host;
      any = true;
    }
  }
  if (!any) return;
  FailJobLocked(job, cause, "", tm, host);
  CheckTerminalLocked(job);
}

absl::Status Dispatcher::Cancel(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(JobId(job_id));
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job with id ", job_id));
  Job& job = *it->second;
  if (IsTerminalJob(job.state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " is already ", Name(job.state)));
  }
  if (job.state == job::CANCELLING || job.state == job::FAILING) return absl::OkStatus();
  EDDY_LOG(INFO) << "job " << job_id << " CANCELLING (requested while " << Name(job.state) << ")";
  bool tasks_out = job.state == job::RUNNING;
  SetStateLocked(job, job::CANCELLING);
  if (!tasks_out) {
    // CREATED or RESTARTING: no task of the current attempt runs; the old ones were
    // already cancelled and their slots returned.
    for (auto& e : job.executions) {
      if (!IsTerminalTask(e.state)) e.state = rpc::CANCELED;
    }
  } else {
    job.cancel_sent = Clock::now();
    SendJobRequestLocked(job, "CancelJob", TaskManagersOfLocked(job));
  }
  CheckTerminalLocked(job);
  return absl::OkStatus();
}

Dispatcher::Execution* Dispatcher::FindExecutionLocked(Job& job, const std::string& vertex_id,
                                                       int subtask) {
  for (auto& e : job.executions) {
    if (e.vertex.value() == vertex_id && e.subtask.value() == subtask) return &e;
  }
  return nullptr;
}

Dispatcher::ReportOutcome Dispatcher::OnTaskReport(const TaskManagerId& tm,
                                                   const rpc::TaskReport& report) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(JobId(report.job_id()));
  if (it == jobs_.end()) return ReportOutcome::kUnknownJob;
  Job& job = *it->second;
  Execution* e = FindExecutionLocked(job, report.vertex_id(), report.subtask());
  // Only the current attempt, from the TaskManager it was deployed to, counts.
  if (e == nullptr || e->tm != tm || e->attempt != report.attempt() ||
      report.attempt() != job.attempt) {
    if (report.attempt() < job.attempt && !IsTerminalTask(report.state())) {
      // A task of an older attempt still runs (its TaskManager missed the cancel): cancel
      // it again, without touching the current attempt's tasks there.
      rpc::JobRequest request;
      request.set_job_id(job.id.value());
      request.set_attempt(report.attempt());
      gateway_.Send(tm, "CancelJob", request.SerializeAsString());
    }
    return ReportOutcome::kIgnored;
  }
  e->records_in = std::max(e->records_in, report.records_in());
  e->records_out = std::max(e->records_out, report.records_out());
  e->watermark = report.current_input_watermark();
  e->end_of_input = e->end_of_input || report.end_of_input();
  if (report.latency_size() > 0) e->latency.assign(report.latency().begin(), report.latency().end());
  const rpc::ExecutionState reported = report.state();
  if (IsTerminalTask(e->state) || reported == e->state) return ReportOutcome::kApplied;
  if (reported == rpc::DEPLOYING || reported == rpc::CREATED || reported == rpc::SCHEDULED ||
      reported == rpc::EXECUTION_STATE_UNSPECIFIED) {
    return ReportOutcome::kApplied;
  }
  e->state = reported;
  if (e->state == rpc::RUNNING) e->start_ms = NowMs();
  if (IsTerminalTask(e->state)) e->end_ms = NowMs();
  if (e->state == rpc::FAILED) {
    e->failure = report.failure();
    const job::JobVertexDef* vertex = nullptr;
    for (const auto& v : job.graph.vertices()) {
      if (v.id() == report.vertex_id()) vertex = &v;
    }
    std::string task_name =
        TaskName(vertex ? vertex->name() : report.vertex_id(), report.subtask(),
                 vertex ? vertex->parallelism() : 0);
    FailJobLocked(job, report.failure(), task_name, tm, e->tm_host);
  }
  CheckTerminalLocked(job);
  return ReportOutcome::kApplied;
}

void Dispatcher::OnTaskManagerLost(const TaskManagerId& tm, const std::string& host,
                                   const std::string& reason) {
  gateway_.Remove(tm);
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = Clock::now();
  for (auto& [id, job_ptr] : jobs_) {
    Job& job = *job_ptr;
    bool ran_here = job.slots.count(tm) > 0;
    for (const auto& e : job.executions) {
      if (e.tm == tm && e.attempt == job.attempt) ran_here = true;
    }
    // A consumer may notice the broken connection before the loss is noticed here: the
    // job is then RESTARTING, or already FAILED, and the loss still belongs in its history.
    const bool just_failed = job.state == job::FAILED && now - job.terminal_at < kLateLossWindow;
    if (!ran_here || (IsTerminalJob(job.state) && !just_failed)) continue;
    std::string cause = absl::StrCat("TaskManager ", tm.value(), " at ", host, " was lost: ", reason);
    if (just_failed) {
      RecordExceptionLocked(job, cause, "", tm, host);
      ArchiveLocked(job);  // replaces the archive written without this loss
      continue;
    }
    for (auto& e : job.executions) {
      if (e.tm == tm && e.attempt == job.attempt && !IsTerminalTask(e.state)) {
        e.state = rpc::FAILED;
        e.failure = cause;
        e.end_ms = NowMs();
      }
    }
    job.slots.erase(tm);  // its slots are gone with it
    FailJobLocked(job, cause, "", tm, host);
    CheckTerminalLocked(job);
  }
}

void Dispatcher::RecordExceptionLocked(Job& job, const std::string& cause,
                                       const std::string& task_name, const TaskManagerId& tm_id,
                                       const std::string& host) {
  const std::string& tm = tm_id.value();
  const std::string location = tm.empty() ? "" : absl::StrCat(tm, " (", host, ")");
  const int64_t now_ms = NowMs();
  job.exception_history.push_front(nlohmann::json{
      {"exceptionName", "TaskFailure"},
      {"stacktrace", cause},
      {"timestamp", now_ms},
      {"taskName", task_name.empty() ? nlohmann::json(nullptr) : nlohmann::json(task_name)},
      {"location", location.empty() ? nlohmann::json(nullptr) : nlohmann::json(location)},
      {"taskManagerId", tm.empty() ? nlohmann::json(nullptr) : nlohmann::json(tm)},
      {"attempt", job.attempt}});
  while (job.exception_history.size() > kExceptionHistorySize) job.exception_history.pop_back();
}

void Dispatcher::FailJobLocked(Job& job, const std::string& cause, const std::string& task_name,
                               const TaskManagerId& tm, const std::string& host) {
  RecordExceptionLocked(job, cause, task_name, tm, host);
  const int64_t now_ms = NowMs();
  if (job.state != job::CREATED && job.state != job::RUNNING) return;
  job.root_exception = cause;
  job.root_exception_ms = now_ms;
  const bool had_tasks = job.state == job::RUNNING;
  AbortCheckpointLocked(job, 0, absl::StrCat("the job failed: ", cause));
  auto delay = job.restart_strategy->OnFailure(Clock::now());
  auto tms = TaskManagersOfLocked(job);
  if (delay) {
    SetStateLocked(job, job::RESTARTING);
    job.restart_at = Clock::now() + *delay;
    job.waiting_since = job.restart_at;
    EDDY_LOG(WARN) << "job " << job.id << " RESTARTING in " << delay->count() << "ms (attempt "
                   << job.attempt << " failed: " << cause << ")";
    for (auto& e : job.executions) {
      if (!IsTerminalTask(e.state)) {
        e.state = rpc::CANCELED;
        e.end_ms = now_ms;
      }
    }
    // Cancel what still runs of this attempt and drop its partitions; the TaskManagers
    // get these before any deployment of the next attempt (one FIFO queue each).
    SendJobRequestLocked(job, "CancelJob", tms);
    SendJobRequestLocked(job, "ReleaseJob", tms);
    ReleaseSlotsLocked(job);
    return;
  }
  SetStateLocked(job, job::FAILING);
  EDDY_LOG(WARN) << "job " << job.id << " FAILING (restart strategy "
                 << job.restart_strategy->Describe() << " gives up): " << cause;
  if (!had_tasks) {
    for (auto& e : job.executions) {
      if (!IsTerminalTask(e.state)) e.state = rpc::CANCELED;
    }
    return;
  }
  job.cancel_sent = Clock::now();
  SendJobRequestLocked(job, "CancelJob", tms);
}

void Dispatcher::CheckTerminalLocked(Job& job) {
  if (IsTerminalJob(job.state) || job.state == job::RESTARTING || job.state == job::CREATED) return;
  bool all_terminal = true, all_finished = true;
  for (const auto& e : job.executions) {
    if (!IsTerminalTask(e.state)) all_terminal = false;
    if (e.state != rpc::FINISHED) all_finished = false;
  }
  if (!all_terminal) return;
  if (job.state == job::CANCELLING && job.stop_with_savepoint) {
    SetStateLocked(job, job::FINISHED);
  } else if (job.state == job::CANCELLING) {
    SetStateLocked(job, job::CANCELED);
  } else if (job.state == job::FAILING || !all_finished) {
    SetStateLocked(job, job::FAILED);
  } else {
    SetStateLocked(job, job::FINISHED);
  }
  job.end_ms = NowMs();
  job.terminal_at = Clock::now();
  EDDY_LOG(INFO) << "job " << job.id << " (" << job.graph.name() << ") " << Name(job.state)
                 << " after " << (job.end_ms - job.start_ms) << "ms, " << job.num_restarts
                 << " restarts";
  SendJobRequestLocked(job, "ReleaseJob", TaskManagersOfLocked(job));
  ReleaseSlotsLocked(job);
  ArchiveLocked(job);
  // Checkpoints are for recovery: a finished or cancelled job's are deleted, a failed job's
  // are kept so that it can be started again from its latest one (--from-savepoint).
  AbortCheckpointLocked(job, 0, absl::StrCat("the job is ", Name(job.state)));
  job.checkpoints->FailQueuedSavepoints(absl::StrCat("the job is ", Name(job.state)));
  if (job.state != job::FAILED) {
    DiscardLocked(job, {fs::JobCheckpointsUri(job.checkpoints->settings().dir, job.id.value())});
  }
}

void Dispatcher::ArchiveLocked(const Job& job) {
  if (!archive_.enabled()) return;
  const std::string& id = job.id.value();
  std::vector<JobArchive::Entry> entries;
  entries.push_back({JobPath(id), JobJsonLocked(job)});
  entries.push_back({ExceptionsPath(id), ExceptionsJsonLocked(job)});
  for (const auto& v : job.graph.vertices()) {
    auto watermarks = WatermarksJsonLocked(job, v.id());
    if (watermarks.ok()) entries.push_back({WatermarksPath(id, v.id()), *std::move(watermarks)});
  }
  archive_.Archive(job.id, std::move(entries));
}

void Dispatcher::ExpireJobsLocked(Clock::time_point now) {
  std::vector<JobId> terminal;
  for (const auto& id : job_order_) {
    if (IsTerminalJob(jobs_.at(id)->state)) terminal.push_back(id);
  }
  // Oldest terminal first: by the time they ended.
  std::stable_sort(terminal.begin(), terminal.end(), [&](const JobId& a, const JobId& b) {
    return jobs_.at(a)->terminal_at < jobs_.at(b)->terminal_at;
  });
  std::set<JobId> drop;
  size_t keep = terminal.size();
  for (const auto& id : terminal) {
    if (keep > jobstore_max_capacity_ || now - jobs_.at(id)->terminal_at >= jobstore_expiration_) {
      drop.insert(id);
      --keep;
    }
  }
  if (drop.empty()) return;
  for (const auto& id : drop) jobs_.erase(id);
  job_order_.erase(std::remove_if(job_order_.begin(), job_order_.end(),
                                  [&](const JobId& id) { return drop.count(id) > 0; }),
                   job_order_.end());
}

void Dispatcher::ReleaseSlotsLocked(Job& job) {
  for (const auto& [tm, n] : job.slots) registry_.ReturnSlots(tm, n);
  job.slots.clear();
}

std::vector<TaskManagerId> Dispatcher::TaskManagersOfLocked(const Job& job) const {
  std::vector<TaskManagerId> out;
  for (const auto& [tm, n] : job.slots) out.push_back(tm);
  return out;
}

Dispatcher::Counts Dispatcher::counts() const {
  Counts c;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, job] : jobs_) {
    if (job->state == job::FINISHED) c.finished++;
    else if (job->state == job::CANCELED) c.cancelled++;
    else if (job->state == job::FAILED) c.failed++;
    else c.running++;
  }
  return c;
}

size_t Dispatcher::job_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size();
}

nlohmann::json Dispatcher::JobsJson() const {
  auto list = nlohmann::json::array();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& id : job_order_) {
    list.push_back({{"id", id.value()}, {"status", Name(jobs_.at(id)->state)}});
  }
  return nlohmann::json{{"jobs", list}};
}

nlohmann::json Dispatcher::JobsOverviewJson() const {
  auto list = nlohmann::json::array();
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = NowMs();
  for (const auto& id : job_order_) {
    const Job& job = *jobs_.at(id);
    std::map<std::string, int> tasks;
    for (const auto& e : job.executions) tasks[Name(e.state)]++;
    nlohmann::json counts = nlohmann::json::object();
    counts["total"] = job.executions.size();
    for (const auto& [s, n] : tasks) {
      std::string key = s;
      std::transform(key.begin(), key.end(), key.begin(), ::tolower);
      counts[key] = n;
    }
    list.push_back({{"jid", id.value()},
                    {"name", job.graph.name()},
                    {"state", Name(job.state)},
                    {"start-time", job.start_ms},
                    {"end-time", job.end_ms},
                    {"duration", (job.end_ms >= 0 ? job.end_ms : now) - job.start_ms},
                    {"tasks", counts}});
  }
  return nlohmann::json{{"jobs", list}};
}

nlohmann::json Dispatcher::VertexJsonLocked(const Job& job, const job::JobVertexDef& vertex) const {
  uint64_t in = 0, out = 0;
  int64_t start = -1, end = -1;
  int64_t watermark = INT64_MAX;
  std::map<std::string, int> states;
  std::set<rpc::ExecutionState> seen;
  bool all_terminal = true;
  for (const auto& e : job.executions) {
    if (e.vertex.value() != vertex.id()) continue;
    in += e.records_in;
    out += e.records_out;
    states[Name(e.state)]++;
    seen.insert(e.state);
    watermark = std::min(watermark, e.watermark);
    if (e.start_ms >= 0 && (start < 0 || e.start_ms < start)) start = e.start_ms;
    if (e.end_ms > end) end = e.end_ms;
    if (!IsTerminalTask(e.state)) all_terminal = false;
  }
  // A vertex's status is the least advanced of its subtasks' states.
  rpc::ExecutionState status = rpc::FINISHED;
  for (rpc::ExecutionState s : {rpc::CREATED, rpc::SCHEDULED, rpc::DEPLOYING, rpc::INITIALIZING,
                                rpc::RUNNING, rpc::CANCELING, rpc::FAILED, rpc::CANCELED}) {
    if (seen.count(s)) {
      status = s;
      break;
    }
  }
  int64_t now = NowMs();
  return nlohmann::json{
      {"id", vertex.id()},
      {"name", vertex.name()},
      {"parallelism", vertex.parallelism()},
      {"status", Name(status)},
      {"start-time", start},
      {"end-time", all_terminal ? end : -1},
      {"duration", start < 0 ? -1 : ((all_terminal ? end : now) - start)},
      {"tasks", states},
      {"watermark", watermark},
      {"metrics",
       {{"read-records", in},
        {"write-records", out},
        {"read-records-complete", all_terminal},
        {"write-records-complete", all_terminal}}},
  };
}

absl::StatusOr<nlohmann::json> Dispatcher::JobJson(const std::string& job_id) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(JobId(job_id));
    if (it != jobs_.end()) return JobJsonLocked(*it->second);
  }
  return archive_.Find(job_id, JobPath(job_id));
}

void Dispatcher::SetStateLocked(Job& job, job::JobState state) {
  job.state = state;
  job.state_ms[state] = NowMs();
}

nlohmann::json Dispatcher::JobJsonLocked(const Job& job) const {
  auto vertices = nlohmann::json::array();
  for (const auto& v : job.graph.vertices()) vertices.push_back(VertexJsonLocked(job, v));
  auto edges = nlohmann::json::array();
  for (const auto& e : job.graph.edges()) {
    edges.push_back({{"id", e.id()},
                     {"source", e.source_vertex()},
                     {"target", e.target_vertex()},
                     {"ship_strategy", job::Partitioning_Name(e.partitioning())}});
  }
  int64_t now = NowMs();
  nlohmann::json timestamps = nlohmann::json::object();
  for (int s = job::CREATED; s <= job::RESTARTING; ++s) {
    auto it = job.state_ms.find(static_cast<job::JobState>(s));
    timestamps[Name(static_cast<job::JobState>(s))] = it == job.state_ms.end() ? 0 : it->second;
  }
  return nlohmann::json{
      {"jid", job.id.value()},
      {"name", job.graph.name()},
      {"state", Name(job.state)},
      {"isStoppable", false},
      {"start-time", job.start_ms},
      {"end-time", job.end_ms},
      {"duration", (job.end_ms >= 0 ? job.end_ms : now) - job.start_ms},
      {"now", now},
      {"timestamps", timestamps},
      {"maxParallelism", job.graph.max_parallelism()},
      {"job-type", job.graph.bounded() ? "BATCH" : "STREAMING"},
      {"numRestarts", job.num_restarts},
      {"attempt", job.attempt},
      {"vertices", vertices},
      {"plan", {{"jid", job.id.value()}, {"name", job.graph.name()}, {"edges", edges}}},
  };
}

absl::StatusOr<nlohmann::json> Dispatcher::ExceptionsJson(const std::string& job_id) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(JobId(job_id));
    if (it != jobs_.end()) return ExceptionsJsonLocked(*it->second);
  }
  return archive_.Find(job_id, ExceptionsPath(job_id));
}

nlohmann::json Dispatcher::ExceptionsJsonLocked(const Job& job) const {
  auto entries = nlohmann::json::array();
  for (const auto& e : job.exception_history) entries.push_back(e);
  nlohmann::json out = {
      {"exceptionHistory", {{"entries", entries}, {"truncated", false}}},
      {"truncated", false},
  };
  if (!job.root_exception.empty()) {
    out["root-exception"] = job.root_exception;
    out["timestamp"] = job.root_exception_ms;
  }
  auto all = nlohmann::json::array();
  for (const auto& e : job.executions) {
    if (e.state == rpc::FAILED && !e.failure.empty()) {
      all.push_back({{"exception", e.failure},
                     {"task", absl::StrCat(e.vertex.value(), " (", e.subtask.value() + 1, ")")},
                     {"location", absl::StrCat(e.tm.value(), " (", e.tm_host, ")")},
                     {"timestamp", e.end_ms}});
    }
  }
  out["all-exceptions"] = all;
  return out;
}

absl::StatusOr<nlohmann::json> Dispatcher::WatermarksJson(const std::string& job_id,
                                                          const std::string& vertex_id) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(JobId(job_id));
    if (it != jobs_.end()) return WatermarksJsonLocked(*it->second, vertex_id);
  }
  auto archived = archive_.Find(job_id, WatermarksPath(job_id, vertex_id));
  if (absl::IsNotFound(archived.status()) && archive_.Find(job_id, JobPath(job_id)).ok()) {
    return absl::NotFoundError(absl::StrCat("job ", job_id, " has no vertex ", vertex_id));
  }
  return archived;
}

absl::StatusOr<nlohmann::json> Dispatcher::WatermarksJsonLocked(
    const Job& job, const std::string& vertex_id) const {
  auto out = nlohmann::json::array();
  bool found = false;
  for (const auto& e : job.executions) {
    if (e.vertex.value() != vertex_id) continue;
    found = true;
    out.push_back({{"id", absl::StrCat(e.subtask.value(), ".currentInputWatermark")},
                   {"value", std::to_string(e.watermark)}});
  }
  if (!found) {
    return absl::NotFoundError(absl::StrCat("job ", job.id.value(), " has no vertex ", vertex_id));
  }
  return out;
}

absl::StatusOr<nlohmann::json> Dispatcher::LatencyJson(const std::string& job_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(JobId(job_id));
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job with id ", job_id));
  auto out = nlohmann::json::array();
  for (const auto& e : it->second->executions) {
    for (const rpc::LatencyHistogram& h : e.latency) {
      out.push_back({{"source_id", h.source_operator()},
                     {"source_subtask_index", h.source_subtask()},
                     {"vertex_id", e.vertex.value()},
                     {"operator_subtask_index", e.subtask.value()},
                     {"count", h.count()},
                     {"min", h.min_ms()},
                     {"max", h.max_ms()},
                     {"mean", h.mean_ms()},
                     {"p50", h.p50_ms()},
                     {"p95", h.p95_ms()},
                     {"p99", h.p99_ms()}});
    }
  }
  return nlohmann::json{{"latency", out}};
}

}  // namespace eddy
