#include "jobmanager/jobmanager.h"

#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/ascii.h"
#include "common/logging.h"
#include "common/secrets.h"
#include "common/status.h"
#include "common/tls.h"

namespace eddy {
namespace {
constexpr int kIoThreads = 2;
constexpr int kRestThreads = 2;
// Largest piece of a job library one FetchBlob answer carries.
constexpr size_t kMaxBlobPiece = 1 << 20;

/// "a; b;;c" -> {"a", "b", "c"}.
std::vector<std::string> SplitList(const std::string& value) {
  std::vector<std::string> out;
  for (absl::string_view item : absl::StrSplit(value, ';', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(item));
  }
  return out;
}

int64_t MillisSince(TaskManagerInfo::Clock::time_point then) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(TaskManagerInfo::Clock::now() -
                                                               then)
      .count();
}
}  // namespace

JobManager::JobManager(Config config)
    : config_(std::move(config)),
      tls_(InternalTlsFromConfig(config_)),
      session_(RandomHexId(8)),
      registry_(config_.GetDuration(opt::kHeartbeatTimeout)),
      rpc_server_(io_, RpcConnectionOptions(config_, tls_), "jobmanager"),
      rest_server_(rest_io_, static_cast<size_t>(config_.GetMemorySize(opt::kRestMaxContentLength))),
      blobs_(config_.GetString(opt::kJobManagerBlobDir)),
      expiry_timer_(io_) {}

JobManager::~JobManager() { Stop(); }

absl::Status JobManager::Start() {
  RestAccessPolicy::Options access;
  access.tokens_file = config_.GetString(opt::kRestAuthTokensFile);
  access.open_paths = SplitList(config_.GetString(opt::kRestAuthOpenPaths));
  access.allowed_origins = SplitList(config_.GetString(opt::kWebAllowOrigin));
  auto policy = RestAccessPolicy::Load(std::move(access));
  if (!policy.ok()) return policy.status();
  if (!policy->authentication_enabled()) {
    EDDY_LOG(INFO) << "REST authentication is off (" << opt::kRestAuthTokensFile
                   << " is not set): anyone who can reach the REST port may submit jobs";
  }
  if (!tls_.ok()) return tls_.status();
  const bool insecure = config_.GetBool(opt::kAllowInsecureCluster);
  EDDY_RETURN_IF_ERROR(CheckInsecureBind(opt::kJobManagerRpcAddress,
                                         config_.GetString(opt::kJobManagerRpcAddress),
                                         insecure || *tls_ != nullptr));
  if (!policy->authentication_enabled()) {
    EDDY_RETURN_IF_ERROR(
        CheckInsecureBind(opt::kRestAddress, config_.GetString(opt::kRestAddress), insecure));
  }
  auto rest_tls = RestTlsFromConfig(config_);
  if (!rest_tls.ok()) return rest_tls.status();
  if (*rest_tls == nullptr && policy->authentication_enabled() &&
      !IsLoopbackAddress(config_.GetString(opt::kRestAddress))) {
    EDDY_LOG(WARN) << "REST tokens travel in clear text: " << opt::kRestAddress << " is "
                   << config_.GetString(opt::kRestAddress) << " and " << opt::kSslRestEnabled
                   << " is false";
  }
  rest_server_.SetTls(*rest_tls);
  rest_scheme_ = *rest_tls ? "https" : "http";
  rest_server_.SetAccessPolicy(std::move(*policy));
  rest_server_.SetMaxConnections(static_cast<size_t>(config_.GetInt(opt::kRestMaxConnections)));
  rest_server_.SetIdleTimeout(config_.GetDuration(opt::kRestIdlenessTimeout));
  EDDY_RETURN_IF_ERROR(
      rest_server_.SetSpoolDirectory(config_.GetString(opt::kJobManagerBlobDir) + "/incoming"));
  auto libraries = blobs_.Load();
  if (!libraries.ok()) return libraries.status();
  if (*libraries > 0) {
    EDDY_LOG(INFO) << *libraries << " job libraries uploaded before are in "
                   << config_.GetString(opt::kJobManagerBlobDir);
  }
  RegisterRpcMethods();
  RegisterRestRoutes();
  auto rpc_port = rpc_server_.Listen(config_.GetString(opt::kJobManagerRpcAddress),
                                     config_.GetPort(opt::kJobManagerRpcPort));
  if (!rpc_port.ok()) return rpc_port.status();
  rpc_port_ = *rpc_port;
  auto rest_port =
      rest_server_.Listen(config_.GetString(opt::kRestAddress), config_.GetPort(opt::kRestPort));
  if (!rest_port.ok()) {
    rpc_server_.Stop();
    return rest_port.status();
  }
  rest_port_ = *rest_port;
  Dispatcher::Options options;
  options.slot_request_timeout = config_.GetDuration(opt::kSlotRequestTimeout);
  options.rpc_timeout = config_.GetDuration(opt::kRpcTimeout);
  options.connection = RpcConnectionOptions(config_, tls_);
  options.config = config_;
  dispatcher_ = std::make_unique<Dispatcher>(io_, registry_, options);
  dispatcher_->Start();
  work_ = std::make_unique<decltype(work_)::element_type>(io_.get_executor());
  ScheduleExpiryCheck();
  rest_work_ = std::make_unique<decltype(rest_work_)::element_type>(rest_io_.get_executor());
  for (int i = 0; i < kIoThreads; ++i) threads_.emplace_back([this] { io_.run(); });
  for (int i = 0; i < kRestThreads; ++i) threads_.emplace_back([this] { rest_io_.run(); });
  started_ = true;
  EDDY_LOG(INFO) << "JobManager " << EDDY_VERSION << " session " << session_
                 << ": rpc on " << config_.GetString(opt::kJobManagerRpcAddress) << ":" << rpc_port_
                 << ", REST on " << rest_scheme_ << "://" << config_.GetString(opt::kRestAddress) << ":"
                 << rest_port_ << ", heartbeat timeout "
                 << FormatDuration(registry_.heartbeat_timeout());
  return absl::OkStatus();
}

