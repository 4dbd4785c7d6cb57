// Sends control RPCs from the JobManager to TaskManagers without blocking the caller: each
// TaskManager has its own sender thread working through a FIFO queue, each message with a
// deadline (rpc.timeout from when it was queued), so a hung or dead TaskManager delays only
// its own messages. Thread-safe. Completion callbacks run on the sender thread with no
// gateway lock held; they may take the caller's locks.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "absl/status/status.h"
#include "common/ids.h"
#include "common/rpc/rpc_client.h"

namespace eddy {

class TaskManagerGateway {
 public:
  struct Address {
    std::string host;
    uint16_t rpc_port = 0;
    std::string credential;  // presented in the handshake (the TaskManager's secret)
  };
  /// Returns where a TaskManager's RPC port listens, or nullopt if it is not registered.
  using AddressFn = std::function<std::optional<Address>(const TaskManagerId&)>;
  using Done = std::function<void(const absl::Status&)>;

  TaskManagerGateway(boost::asio::io_context& io, rpc::ConnectionOptions connection,
                     std::chrono::milliseconds rpc_timeout, AddressFn address);
  ~TaskManagerGateway();

  /// Queues `method(payload)` for `tm`; `done` (may be empty) gets the outcome: OK, the
  /// TaskManager's error, UNAVAILABLE, or DEADLINE_EXCEEDED when not answered within the
  /// deadline.
  void Send(const TaskManagerId& tm, const std::string& method, std::string payload,
            Done done = nullptr);
  /// Forgets a lost TaskManager: its queued messages are dropped without callbacks and its
  /// connection closes.
  void Remove(const TaskManagerId& tm);
  /// Stops and joins every sender thread; queued messages are dropped.
  void Stop();

 private:
  struct Sender;
  static void Run(Sender* sender, AddressFn address);

  boost::asio::io_context& io_;
  const rpc::ConnectionOptions connection_;
  const std::chrono::milliseconds rpc_timeout_;
  const AddressFn address_;
  std::mutex mu_;
  std::map<TaskManagerId, std::shared_ptr<Sender>> senders_;  // guarded by mu_
  std::vector<std::shared_ptr<Sender>> retired_;               // guarded by mu_; to join
  bool stopped_ = false;                                       // guarded by mu_
};

}  // namespace eddy
