#include "cli/cluster_command.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/http_client.h"
#include "common/status.h"

namespace eddy::cli {

absl::StatusOr<nlohmann::json> RequestJson(const std::string& method,
                                           const std::string& jobmanager_url,
                                           const std::string& path, const std::string& body,
                                           const std::string& content_type,
                                           std::chrono::milliseconds timeout) {
  std::string base = jobmanager_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string url = base + path;
  auto response = HttpRequest(method, url, body, content_type, timeout);
  if (!response.ok()) {
    return absl::Status(response.status().code(),
                        absl::StrCat("cannot reach the JobManager at ", jobmanager_url, ": ",
                                     response.status().message()));
  }
  nlohmann::json json = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (response->status / 100 != 2) {
    std::string detail = response->body;
    if (json.is_object() && json.contains("errors")) {
      detail = absl::StrJoin(json["errors"].get<std::vector<std::string>>(), "; ");
    }
    return absl::FailedPreconditionError(
        absl::StrCat(method, " ", url, " answered ", response->status, ": ", detail));
  }
  if (json.is_discarded()) {
    return absl::DataLossError(absl::StrCat(method, " ", url, " did not answer JSON"));
  }
  return json;
}

absl::StatusOr<nlohmann::json> GetJson(const std::string& jobmanager_url,
                                       const std::string& path) {
  return RequestJson("GET", jobmanager_url, path);
}

std::string FormatCluster(const std::string& jobmanager_url, const nlohmann::json& overview,
                          const nlohmann::json& taskmanagers) {
  std::string out;
  absl::StrAppendFormat(&out, "JobManager    %s  (eddy %s)\n", jobmanager_url,
                        overview.value("eddy-version", "?"));
  absl::StrAppendFormat(&out, "TaskManagers  %d\n", overview.value("taskmanagers", 0));
  absl::StrAppendFormat(&out, "Slots         %d total, %d available\n",
                        overview.value("slots-total", 0), overview.value("slots-available", 0));
  absl::StrAppendFormat(&out, "Jobs          %d running, %d finished, %d cancelled, %d failed\n",
                        overview.value("jobs-running", 0), overview.value("jobs-finished", 0),
                        overview.value("jobs-cancelled", 0), overview.value("jobs-failed", 0));
  const auto& list = taskmanagers.value("taskmanagers", nlohmann::json::array());
  if (list.empty()) {
    out += "\nNo TaskManagers registered.\n";
    return out;
  }
  absl::StrAppendFormat(&out, "\n%-34s %-16s %9s %6s %5s %15s\n", "TASKMANAGER", "ADDRESS",
                        "DATA PORT", "SLOTS", "FREE", "LAST HEARTBEAT");
  for (const auto& tm : list) {
    absl::StrAppendFormat(&out, "%-34s %-16s %9d %6d %5d %13dms\n", tm.value("id", "?"),
                          tm.value("address", "?"), tm.value("dataPort", 0),
                          tm.value("slotsNumber", 0), tm.value("freeSlots", 0),
                          tm.value("timeSinceLastHeartbeat", int64_t{0}));
  }
  return out;
}

absl::Status RunClusterCommand(const std::string& jobmanager_url, std::ostream& out) {
  EDDY_ASSIGN_OR_RETURN(auto overview, GetJson(jobmanager_url, "/overview"));
  EDDY_ASSIGN_OR_RETURN(auto taskmanagers, GetJson(jobmanager_url, "/taskmanagers"));
  out << FormatCluster(jobmanager_url, overview, taskmanagers);
  return absl::OkStatus();
}

}  // namespace eddy::cli
