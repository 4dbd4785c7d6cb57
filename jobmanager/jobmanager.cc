#include "jobmanager/jobmanager.h"

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace eddy {
namespace {
constexpr int kIoThreads = 2;

int64_t MillisSince(TaskManagerInfo::Clock::time_point then) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(TaskManagerInfo::Clock::now() -
                                                               then)
      .count();
}
}  // namespace

JobManager::JobManager(Config config)
    : config_(std::move(config)),
      session_(RandomHexId(8)),
      registry_(config_.GetDuration(opt::kHeartbeatTimeout)),
      rpc_server_(io_,
                  rpc::ConnectionOptions{
                      .max_frame_bytes = static_cast<size_t>(config_.GetMemorySize(opt::kRpcMaxFrameSize)),
                      .frame_timeout = config_.GetDuration(opt::kRpcTimeout)},
                  "jobmanager"),
      rest_server_(io_),
      expiry_timer_(io_) {}

JobManager::~JobManager() { Stop(); }

absl::Status JobManager::Start() {
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
  work_ = std::make_unique<decltype(work_)::element_type>(io_.get_executor());
  ScheduleExpiryCheck();
  for (int i = 0; i < kIoThreads; ++i) threads_.emplace_back([this] { io_.run(); });
  started_ = true;
  EDDY_LOG(INFO) << "JobManager " << EDDY_VERSION << " session " << session_
                 << ": rpc on " << config_.GetString(opt::kJobManagerRpcAddress) << ":" << rpc_port_
                 << ", REST on http://" << config_.GetString(opt::kRestAddress) << ":"
                 << rest_port_ << ", heartbeat timeout "
                 << FormatDuration(registry_.heartbeat_timeout());
  return absl::OkStatus();
}

void JobManager::Stop() {
  if (!started_) return;
  started_ = false;
  rpc_server_.Stop();
  rest_server_.Stop();
  boost::asio::post(io_, [this] { expiry_timer_.cancel(); });
  work_.reset();
  io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  EDDY_LOG(INFO) << "JobManager stopped";
}

void JobManager::RegisterRpcMethods() {
  rpc_server_.Register<rpc::RegisterTaskManagerRequest, rpc::RegisterTaskManagerResponse>(
      "RegisterTaskManager",
      [this](const rpc::CallContext& ctx, const rpc::RegisterTaskManagerRequest& req)
          -> absl::StatusOr<rpc::RegisterTaskManagerResponse> {
        if (req.resource_id().empty()) {
          return absl::InvalidArgumentError("RegisterTaskManager: empty resource_id");
        }
        if (req.num_slots() == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("TaskManager ", req.resource_id(), " offers no slots"));
        }
        TaskManagerInfo info;
        info.id = TaskManagerId(req.resource_id());
        info.host = req.host();
        info.data_port = static_cast<uint16_t>(req.data_port());
        info.slots_total = static_cast<int>(req.num_slots());
        info.rpc_peer = ctx.peer;
        bool fresh = registry_.Register(info, TaskManagerRegistry::Clock::now());
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
      [this](const rpc::CallContext&,
             const rpc::HeartbeatRequest& req) -> absl::StatusOr<rpc::HeartbeatResponse> {
        rpc::HeartbeatResponse resp;
        resp.set_known(registry_.Heartbeat(TaskManagerId(req.resource_id()),
                                           TaskManagerRegistry::Clock::now()));
        resp.set_jobmanager_session(session_);
        return resp;
      });
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
    }
    ScheduleExpiryCheck();
  });
}

nlohmann::json JobManager::OverviewJson() const {
  return nlohmann::json{
      {"taskmanagers", registry_.size()},
      {"slots-total", registry_.total_slots()},
      {"slots-available", registry_.free_slots()},
      {"jobs-running", 0},
      {"jobs-finished", 0},
      {"jobs-cancelled", 0},
      {"jobs-failed", 0},
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
      list.push_back({{"key", key}, {"value", value}});
    }
    return RestResponse::Json(list);
  });
}

}  // namespace eddy
