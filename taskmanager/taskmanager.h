// The TaskManager process core: opens its data port (the network stack) and its RPC port
// (task deployment), registers its slots with the JobManager, sends heartbeats carrying
// task states and metrics, and registers again by itself when the JobManager restarts or
// forgets it. Start() and Stop() are called from one owning thread; the registration
// loop runs on its own thread and socket I/O on an internal io_context thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "absl/status/status.h"
#include "common/config.h"
#include "common/ids.h"
#include "common/rpc/rpc_client.h"
#include "common/rpc/rpc_server.h"
#include "taskmanager/job_runner.h"
#include "taskmanager/network/network_environment.h"

namespace eddy {

class TaskManager {
 public:
  explicit TaskManager(Config config);
  ~TaskManager();

  /// Opens the data port and starts the registration loop.
  absl::Status Start();
  /// Stops the loop and closes every socket. Safe to call twice.
  void Stop();

  const TaskManagerId& id() const { return id_; }
  uint16_t data_port() const { return data_port_; }
  uint16_t rpc_port() const { return rpc_port_; }
  /// Returns true while registered with a JobManager.
  bool registered() const { return registered_.load(); }

 private:
  void RegistrationLoop();
  absl::Status RegisterOnce();
  absl::Status HeartbeatOnce();
  /// Writes the job library `sha256` to `path`, piece by piece from the JobManager.
  absl::Status FetchBlob(const std::string& sha256, const std::string& path);
  void RegisterRpcMethods();
  /// Queues a task report for the reporter thread (never blocks a task thread on an RPC).
  void ReportTask(const rpc::TaskReport& report);
  /// Sends queued task reports to the JobManager until Stop().
  void ReporterLoop();
  /// Waits up to `d` or until Stop(); returns false if stopping.
  bool WaitFor(std::chrono::milliseconds d);

  Config config_;
  // Internal TLS (security.ssl.internal.*): null when off; an error stops Start().
  const absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> tls_;
  TaskManagerId id_;
  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread io_thread_;
  std::thread loop_thread_;
  std::thread reporter_thread_;
  std::deque<rpc::TaskReport> reports_;  // guarded by mu_
  boost::asio::io_context network_io_;
  std::unique_ptr<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      network_work_;
  std::thread network_thread_;
  std::unique_ptr<net::NetworkEnvironment> network_;
  uint16_t data_port_ = 0;
  rpc::RpcServer rpc_server_;
  uint16_t rpc_port_ = 0;
  std::unique_ptr<JobRunner> runner_;
  rpc::RpcClient client_;
  std::string jobmanager_session_;
  // The JobManager presents this on our RPC port (sent with every registration).
  const std::string rpc_credential_;
  std::atomic<bool> registered_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  bool started_ = false;
};

}  // namespace eddy
