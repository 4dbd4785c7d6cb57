#include "taskmanager/taskmanager.h"

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/proto/rpc.pb.h"
#include "common/status.h"

namespace eddy {
namespace {
constexpr std::chrono::milliseconds kFirstBackoff{100};
}

TaskManager::TaskManager(Config config)
    : config_(std::move(config)),
      id_(config_.GetString(opt::kTaskManagerResourceId).empty()
              ? TaskManagerId(RandomHexId(16))
              : TaskManagerId(config_.GetString(opt::kTaskManagerResourceId))),
      client_(io_,
              rpc::ConnectionOptions{
                  .max_frame_bytes =
                      static_cast<size_t>(config_.GetMemorySize(opt::kRpcMaxFrameSize)),
                  .frame_timeout = config_.GetDuration(opt::kRpcTimeout)},
              absl::StrCat("taskmanager-", id_.value())) {}

TaskManager::~TaskManager() { Stop(); }

absl::Status TaskManager::Start() {
  namespace ip = boost::asio::ip;
  const std::string host = config_.GetString(opt::kTaskManagerHost);
  const uint16_t port = config_.GetPort(opt::kTaskManagerDataPort);
  boost::system::error_code ec;
  auto addr = ip::make_address(host, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config key '", opt::kTaskManagerHost, "': expected an IP address; got '", host, "'"));
  }
  data_acceptor_ = std::make_unique<ip::tcp::acceptor>(io_);
  ip::tcp::endpoint endpoint(addr, port);
  data_acceptor_->open(endpoint.protocol(), ec);
  if (!ec) data_acceptor_->set_option(ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) data_acceptor_->bind(endpoint, ec);
  if (!ec) data_acceptor_->listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot open data port ", host, ":", port, ": ", ec.message()));
  }
  data_port_ = data_acceptor_->local_endpoint().port();
  AcceptData();
  work_ = std::make_unique<decltype(work_)::element_type>(io_.get_executor());
  io_thread_ = std::thread([this] { io_.run(); });
  started_ = true;
  EDDY_LOG(INFO) << "TaskManager " << id_ << " " << EDDY_VERSION << ": "
                 << config_.GetInt(opt::kTaskManagerSlots) << " slots, data port " << host << ":"
                 << data_port_ << ", JobManager at "
                 << config_.GetString(opt::kJobManagerRpcAddress) << ":"
                 << config_.GetPort(opt::kJobManagerRpcPort);
  loop_thread_ = std::thread([this] { RegistrationLoop(); });
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
  client_.Close();
  boost::asio::post(io_, [this] {
    boost::system::error_code ignored;
    data_acceptor_->close(ignored);
  });
  work_.reset();
  io_.stop();
  io_thread_.join();
  EDDY_LOG(INFO) << "TaskManager " << id_ << " stopped";
}

void TaskManager::AcceptData() {
  // The data plane (record exchange between tasks) is served here; until a job's tasks use
  // it, connections are accepted and closed so that peers see a live port.
  data_acceptor_->async_accept([this](const boost::system::error_code& ec,
                                      boost::asio::ip::tcp::socket socket) {
    if (ec == boost::asio::error::operation_aborted || !data_acceptor_->is_open()) return;
    if (!ec) {
      boost::system::error_code ignored;
      socket.close(ignored);
    }
    AcceptData();
  });
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
  request.set_num_slots(static_cast<uint32_t>(config_.GetInt(opt::kTaskManagerSlots)));
  request.set_eddy_version(EDDY_VERSION);
  EDDY_ASSIGN_OR_RETURN(auto response, client_.Call<rpc::RegisterTaskManagerResponse>(
                                           "RegisterTaskManager", request, timeout));
  jobmanager_session_ = response.jobmanager_session();
  return absl::OkStatus();
}

absl::Status TaskManager::HeartbeatOnce() {
  rpc::HeartbeatRequest request;
  request.set_resource_id(id_.value());
  // A heartbeat that takes longer than the interval is as good as lost.
  auto timeout = std::max(config_.GetDuration(opt::kHeartbeatInterval),
                          std::chrono::milliseconds(200));
  EDDY_ASSIGN_OR_RETURN(auto response,
                        client_.Call<rpc::HeartbeatResponse>("Heartbeat", request, timeout));
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
