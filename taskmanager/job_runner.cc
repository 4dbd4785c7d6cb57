#include "taskmanager/job_runner.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/sha256.h"

namespace eddy {

JobRunner::JobRunner(net::NetworkEnvironment* network, std::string cache_dir,
                     const Config& config, ReportFn report)
    : network_(network),
      cache_dir_(std::move(cache_dir)),
      config_(std::make_shared<const Config>(config)),
      report_(std::move(report)) {
  worker_ = std::thread([this] { WorkerLoop(); });
}

JobRunner::~JobRunner() { Stop(); }

void JobRunner::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& [id, job] : jobs_) {
      for (auto& [attempt, tasks] : job.attempts) {
        for (auto& t : tasks) t->Cancel();
      }
    }
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  std::map<std::string, JobTasks> jobs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs.swap(jobs_);
  }
  jobs.clear();  // joins task threads
}

void JobRunner::WorkerLoop() {
  while (true) {
    std::function<void()> work;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

void JobRunner::SetLibraryFetcher(LibraryFetcher fetcher) {
  std::lock_guard<std::mutex> lock(mu_);
  fetch_library_ = std::move(fetcher);
}

void JobRunner::Submit(rpc::SubmitTasksRequest request) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back([this, request = std::move(request)] { Deploy(request); });
  }
  cv_.notify_all();
}

void JobRunner::SetCheckpointReporters(
    std::function<void(const rpc::AcknowledgeCheckpointRequest&)> acknowledge,
    std::function<void(const rpc::DeclineCheckpointRequest&)> decline) {
  std::lock_guard<std::mutex> lock(mu_);
  acknowledge_ = std::move(acknowledge);
  decline_ = std::move(decline);
}

absl::Status JobRunner::TriggerCheckpoint(const rpc::TriggerCheckpointRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  auto job = jobs_.find(request.job_id());
  if (job != jobs_.end()) {
    auto tasks = job->second.attempts.find(request.attempt());
    if (tasks != job->second.attempts.end() && !tasks->second.empty()) {
      for (auto& t : tasks->second) t->TriggerCheckpoint(request.options());
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError(absl::StrCat("no task of job ", request.job_id(), " attempt ",
                                          request.attempt(), " runs here"));
}

void JobRunner::NotifyCheckpoint(const rpc::NotifyCheckpointRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  auto job = jobs_.find(request.job_id());
  if (job == jobs_.end()) return;
  auto tasks = job->second.attempts.find(request.attempt());
  if (tasks == job->second.attempts.end()) return;
  for (auto& t : tasks->second) t->NotifyCheckpoint(request.checkpoint_id(), request.completed(), request.final());
}

void JobRunner::Drain(const std::string& job_id, int attempt) {
  std::lock_guard<std::mutex> lock(mu_);
  auto job = jobs_.find(job_id);
  if (job == jobs_.end()) return;
  auto tasks = job->second.attempts.find(attempt);
  if (tasks == job->second.attempts.end()) return;
  for (auto& t : tasks->second) t->Drain();
}

void JobRunner::Cancel(const std::string& job_id, int attempt) {
  std::lock_guard<std::mutex> lock(mu_);
  // A cancel may overtake the deployment it cancels (that one is still queued): remember
  // up to which attempt the job is cancelled.
  JobTasks& job = jobs_[job_id];
  job.cancelled_through = std::max(job.cancelled_through, attempt);
  for (auto& [a, tasks] : job.attempts) {
    if (a > attempt) break;
    for (auto& t : tasks) t->Cancel();
  }
}

void JobRunner::Release(const std::string& job_id, int attempt) {
  std::vector<std::unique_ptr<Task>> tasks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    JobTasks& job = jobs_[job_id];
    job.cancelled_through = std::max(job.cancelled_through, attempt);
    for (auto it = job.attempts.begin(); it != job.attempts.end() && it->first <= attempt;) {
      for (auto& t : it->second) tasks.push_back(std::move(t));
      it = job.attempts.erase(it);
    }
  }
  for (auto& t : tasks) t->Cancel();
  network_->ReleaseJob(job_id);
  // Joining may take a moment: do it on the worker thread, not the caller's.
  auto holder = std::make_shared<std::vector<std::unique_ptr<Task>>>(std::move(tasks));
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back([holder, job_id, attempt] {
    size_t n = holder->size();
    holder->clear();  // joins the task threads
    if (n > 0) {
      EDDY_LOG(INFO) << "job " << job_id << ": " << n << " tasks of attempts <= " << attempt
                     << " stopped and released";
    }
  });
  cv_.notify_all();
}

std::vector<rpc::TaskReport> JobRunner::Reports() const {
  std::vector<rpc::TaskReport> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, job] : jobs_) {
    for (const auto& [attempt, tasks] : job.attempts) {
      for (const auto& t : tasks) out.push_back(t->Report());
    }
  }
  return out;
}

void JobRunner::ReportAll(const rpc::SubmitTasksRequest& request, const std::string& state,
                          const std::string& failure) {
  for (const auto& d : request.tasks()) {
    rpc::TaskReport report;
    report.set_job_id(request.job_id());
    report.set_vertex_id(d.vertex_id());
    report.set_subtask(d.subtask());
    report.set_attempt(d.attempt());
    report.set_current_input_watermark(INT64_MIN);
    rpc::ExecutionState s = rpc::EXECUTION_STATE_UNSPECIFIED;
    rpc::ExecutionState_Parse(state, &s);
    report.set_state(s);
    report.set_failure(failure);
    report_(report);
  }
}

