#include "jobmanager/taskmanager_registry.h"

namespace eddy {

bool TaskManagerRegistry::Register(TaskManagerInfo info, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = task_managers_.find(info.id);
  if (it != task_managers_.end()) {
    TaskManagerInfo& known = it->second;
    // Slots in use stay in use: only the offered total and the addresses may change.
    int used = known.slots_total - known.slots_free;
    known.host = std::move(info.host);
    known.data_port = info.data_port;
    known.rpc_peer = std::move(info.rpc_peer);
    known.rpc_port = info.rpc_port;
    known.rpc_connection_id = info.rpc_connection_id;
    known.slots_total = info.slots_total;
    known.slots_free = std::max(0, info.slots_total - used);
    known.last_heartbeat = now;
    return false;
  }
  info.registered_at = now;
  info.last_heartbeat = now;
  info.slots_free = info.slots_total;
  task_managers_.emplace(info.id, std::move(info));
  return true;
}

bool TaskManagerRegistry::Heartbeat(const TaskManagerId& id, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = task_managers_.find(id);
  if (it == task_managers_.end()) return false;
  it->second.last_heartbeat = std::max(it->second.last_heartbeat, now);
  return true;
}

void TaskManagerRegistry::SetNetworkMetrics(const TaskManagerId& id, uint64_t sent,
                                            uint64_t received, uint32_t buffers_available,
                                            uint32_t buffers_total) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = task_managers_.find(id);
  if (it == task_managers_.end()) return;
  it->second.bytes_sent_remote = sent;
  it->second.bytes_received_remote = received;
  it->second.network_buffers_available = buffers_available;
  it->second.network_buffers_total = buffers_total;
}

bool TaskManagerRegistry::TakeSlots(const TaskManagerId& id, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = task_managers_.find(id);
  if (it == task_managers_.end() || it->second.slots_free < n) return false;
  it->second.slots_free -= n;
  return true;
}

void TaskManagerRegistry::ReturnSlots(const TaskManagerId& id, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = task_managers_.find(id);
  if (it == task_managers_.end()) return;
  it->second.slots_free = std::min(it->second.slots_total, it->second.slots_free + n);
}

std::optional<TaskManagerInfo> TaskManagerRegistry::Find(const TaskManagerId& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = task_managers_.find(id);
  if (it == task_managers_.end()) return std::nullopt;
  return it->second;
}

std::optional<TaskManagerInfo> TaskManagerRegistry::RemoveByConnection(uint64_t connection_id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = task_managers_.begin(); it != task_managers_.end(); ++it) {
    if (it->second.rpc_connection_id == connection_id) {
      TaskManagerInfo info = std::move(it->second);
      task_managers_.erase(it);
      return info;
    }
  }
  return std::nullopt;
}

std::vector<TaskManagerInfo> TaskManagerRegistry::ExpireLost(Clock::time_point now) {
  std::vector<TaskManagerInfo> lost;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = task_managers_.begin(); it != task_managers_.end();) {
    if (now - it->second.last_heartbeat > heartbeat_timeout_) {
      lost.push_back(std::move(it->second));
      it = task_managers_.erase(it);
    } else {
      ++it;
    }
  }
  return lost;
}

std::vector<TaskManagerInfo> TaskManagerRegistry::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<TaskManagerInfo> out;
  out.reserve(task_managers_.size());
  for (const auto& [id, info] : task_managers_) out.push_back(info);
  return out;
}

int TaskManagerRegistry::total_slots() const {
  std::lock_guard<std::mutex> lock(mu_);
  int total = 0;
  for (const auto& [id, info] : task_managers_) total += info.slots_total;
  return total;
}

int TaskManagerRegistry::free_slots() const {
  std::lock_guard<std::mutex> lock(mu_);
  int free = 0;
  for (const auto& [id, info] : task_managers_) free += info.slots_free;
  return free;
}

size_t TaskManagerRegistry::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return task_managers_.size();
}

}  // namespace eddy
