// `eddy cluster`: fetches the JobManager's overview and TaskManager list over REST and
// prints them as text. Stateless; thread-safe.
#pragma once

#include <chrono>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace eddy::cli {

/// Prints the cluster overview and TaskManager table of the JobManager at `jobmanager_url`.
absl::Status RunClusterCommand(const std::string& jobmanager_url, std::ostream& out);

/// Formats /overview and /taskmanagers responses as the text `eddy cluster` prints.
std::string FormatCluster(const std::string& jobmanager_url, const nlohmann::json& overview,
                          const nlohmann::json& taskmanagers);

/// Sets how every request of this process reaches the JobManager: the REST token it sends
/// ("Authorization: Bearer ..."; empty: none) and, for https URLs, the PEM file of the CA
/// the server's certificate must chain to (empty: the system's trusted CAs). The CLI sets
/// them once at startup from --token/EDDY_TOKEN and --ca-cert/EDDY_CA_CERT.
void SetConnection(std::string token, std::string ca_file);

/// Sends `method path` to the JobManager and parses its JSON answer; non-2xx answers become
/// errors carrying the server's error messages (401 Unauthenticated, 403 PermissionDenied,
/// 404 NotFound, other 4xx InvalidArgument, 5xx Internal), unreachable servers Unavailable
/// errors naming the URL, a 2xx answer that is not JSON DataLoss.
absl::StatusOr<nlohmann::json> RequestJson(
    const std::string& method, const std::string& jobmanager_url, const std::string& path,
    const std::string& body = "", const std::string& content_type = "application/json",
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// GETs `path` from the JobManager and parses its JSON body; non-2xx answers become errors
/// carrying the server's error messages.
absl::StatusOr<nlohmann::json> GetJson(const std::string& jobmanager_url, const std::string& path);

/// Exit codes of `eddy` (docs/cli.md): 0 success; 1 the job did not finish or another
/// error; 2 bad command line; 3 the JobManager cannot be reached; 4 authentication or
/// permission refused; 5 not found (job, library, file); 6 the JobManager's answer was not
/// understood.
int ExitCodeOf(const absl::Status& status);

}  // namespace eddy::cli
