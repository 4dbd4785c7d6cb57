#include "cli/cluster_command.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/http_client.h"
#include "common/status.h"

namespace eddy::cli {
namespace {
struct Connection {
  std::string token;    // REST bearer token; empty: none
  std::string ca_file;  // CA of the JobManager's HTTPS certificate; empty: the system's
};
Connection& TheConnection() {
  static Connection* const connection = new Connection();
  return *connection;
}

absl::StatusCode CodeOfHttpStatus(int status) {
  switch (status) {
    case 401: return absl::StatusCode::kUnauthenticated;
    case 403: return absl::StatusCode::kPermissionDenied;
    case 404: return absl::StatusCode::kNotFound;
    case 409: return absl::StatusCode::kAlreadyExists;
    default: break;
  }
  if (status / 100 == 4) return absl::StatusCode::kInvalidArgument;
  if (status == 503) return absl::StatusCode::kUnavailable;
  return absl::StatusCode::kInternal;
}
}  // namespace

void SetConnection(std::string token, std::string ca_file) {
  TheConnection() = Connection{std::move(token), std::move(ca_file)};
}

int ExitCodeOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk: return 0;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded: return 3;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied: return 4;
    case absl::StatusCode::kNotFound: return 5;
    case absl::StatusCode::kDataLoss: return 6;
    default: return 1;
  }
}

absl::StatusOr<nlohmann::json> RequestJson(const std::string& method,
                                           const std::string& jobmanager_url,
                                           const std::string& path, const std::string& body,
                                           const std::string& content_type,
                                           std::chrono::milliseconds timeout) {
  std::string base = jobmanager_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string url = base + path;
  HttpHeaders headers;
  const Connection& connection = TheConnection();
  if (!connection.token.empty()) {
    headers.emplace_back("Authorization", "Bearer " + connection.token);
  }
  auto response =
      HttpRequest(method, url, body, content_type, timeout, headers, connection.ca_file);
  if (!response.ok()) {
    const auto code = response.status().code() == absl::StatusCode::kInvalidArgument
                          ? absl::StatusCode::kInvalidArgument  // a malformed URL
                          : absl::StatusCode::kUnavailable;
    return absl::Status(code, absl::StrCat("cannot reach the JobManager at ", jobmanager_url,
                                           ": ", response.status().message()));
  }
  nlohmann::json json = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (response->status / 100 != 2) {
    std::string detail = response->body;
    if (json.is_object() && json.contains("errors") && json.at("errors").is_array()) {
      std::vector<std::string> errors;
      for (const auto& e : json.at("errors")) errors.push_back(e.is_string() ? e.get<std::string>() : e.dump());
      detail = absl::StrJoin(errors, "; ");
    }
    if (detail.size() > 2000) detail = detail.substr(0, 2000) + "...";
    return absl::Status(CodeOfHttpStatus(response->status),
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