void JobManager::Stop() {
  if (!started_) return;
  started_ = false;
  stopping_ = true;
  rpc_server_.Stop();
  rest_server_.Stop();
  if (dispatcher_) dispatcher_->Stop();
  boost::asio::post(io_, [this] { expiry_timer_.cancel(); });
  work_.reset();
  rest_work_.reset();
  io_.stop();
  rest_io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  EDDY_LOG(INFO) << "JobManager stopped";
}

void JobManager::RegisterRpcMethods() {
  // A TaskManager whose control connection closes is lost at once; heartbeats are the
  // backstop for one that hangs with its connection open.
  rpc_server_.OnConnectionClosed([this](uint64_t connection_id) {
    if (stopping_) return;
    auto lost = registry_.RemoveByConnection(connection_id);
    if (!lost) return;
    EDDY_LOG(WARN) << "TaskManager " << lost->id << " at " << lost->host
                   << " lost: its control connection closed; removed its " << lost->slots_total
                   << " slots; cluster now has " << registry_.size() << " TaskManagers, "
                   << registry_.total_slots() << " slots";
    if (dispatcher_) {
      dispatcher_->OnTaskManagerLost(lost->id, lost->host, "its control connection closed");
    }
  });
  rpc_server_.Register<rpc::RegisterTaskManagerRequest, rpc::RegisterTaskManagerResponse>(
      "RegisterTaskManager",
      [this](const rpc::CallContext& ctx, const rpc::RegisterTaskManagerRequest& req)
          -> absl::StatusOr<rpc::RegisterTaskManagerResponse> {
        if (absl::Status valid = ValidateRegistration(req); !valid.ok()) {
          EDDY_LOG(WARN) << "refused a TaskManager registration from " << ctx.peer << ": "
                         << valid.message();
          return valid;
        }
        TaskManagerInfo info;
        info.id = TaskManagerId(req.resource_id());
        info.host = req.host();
        info.data_port = static_cast<uint16_t>(req.data_port());
        info.slots_total = static_cast<int>(req.num_slots());
        info.rpc_peer = ctx.peer;
        info.rpc_port = static_cast<uint16_t>(req.rpc_port());
        info.rpc_connection_id = ctx.connection_id;
        info.rpc_credential = req.rpc_credential();
        auto registered = registry_.Register(info, TaskManagerRegistry::Clock::now());
        if (!registered.ok()) {
          EDDY_LOG(WARN) << "refused a TaskManager registration: " << registered.status().message();
          return registered.status();
        }
        const bool fresh = *registered;
        EDDY_LOG(INFO) << (fresh ? "registered" : "re-registered") << " TaskManager "
                       << req.resource_id() << " at " << req.host() << " (data port "
                       << req.data_port() << ", " << req.num_slots() << " slots, rpc from "
                       << ctx.peer << "); cluster now has " << registry_.size()
                       << " TaskManagers, " << registry_.total_slots() << " slots";
        rpc::RegisterTaskManagerResponse resp;
        resp.set_jobmanager_session(session_);
        resp.set_heartbeat_interval_ms(config_.GetDuration(opt::kHeartbeatInterval).count());
        return resp;
      });
  rpc_server_.Register<rpc::HeartbeatRequest, rpc::HeartbeatResponse>(
      "Heartbeat",
      [this](const rpc::CallContext& ctx,
             const rpc::HeartbeatRequest& req) -> absl::StatusOr<rpc::HeartbeatResponse> {
        rpc::HeartbeatResponse resp;
        TaskManagerId id(req.resource_id());
        if (registry_.Find(id).has_value()) {
          EDDY_RETURN_IF_ERROR(CheckCaller(ctx, req.resource_id(), "Heartbeat"));
        }
        resp.set_known(registry_.Heartbeat(id, TaskManagerRegistry::Clock::now()));
        resp.set_jobmanager_session(session_);
        if (resp.known()) {
          const auto& report = req.report();
          registry_.SetNetworkMetrics(id, report.bytes_sent_remote(), report.bytes_received_remote(),
                                      report.network_buffers_available(),
                                      report.network_buffers_total());
          std::set<std::string> unknown;
          for (const auto& task : report.tasks()) {
            if (dispatcher_->OnTaskReport(id, task) == Dispatcher::ReportOutcome::kUnknownJob) {
              unknown.insert(task.job_id());
            }
          }
          // Tasks of jobs this JobManager does not know (it restarted, or the job expired):
          // orphans the TaskManager must cancel and release.
          for (const auto& job_id : unknown) {
            EDDY_LOG(WARN) << "TaskManager " << id << " runs tasks of unknown job " << job_id
                           << ": telling it to cancel and release them";
            resp.add_release_jobs(job_id);
          }
        }
        return resp;
      });
  rpc_server_.Register<rpc::FetchBlobRequest, rpc::FetchBlobResponse>(
      "FetchBlob",
      [this](const rpc::CallContext& ctx,
             const rpc::FetchBlobRequest& req) -> absl::StatusOr<rpc::FetchBlobResponse> {
        if (!registry_.IsRegisteredConnection(ctx.connection_id)) {
          EDDY_LOG(WARN) << "FetchBlob from " << ctx.peer
                         << " refused: no TaskManager registered on that connection";
          return absl::PermissionDeniedError(
              "job libraries are served to this JobManager's registered TaskManagers only");
        }
        rpc::FetchBlobResponse resp;
        // Pieces stay well inside a frame whatever rpc.max-frame-size says.
        const size_t max_bytes = std::min<size_t>(
            {req.max_bytes(), kMaxBlobPiece,
             static_cast<size_t>(config_.GetMemorySize(opt::kRpcMaxFrameSize)) / 2});
        auto size = blobs_.ReadRange(req.sha256(), req.offset(), max_bytes, resp.mutable_data());
        if (!size.ok()) return size.status();
        resp.set_size(*size);
        return resp;
      });
  rpc_server_.Register<rpc::UpdateTaskStateRequest, rpc::UpdateTaskStateResponse>(
      "UpdateTaskState",
      [this](const rpc::CallContext& ctx, const rpc::UpdateTaskStateRequest& req)
          -> absl::StatusOr<rpc::UpdateTaskStateResponse> {
        EDDY_RETURN_IF_ERROR(CheckCaller(ctx, req.resource_id(), "UpdateTaskState"));
        dispatcher_->OnTaskReport(TaskManagerId(req.resource_id()), req.task());
        return rpc::UpdateTaskStateResponse();
      });
  rpc_server_.Register<rpc::AcknowledgeCheckpointRequest, rpc::AcknowledgeCheckpointResponse>(
      "AcknowledgeCheckpoint",
      [this](const rpc::CallContext& ctx, const rpc::AcknowledgeCheckpointRequest& req)
          -> absl::StatusOr<rpc::AcknowledgeCheckpointResponse> {
        EDDY_RETURN_IF_ERROR(CheckCaller(ctx, req.resource_id(), "AcknowledgeCheckpoint"));
        dispatcher_->OnCheckpointAck(TaskManagerId(req.resource_id()), req);
        return rpc::AcknowledgeCheckpointResponse();
      });
  rpc_server_.Register<rpc::DeclineCheckpointRequest, rpc::DeclineCheckpointResponse>(
      "DeclineCheckpoint",
      [this](const rpc::CallContext& ctx, const rpc::DeclineCheckpointRequest& req)
          -> absl::StatusOr<rpc::DeclineCheckpointResponse> {
        EDDY_RETURN_IF_ERROR(CheckCaller(ctx, req.resource_id(), "DeclineCheckpoint"));
        dispatcher_->OnCheckpointDecline(TaskManagerId(req.resource_id()), req);
        return rpc::DeclineCheckpointResponse();
      });
}

