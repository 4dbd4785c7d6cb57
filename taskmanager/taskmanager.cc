#include "taskmanager/taskmanager.h"

#include <fstream>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/proto/rpc.pb.h"
#include "common/secrets.h"
#include "common/tls.h"
#include "common/status.h"

namespace eddy {
namespace {
constexpr std::chrono::milliseconds kFirstBackoff{100};
}

TaskManager::TaskManager(Config config)
    : config_(std::move(config)),
      tls_(InternalTlsFromConfig(config_)),
      id_(config_.GetString(opt::kTaskManagerResourceId).empty()
              ? TaskManagerId(RandomHexId(16))
              : TaskManagerId(config_.GetString(opt::kTaskManagerResourceId))),
      rpc_server_(io_, RpcConnectionOptions(config_, tls_),
                  absl::StrCat("taskmanager-", id_.value())),
      client_(io_, RpcConnectionOptions(config_, tls_), absl::StrCat("taskmanager-", id_.value())),
      rpc_credential_(RandomSecret()) {}

TaskManager::~TaskManager() { Stop(); }

absl::Status TaskManager::Start() {
  const std::string host = config_.GetString(opt::kTaskManagerHost);
  if (!tls_.ok()) return tls_.status();
  EDDY_RETURN_IF_ERROR(CheckInsecureBind(
      opt::kTaskManagerHost, host, config_.GetBool(opt::kAllowInsecureCluster) || *tls_ != nullptr));
  net::NetworkOptions options;
  options.tls = *tls_;
  options.num_buffers = static_cast<size_t>(config_.GetInt(opt::kTaskManagerNetworkBuffers));
  network_ = net::NetworkEnvironment::Create(network_io_, options);
  auto data_port = network_->Listen(host, config_.GetPort(opt::kTaskManagerDataPort));
  if (!data_port.ok()) return data_port.status();
  data_port_ = *data_port;
  runner_ = std::make_unique<JobRunner>(
      network_.get(), absl::StrCat(config_.GetString(opt::kTaskManagerTmpDir), "/eddy-tm-", id_.value()),
      config_,
      [this](const rpc::TaskReport& report) { ReportTask(report); });
  // Checkpoint acknowledgements come from the tasks' snapshot threads, which may block.
  runner_->SetCheckpointReporters(
      [this](const rpc::AcknowledgeCheckpointRequest& ack) {
        rpc::AcknowledgeCheckpointRequest request = ack;
        request.set_resource_id(id_.value());
        auto response = client_.Call<rpc::AcknowledgeCheckpointResponse>(
            "AcknowledgeCheckpoint", request, config_.GetDuration(opt::kRpcTimeout));
        if (!response.ok()) {
          EDDY_LOG(WARN) << "cannot acknowledge checkpoint " << request.checkpoint_id()
                         << " of job " << request.job_id() << ": "
                         << response.status().message();
        }
      },
      [this](const rpc::DeclineCheckpointRequest& decline) {
        rpc::DeclineCheckpointRequest request = decline;
        request.set_resource_id(id_.value());
        EDDY_LOG(INFO) << "declining checkpoint " << request.checkpoint_id() << " of job "
                       << request.job_id() << ": " << request.reason();
        auto response = client_.Call<rpc::DeclineCheckpointResponse>(
            "DeclineCheckpoint", request, config_.GetDuration(opt::kRpcTimeout));
        if (!response.ok()) {
          EDDY_LOG(WARN) << "cannot decline checkpoint " << request.checkpoint_id()
                         << " of job " << request.job_id() << ": "
                         << response.status().message();
        }
      });
  // Libraries come from the JobManager this TaskManager registered with, over its control
  // connection (mutual TLS when on), never from an address in a message.
  runner_->SetLibraryFetcher(
      [this](const std::string& sha256, const std::string& path) { return FetchBlob(sha256, path); });
  RegisterRpcMethods();
  rpc_server_.RequireCredential(rpc_credential_);
  auto rpc_port = rpc_server_.Listen(host, config_.GetPort(opt::kTaskManagerRpcPort));
  if (!rpc_port.ok()) return rpc_port.status();
  rpc_port_ = *rpc_port;

  network_work_ = std::make_unique<decltype(network_work_)::element_type>(network_io_.get_executor());
  network_thread_ = std::thread([this] { network_io_.run(); });
  work_ = std::make_unique<decltype(work_)::element_type>(io_.get_executor());
  io_thread_ = std::thread([this] { io_.run(); });
  started_ = true;
  EDDY_LOG(INFO) << "TaskManager " << id_ << " " << EDDY_VERSION << ": "
                 << config_.GetInt(opt::kTaskManagerSlots) << " slots, data port " << host << ":"
                 << data_port_ << ", rpc port " << rpc_port_ << ", "
                 << network_->pool().total() << " network buffers, JobManager at "
                 << config_.GetString(opt::kJobManagerRpcAddress) << ":"
                 << config_.GetPort(opt::kJobManagerRpcPort);
  loop_thread_ = std::thread([this] { RegistrationLoop(); });
  reporter_thread_ = std::thread([this] { ReporterLoop(); });
  return absl::OkStatus();
}

void TaskManager::Stop() {
  if (!started_) return;
  started_ = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  loop_thread_.join();
  runner_->Stop();
  client_.Close();  // fails a report in flight
  reporter_thread_.join();
  rpc_server_.Stop();
  network_->Stop();
  work_.reset();
  io_.stop();
  io_thread_.join();
  network_work_.reset();
  network_io_.stop();
  network_thread_.join();
  EDDY_LOG(INFO) << "TaskManager " << id_ << " stopped";
}

void TaskManager::RegisterRpcMethods() {
  rpc_server_.Register<rpc::SubmitTasksRequest, rpc::SubmitTasksResponse>(
      "SubmitTasks", [this](const rpc::CallContext&, const rpc::SubmitTasksRequest& request)
                         -> absl::StatusOr<rpc::SubmitTasksResponse> {
        EDDY_LOG(INFO) << "deploying " << request.tasks_size() << " tasks of job "
                       << request.job_id();
        runner_->Submit(request);
        return rpc::SubmitTasksResponse();
      });
  rpc_server_.Register<rpc::JobRequest, rpc::JobResponse>(
      "CancelJob",
      [this](const rpc::CallContext&, const rpc::JobRequest& request) -> absl::StatusOr<rpc::JobResponse> {
        EDDY_LOG(INFO) << "cancelling tasks of job " << request.job_id() << " up to attempt "
                       << request.attempt();
        runner_->Cancel(request.job_id(), request.attempt());
        return rpc::JobResponse();
      });
  rpc_server_.Register<rpc::TriggerCheckpointRequest, rpc::TriggerCheckpointResponse>(
      "TriggerCheckpoint",
      [this](const rpc::CallContext&, const rpc::TriggerCheckpointRequest& request)
          -> absl::StatusOr<rpc::TriggerCheckpointResponse> {
        EDDY_RETURN_IF_ERROR(runner_->TriggerCheckpoint(request));
        return rpc::TriggerCheckpointResponse();
      });
  rpc_server_.Register<rpc::NotifyCheckpointRequest, rpc::NotifyCheckpointResponse>(
      "NotifyCheckpoint",
      [this](const rpc::CallContext&, const rpc::NotifyCheckpointRequest& request)
          -> absl::StatusOr<rpc::NotifyCheckpointResponse> {
        runner_->NotifyCheckpoint(request);
        return rpc::NotifyCheckpointResponse();
      });
  rpc_server_.Register<rpc::JobRequest, rpc::JobResponse>(
      "DrainJob",
      [this](const rpc::CallContext&, const rpc::JobRequest& request) -> absl::StatusOr<rpc::JobResponse> {
        EDDY_LOG(INFO) << "draining the sources of job " << request.job_id() << " attempt "
                       << request.attempt() << " (stop with drain)";
        runner_->Drain(request.job_id(), request.attempt());
        return rpc::JobResponse();
      });
  rpc_server_.Register<rpc::JobRequest, rpc::JobResponse>(
      "ReleaseJob",
      [this](const rpc::CallContext&, const rpc::JobRequest& request) -> absl::StatusOr<rpc::JobResponse> {
        runner_->Release(request.job_id(), request.attempt());
        return rpc::JobResponse();
      });
}

void TaskManager::ReportTask(const rpc::TaskReport& report) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    reports_.push_back(report);
  }
  cv_.notify_all();
}

