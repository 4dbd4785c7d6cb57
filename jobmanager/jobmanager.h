// The JobManager process core: control-RPC endpoint for TaskManagers (registration,
// heartbeats, task states), the TaskManager registry with heartbeat expiry, the blob store
// of job libraries, the dispatcher that schedules jobs, and the REST endpoint.
// Start() and Stop() are called from one owning thread; everything else runs on the
// internal io_context threads.
#pragma once

#include <atomic>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "absl/status/status.h"
#include "common/config.h"
#include "common/rpc/rpc_server.h"
#include "jobmanager/blob_store.h"
#include "jobmanager/dispatcher.h"
#include "jobmanager/rest_server.h"
#include "jobmanager/taskmanager_registry.h"

namespace eddy {

class JobManager {
 public:
  explicit JobManager(Config config);
  ~JobManager();

  /// Binds the RPC and REST ports and starts serving.
  absl::Status Start();
  /// Stops serving and joins the internal threads. Safe to call twice.
  void Stop();

  uint16_t rpc_port() const { return rpc_port_; }
  uint16_t rest_port() const { return rest_port_; }
  const std::string& session() const { return session_; }
  const TaskManagerRegistry& registry() const { return registry_; }
  Dispatcher& dispatcher() { return *dispatcher_; }

 private:
  void RegisterRpcMethods();
  /// 403 if the caller may not change the job (not an admin, not its submitter).
  std::optional<RestResponse> RefuseIfNotOwner(const RestRequest& request) const;
  /// OK if the caller's control connection is the one TaskManager `resource_id` registered
  /// on; otherwise logs and returns PermissionDenied (a forged call).
  absl::Status CheckCaller(const rpc::CallContext& ctx, const std::string& resource_id,
                           const char* method) const;
  void RegisterRestRoutes();
  void RegisterJobRoutes();
  std::string PrometheusMetrics() const;
  void ScheduleExpiryCheck();
  nlohmann::json OverviewJson() const;
  nlohmann::json TaskManagersJson() const;

  Config config_;
  // Internal TLS (security.ssl.internal.*): null when off; an error stops Start().
  const absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> tls_;
  std::string session_;
  std::atomic<bool> stopping_{false};
  boost::asio::io_context io_;  // control RPC, dispatcher, timers
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  // REST (uploads) on threads of its own: receiving a large library must not hold up
  // TaskManagers' heartbeats.
  boost::asio::io_context rest_io_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> rest_work_;
  std::vector<std::thread> threads_;
  TaskManagerRegistry registry_;
  rpc::RpcServer rpc_server_;
  RestServer rest_server_;
  BlobStore blobs_;
  std::unique_ptr<Dispatcher> dispatcher_;
  boost::asio::steady_timer expiry_timer_;
  uint16_t rpc_port_ = 0;
  uint16_t rest_port_ = 0;
  std::string rest_scheme_ = "http";  // "https" with security.ssl.rest.enabled
  bool started_ = false;
};

}  // namespace eddy