absl::Status JobManager::CheckCaller(const rpc::CallContext& ctx, const std::string& resource_id,
                                     const char* method) const {
  if (registry_.IsConnectionOf(TaskManagerId(resource_id), ctx.connection_id)) {
    return absl::OkStatus();
  }
  std::string message =
      absl::StrCat(method, " for TaskManager '", absl::CHexEscape(resource_id), "' from ", ctx.peer,
                   " refused: that TaskManager did not register on this connection");
  EDDY_LOG(WARN) << message;
  return absl::PermissionDeniedError(message);
}

void JobManager::ScheduleExpiryCheck() {
  // Check several times per timeout so a lost TaskManager is noticed promptly.
  auto period = std::clamp(registry_.heartbeat_timeout() / 4, std::chrono::milliseconds(50),
                           std::chrono::milliseconds(1000));
  expiry_timer_.expires_after(period);
  expiry_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    for (const auto& lost : registry_.ExpireLost(TaskManagerRegistry::Clock::now())) {
      EDDY_LOG(WARN) << "TaskManager " << lost.id << " at " << lost.host << " lost: no heartbeat for "
                     << MillisSince(lost.last_heartbeat) << "ms (heartbeat.timeout "
                     << FormatDuration(registry_.heartbeat_timeout()) << "); removed its "
                     << lost.slots_total << " slots; cluster now has " << registry_.size()
                     << " TaskManagers, " << registry_.total_slots() << " slots";
      if (dispatcher_) {
        dispatcher_->OnTaskManagerLost(
            lost.id, lost.host,
            absl::StrCat("no heartbeat for ", MillisSince(lost.last_heartbeat),
                         "ms (heartbeat.timeout ", FormatDuration(registry_.heartbeat_timeout()), ")"));
      }
    }
    ScheduleExpiryCheck();
  });
}