void TaskManager::ReporterLoop() {
  while (true) {
    rpc::TaskReport report;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !reports_.empty(); });
      if (stopping_) return;
      report = std::move(reports_.front());
      reports_.pop_front();
    }
    if (!registered_) continue;  // the next heartbeat after registering carries it
    rpc::UpdateTaskStateRequest request;
    request.set_resource_id(id_.value());
    *request.mutable_task() = report;
    auto response = client_.Call<rpc::UpdateTaskStateResponse>(
        "UpdateTaskState", request, config_.GetDuration(opt::kRpcTimeout));
    if (!response.ok()) {
      EDDY_LOG(WARN) << "cannot report task state " << rpc::ExecutionState_Name(report.state())
                     << " of job " << report.job_id() << ": " << response.status().message()
                     << " (the next heartbeat carries it)";
    }
  }
}

bool TaskManager::WaitFor(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_; });
  return !stopping_;
}

absl::Status TaskManager::RegisterOnce() {
  const auto timeout = config_.GetDuration(opt::kRpcTimeout);
  if (!client_.connected()) {
    EDDY_RETURN_IF_ERROR(client_.Connect(config_.GetString(opt::kJobManagerRpcAddress),
                                         config_.GetPort(opt::kJobManagerRpcPort), timeout));
  }
  rpc::RegisterTaskManagerRequest request;
  request.set_resource_id(id_.value());
  request.set_host(config_.GetString(opt::kTaskManagerHost));
  request.set_data_port(data_port_);
  request.set_rpc_port(rpc_port_);
  request.set_num_slots(static_cast<uint32_t>(config_.GetInt(opt::kTaskManagerSlots)));
  request.set_eddy_version(EDDY_VERSION);
  request.set_rpc_credential(rpc_credential_);
  EDDY_ASSIGN_OR_RETURN(auto response, client_.Call<rpc::RegisterTaskManagerResponse>(
                                           "RegisterTaskManager", request, timeout));
  jobmanager_session_ = response.jobmanager_session();
  return absl::OkStatus();
}

