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

/// Sends `method path` to the JobManager and parses its JSON answer; non-2xx answers become
/// errors carrying the server's error messages, unreachable servers errors naming the URL.
absl::StatusOr<nlohmann::json> RequestJson(
    const std::string& method, const std::string& jobmanager_url, const std::string& path,
    const std::string& body = "", const std::string& content_type = "application/json",
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// GETs `path` from the JobManager and parses its JSON body; non-2xx answers become errors
/// carrying the server's error messages.
absl::StatusOr<nlohmann::json> GetJson(const std::string& jobmanager_url, const std::string& path);

}  // namespace eddy::cli