nlohmann::json JobManager::OverviewJson() const {
  Dispatcher::Counts jobs = dispatcher_ ? dispatcher_->counts() : Dispatcher::Counts{};
  return nlohmann::json{
      {"taskmanagers", registry_.size()},
      {"slots-total", registry_.total_slots()},
      {"slots-available", registry_.free_slots()},
      {"jobs-running", jobs.running},
      {"jobs-finished", jobs.finished},
      {"jobs-cancelled", jobs.cancelled},
      {"jobs-failed", jobs.failed},
      {"eddy-version", EDDY_VERSION},
      {"session", session_},
  };
}

nlohmann::json JobManager::TaskManagersJson() const {
  auto list = nlohmann::json::array();
  for (const auto& tm : registry_.List()) {
    list.push_back({
        {"id", tm.id.value()},
        {"address", tm.host},
        {"dataPort", tm.data_port},
        {"slotsNumber", tm.slots_total},
        {"freeSlots", tm.slots_free},
        {"timeSinceLastHeartbeat", MillisSince(tm.last_heartbeat)},
        {"registeredFor", MillisSince(tm.registered_at)},
        {"rpcPeer", tm.rpc_peer},
        {"metrics",
         {{"netBytesSentRemote", tm.bytes_sent_remote},
          {"netBytesReceivedRemote", tm.bytes_received_remote},
          {"networkBuffersAvailable", tm.network_buffers_available},
          {"networkBuffersTotal", tm.network_buffers_total}}},
    });
  }
  return nlohmann::json{{"taskmanagers", list}};
}

