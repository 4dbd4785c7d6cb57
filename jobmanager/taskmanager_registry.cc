#include "jobmanager/taskmanager_registry.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/secrets.h"

namespace eddy {
namespace {
bool OnlyOf(const std::string& s, std::string_view alphabet) {
  for (char c : s) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && alphabet.find(c) == std::string_view::npos) return false;
  }
  return true;
}
std::string Shown(const std::string& s) {
  return absl::StrCat("'", absl::CHexEscape(s.substr(0, 160)), s.size() > 160 ? "...'" : "'");
}
}  // namespace

absl::Status ValidateRegistration(const rpc::RegisterTaskManagerRequest& request) {
  const std::string& id = request.resource_id();
  if (id.empty() || id.size() > kMaxTaskManagerIdLength || !OnlyOf(id, "._-")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TaskManager id ", Shown(id), " refused: it must be 1 to ", kMaxTaskManagerIdLength,
        " characters of A-Z, a-z, 0-9, '.', '_' and '-'"));
  }
  if (request.num_slots() == 0 || request.num_slots() > kMaxSlotsPerTaskManager) {
    return absl::InvalidArgumentError(
        absl::StrCat("TaskManager ", id, " offers ", request.num_slots(),
                     " slots: refused, a TaskManager offers 1 to ", kMaxSlotsPerTaskManager));
  }
  // A DNS name, an IPv4 address or an IPv6 address (with or without brackets).
  const std::string& host = request.host();
  if (host.empty() || host.size() > 253 || !OnlyOf(host, ".-:[]")) {
    return absl::InvalidArgumentError(absl::StrCat("TaskManager ", id, " gives host ",
                                                   Shown(host), ": not a host name or address"));
  }
  if (request.data_port() == 0 || request.data_port() > 65535 || request.rpc_port() == 0 ||
      request.rpc_port() > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("TaskManager ", id, " gives data port ",
                                                   request.data_port(), " and rpc port ",
                                                   request.rpc_port(), ": ports are 1 to 65535"));
  }
  if (request.rpc_credential().size() != kSecretBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("TaskManager ", id, " sent an RPC credential of ",
                     request.rpc_credential().size(), " bytes, not ", kSecretBytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> TaskManagerRegistry::Register(TaskManagerInfo info, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = task_managers_.find(info.id);
  if (it != task_managers_.end()) {
    TaskManagerInfo& known = it->second;
    if (known.rpc_connection_id != info.rpc_connection_id) {
      return absl::AlreadyExistsError(absl::StrCat(
          "TaskManager id ", info.id.value(), " is registered by a live TaskManager at ",
          known.rpc_peer, "; refused from ", info.rpc_peer));
    }
    // Slots in use stay in use: only the offered total and the addresses may change.
    int used = known.slots_total - known.slots_free;
    known.host = std::move(info.host);
    known.data_port = info.data_port;
    known.rpc_peer = std::move(info.rpc_peer);
    known.rpc_port = info.rpc_port;
    known.rpc_connection_id = info.rpc_connection_id;
    known.rpc_credential = std::move(info.rpc_credential);
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

bool TaskManagerRegistry::IsConnectionOf(const TaskManagerId& id, uint64_t connection_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = task_managers_.find(id);
  return it != task_managers_.end() && it->second.rpc_connection_id == connection_id;
}

bool TaskManagerRegistry::IsRegisteredConnection(uint64_t connection_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, info] : task_managers_) {
    if (info.rpc_connection_id == connection_id) return true;
  }
  return false;
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