void JobRunner::FailAll(const rpc::SubmitTasksRequest& request, const std::string& failure) {
  EDDY_LOG(WARN) << "cannot deploy tasks of job " << request.job_id() << ": " << failure;
  ReportAll(request, "FAILED", failure);
}

absl::StatusOr<std::shared_ptr<JobLibrary>> JobRunner::FetchLibrary(const std::string& sha256) {
  // The hash names the cached file: only 64 hex digits may do that.
  if (!IsSha256Hex(sha256)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the job library's SHA-256 '", absl::CHexEscape(sha256.substr(0, 80)),
                     "' is not 64 lower-case hex digits"));
  }
  auto it = libraries_.find(sha256);
  if (it != libraries_.end()) return it->second;
  LibraryFetcher fetch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fetch = fetch_library_;
  }
  if (!fetch) {
    return absl::FailedPreconditionError(
        "not registered with a JobManager: no source for job libraries");
  }
  std::filesystem::create_directories(cache_dir_);
  const std::string path = absl::StrCat(cache_dir_, "/job-", sha256, ".so");
  const std::string tmp = path + ".part";
  absl::Status fetched = fetch(sha256, tmp);
  if (fetched.ok()) {
    auto actual = Sha256OfFile(tmp);
    if (!actual.ok()) {
      fetched = actual.status();
    } else if (*actual != sha256) {
      fetched = absl::DataLossError(absl::StrCat("the job library fetched from the JobManager has SHA-256 ",
                                                 *actual, ", expected ", sha256));
    }
  }
  if (!fetched.ok()) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    return fetched;
  }
  std::filesystem::rename(tmp, path);
  auto lib = JobLibrary::Open(path);
  if (!lib.ok()) return lib.status();
  libraries_[sha256] = *lib;
  return *lib;
}

bool JobRunner::CancelledLocked(const rpc::SubmitTasksRequest& request) {
  const int attempt = request.tasks_size() > 0 ? request.tasks(0).attempt() : 0;
  auto it = jobs_.find(request.job_id());
  return it != jobs_.end() && it->second.cancelled_through >= attempt;
}

void JobRunner::Deploy(const rpc::SubmitTasksRequest& request) {
  bool overtaken = false;
  {
    // A cancel that overtook this deployment: do not even fetch the library.
    std::lock_guard<std::mutex> lock(mu_);
    overtaken = CancelledLocked(request);
  }
  if (overtaken) return ReportAll(request, "CANCELED", "");
  auto graph = std::make_shared<job::JobGraph>();
  if (!graph->ParseFromString(request.job_graph())) {
    return FailAll(request, "cannot decode the job graph");
  }
  network_->SetJobCredential(request.job_id(), request.data_credential());
  auto lib = FetchLibrary(request.library_sha256());
  if (!lib.ok()) return FailAll(request, std::string(lib.status().message()));
  std::vector<std::string> args(graph->args().begin(), graph->args().end());
  auto plan = (*lib)->Build(args, graph->default_parallelism(), graph->max_parallelism());
  if (!plan.ok()) return FailAll(request, std::string(plan.status().message()));
  // The builder must be deterministic: the same operators as the client saw.
  auto rebuilt = (*plan)->ToJobGraph();
  if (!rebuilt.ok()) return FailAll(request, std::string(rebuilt.status().message()));
  if (rebuilt->operators_size() != graph->operators_size()) {
    return FailAll(request, "the job's builder is not deterministic: it produced a different "
                            "set of operators in the TaskManager than at submission");
  }
  for (int i = 0; i < graph->operators_size(); ++i) {
    if (rebuilt->operators(i).id() != graph->operators(i).id() ||
        rebuilt->operators(i).kind() != graph->operators(i).kind()) {
      return FailAll(request, absl::StrCat("the job's builder is not deterministic: operator ",
                                           graph->operators(i).id(), " differs"));
    }
  }
  auto job_args = JobArgs::Parse(args);
  auto shared_args = std::make_shared<const JobArgs>(job_args.ok() ? *job_args : JobArgs());
  std::shared_ptr<const JobBuilder> shared_plan(std::move(*plan));
  std::vector<Task*> started;
  const int attempt = request.tasks_size() > 0 ? request.tasks(0).attempt() : 0;
  bool cancelled = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    cancelled = CancelledLocked(request);
  }
  if (cancelled) {
    EDDY_LOG(INFO) << "job " << request.job_id() << " attempt " << attempt
                   << " was cancelled before its tasks started";
    return ReportAll(request, "CANCELED", "");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& tasks = jobs_[request.job_id()].attempts[attempt];
    for (const auto& d : request.tasks()) {
      TaskSetup setup;
      setup.job_id = request.job_id();
      setup.data_credential = request.data_credential();
      setup.graph = graph;
      setup.plan = shared_plan;
      setup.args = shared_args;
      setup.deployment = d;
      setup.network = network_;
      setup.config = config_;
      setup.checkpoint_interval_ms = request.checkpoint_interval_ms();
      setup.acknowledge_checkpoint = acknowledge_;
      setup.decline_checkpoint = decline_;
      tasks.push_back(std::make_unique<Task>(std::move(setup), report_));
      started.push_back(tasks.back().get());
    }
  }
  for (Task* t : started) t->Start();
  EDDY_LOG(INFO) << "job " << request.job_id() << " attempt " << attempt << ": started "
                 << started.size() << " tasks";
}

}  // namespace eddy
