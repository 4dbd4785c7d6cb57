// The JobManager's registry of live TaskManagers and their slots, with heartbeat
// bookkeeping: a TaskManager whose last heartbeat is older than the timeout is expired.
// Time is passed in by the caller so tests control it. Thread-safe (one internal mutex).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/ids.h"
#include "common/proto/rpc.pb.h"

namespace eddy {

struct TaskManagerInfo {
  using Clock = std::chrono::steady_clock;
  TaskManagerId id;
  std::string host;        // where its data port listens
  uint16_t data_port = 0;
  int slots_total = 0;
  int slots_free = 0;
  std::string rpc_peer;    // "host:port" of its control connection
  uint16_t rpc_port = 0;   // its own RPC port (task deployment)
  uint64_t rpc_connection_id = 0;  // the control connection it registered on
  std::string rpc_credential;      // what the JobManager presents on its RPC port
  // Network metrics from its last heartbeat.
  uint64_t bytes_sent_remote = 0;
  uint64_t bytes_received_remote = 0;
  uint32_t network_buffers_available = 0;
  uint32_t network_buffers_total = 0;
  Clock::time_point registered_at;
  Clock::time_point last_heartbeat;
};

/// Most slots one TaskManager may offer.
inline constexpr uint32_t kMaxSlotsPerTaskManager = 4096;
/// Longest TaskManager id (taskmanager.resource-id).
inline constexpr size_t kMaxTaskManagerIdLength = 128;

/// Checks a registration before anything of it is used: the id is 1..128 characters of
/// [A-Za-z0-9._-] (it appears in logs, REST and Prometheus labels), slots are 1..4096, the
/// host is a plausible host name or address, ports are set and the RPC credential has the
/// size TaskManagers make. InvalidArgument names the field and the bad value (escaped).
absl::Status ValidateRegistration(const rpc::RegisterTaskManagerRequest& request);

class TaskManagerRegistry {
 public:
  using Clock = TaskManagerInfo::Clock;

  explicit TaskManagerRegistry(std::chrono::milliseconds heartbeat_timeout)
      : heartbeat_timeout_(heartbeat_timeout) {}

  /// Adds or refreshes a TaskManager; returns true if it was not registered before.
  /// A re-registration keeps the TaskManager's slots and counts as a heartbeat; it must come
  /// on the control connection the TaskManager registered on (AlreadyExists otherwise: an
  /// id taken by a live TaskManager cannot be taken over by another connection).
  absl::StatusOr<bool> Register(TaskManagerInfo info, Clock::time_point now);
  /// True if `id` is registered on control connection `connection_id`: a call from that
  /// connection speaks for that TaskManager.
  bool IsConnectionOf(const TaskManagerId& id, uint64_t connection_id) const;
  /// True if some TaskManager is registered on control connection `connection_id`.
  bool IsRegisteredConnection(uint64_t connection_id) const;
  /// Records a heartbeat; returns false if the TaskManager is unknown (e.g. expired).
  bool Heartbeat(const TaskManagerId& id, Clock::time_point now);
  /// Records network metrics reported with a heartbeat.
  void SetNetworkMetrics(const TaskManagerId& id, uint64_t sent, uint64_t received,
                         uint32_t buffers_available, uint32_t buffers_total);
  /// Takes `n` free slots of a TaskManager; false if it is unknown or has fewer free.
  bool TakeSlots(const TaskManagerId& id, int n);
  /// Returns `n` slots (ignored if the TaskManager is gone).
  void ReturnSlots(const TaskManagerId& id, int n);
  /// Returns the TaskManager with `id`, if registered.
  std::optional<TaskManagerInfo> Find(const TaskManagerId& id) const;
  /// Removes and returns the TaskManager that registered on control connection
  /// `connection_id` (its connection closed), if any.
  std::optional<TaskManagerInfo> RemoveByConnection(uint64_t connection_id);
  /// Removes and returns every TaskManager whose last heartbeat is older than the timeout.
  std::vector<TaskManagerInfo> ExpireLost(Clock::time_point now);
  /// Returns every registered TaskManager, ordered by id.
  std::vector<TaskManagerInfo> List() const;

  int total_slots() const;
  int free_slots() const;
  size_t size() const;
  std::chrono::milliseconds heartbeat_timeout() const { return heartbeat_timeout_; }

 private:
  const std::chrono::milliseconds heartbeat_timeout_;
  mutable std::mutex mu_;
  std::map<TaskManagerId, TaskManagerInfo> task_managers_;  // guarded by mu_
};

}  // namespace eddy