void JobManager::RegisterRestRoutes() {
  rest_server_.Route("GET", "/overview",
                     [this](const RestRequest&) { return RestResponse::Json(OverviewJson()); });
  rest_server_.Route("GET", "/taskmanagers",
                     [this](const RestRequest&) { return RestResponse::Json(TaskManagersJson()); });
  rest_server_.Route("GET", "/healthz", [](const RestRequest&) {
    return RestResponse::Json(nlohmann::json{{"status", "ok"}});
  });
  rest_server_.Route("GET", "/jobmanager/config", [this](const RestRequest&) {
    auto list = nlohmann::json::array();
    for (const auto& [key, value] : config_.values()) {
      // Flink's habit: values of keys that name secrets are never shown.
      list.push_back({{"key", key}, {"value", IsSecretKey(key) ? "******" : value}});
    }
    return RestResponse::Json(list);
  });
  rest_server_.Route("GET", "/metrics", [this](const RestRequest&) {
    RestResponse response;
    response.body = PrometheusMetrics();
    response.content_type = "text/plain; version=0.0.4";
    return response;
  });
  RegisterJobRoutes();
}

std::string JobManager::PrometheusMetrics() const {
  std::string out;
  Dispatcher::Counts jobs = dispatcher_ ? dispatcher_->counts() : Dispatcher::Counts{};
  absl::StrAppend(&out, "# TYPE eddy_taskmanagers gauge\neddy_taskmanagers ", registry_.size(), "\n");
  absl::StrAppend(&out, "# TYPE eddy_slots_total gauge\neddy_slots_total ", registry_.total_slots(), "\n");
  absl::StrAppend(&out, "# TYPE eddy_slots_available gauge\neddy_slots_available ",
                  registry_.free_slots(), "\n");
  absl::StrAppend(&out, "# TYPE eddy_jobs gauge\n");
  absl::StrAppend(&out, "eddy_jobs{state=\"running\"} ", jobs.running, "\n");
  absl::StrAppend(&out, "eddy_jobs{state=\"finished\"} ", jobs.finished, "\n");
  absl::StrAppend(&out, "eddy_jobs{state=\"cancelled\"} ", jobs.cancelled, "\n");
  absl::StrAppend(&out, "eddy_jobs{state=\"failed\"} ", jobs.failed, "\n");
  absl::StrAppend(&out, "# TYPE eddy_taskmanager_net_bytes_sent_remote counter\n");
  for (const auto& tm : registry_.List()) {
    absl::StrAppend(&out, "eddy_taskmanager_net_bytes_sent_remote{taskmanager=\"", tm.id.value(),
                    "\"} ", tm.bytes_sent_remote, "\n");
  }
  absl::StrAppend(&out, "# TYPE eddy_taskmanager_net_bytes_received_remote counter\n");
  for (const auto& tm : registry_.List()) {
    absl::StrAppend(&out, "eddy_taskmanager_net_bytes_received_remote{taskmanager=\"",
                    tm.id.value(), "\"} ", tm.bytes_received_remote, "\n");
  }
  return out;
}

}  // namespace eddy