absl::Status TaskManager::FetchBlob(const std::string& sha256, const std::string& path) {
  constexpr uint32_t kPiece = 1 << 20;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  uint64_t offset = 0;
  while (true) {
    rpc::FetchBlobRequest request;
    request.set_sha256(sha256);
    request.set_offset(offset);
    request.set_max_bytes(kPiece);
    auto piece = client_.Call<rpc::FetchBlobResponse>("FetchBlob", request,
                                                     config_.GetDuration(opt::kRpcTimeout));
    if (!piece.ok()) {
      return absl::Status(piece.status().code(),
                          absl::StrCat("fetching job library ", sha256, " from the JobManager at byte ",
                                       offset, ": ", piece.status().message()));
    }
    out.write(piece->data().data(), static_cast<std::streamsize>(piece->data().size()));
    offset += piece->data().size();
    if (offset >= piece->size()) break;
    if (piece->data().empty()) {
      return absl::DataLossError(absl::StrCat("job library ", sha256, " ended at byte ", offset,
                                              " of ", piece->size()));
    }
  }
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status TaskManager::HeartbeatOnce() {
  rpc::HeartbeatRequest request;
  request.set_resource_id(id_.value());
  auto* report = request.mutable_report();
  for (auto& task : runner_->Reports()) *report->add_tasks() = std::move(task);
  const auto& stats = network_->stats();
  report->set_bytes_sent_remote(stats.bytes_sent_remote.load());
  report->set_bytes_received_remote(stats.bytes_received_remote.load());
  report->set_network_buffers_available(static_cast<uint32_t>(network_->pool().available()));
  report->set_network_buffers_total(static_cast<uint32_t>(network_->pool().total()));
  // A late answer is still an answer: only a heartbeat unanswered for the whole timeout
  // means the JobManager is gone.
  auto timeout = config_.GetDuration(opt::kHeartbeatTimeout);
  EDDY_ASSIGN_OR_RETURN(auto response,
                        client_.Call<rpc::HeartbeatResponse>("Heartbeat", request, timeout));
  // The JobManager does not know these jobs (it restarted, or forgot them): orphans.
  for (const auto& job_id : response.release_jobs()) {
    EDDY_LOG(WARN) << "the JobManager does not know job " << job_id
                   << ": cancelling and releasing its tasks";
    runner_->Release(job_id, std::numeric_limits<int>::max());
  }
  if (!response.known()) {
    return absl::NotFoundError(absl::StrCat("JobManager (session ", response.jobmanager_session(),
                                            ") does not know this TaskManager"));
  }
  return absl::OkStatus();
}

void TaskManager::RegistrationLoop() {
  const auto interval = config_.GetDuration(opt::kHeartbeatInterval);
  const auto max_backoff = config_.GetDuration(opt::kTaskManagerRegistrationBackoff);
  auto backoff = kFirstBackoff;
  int failures = 0;
  while (true) {
    if (!registered_) {
      absl::Status status = RegisterOnce();
      if (status.ok()) {
        registered_ = true;
        failures = 0;
        backoff = kFirstBackoff;
        EDDY_LOG(INFO) << "registered with JobManager " << client_.peer() << " (session "
                       << jobmanager_session_ << ") offering "
                       << config_.GetInt(opt::kTaskManagerSlots) << " slots";
        continue;
      }
      // Log the first failure and then every tenth, so a down JobManager does not flood logs.
      if (failures++ % 10 == 0) {
        EDDY_LOG(WARN) << "cannot register with JobManager: " << status.message()
                       << "; retrying (attempt " << failures << ")";
      }
      if (!WaitFor(backoff)) return;
      backoff = std::min(backoff * 2, max_backoff);
      continue;
    }
    if (!WaitFor(interval)) return;
    absl::Status status = HeartbeatOnce();
    if (!status.ok()) {
      registered_ = false;
      EDDY_LOG(WARN) << "heartbeat failed: " << status.message() << "; registering again";
      if (status.code() != absl::StatusCode::kNotFound) client_.Close();
    }
  }
}

}  // namespace eddy
