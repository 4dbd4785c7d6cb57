// Decodes and checks a submitted JobGraph before anything is scheduled, so that a malformed
// graph is a 400 naming the bad field and value instead of a crash or a stuck job on the
// TaskManagers. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/proto/job.pb.h"

namespace eddy {

/// The JSON body of POST /jars/{jarid}/run, as `eddy run` sends it.
struct RunRequest {
  job::JobGraph graph;                    // "jobGraph": the JobGraph as protobuf JSON
  std::optional<std::string> job_name;    // "jobName"
  std::string savepoint_path;             // "savepointPath"; empty: start without state
  bool allow_non_restored_state = false;  // "allowNonRestoredState"
};

/// Decodes a run request body. InvalidArgument, with the message of the 400 answer, for a
/// body that is not a JSON object with "jobGraph", a jobGraph that protobuf's JSON parser
/// rejects, or a graph built for another job ABI. ValidateJobGraph checks the graph itself.
absl::StatusOr<RunRequest> ParseRunRequest(std::string_view body);

/// Largest max parallelism a job may declare (Flink's upper bound on key groups).
inline constexpr int kMaxMaxParallelism = 32768;

/// Returns InvalidArgument naming the field and value of the first problem found:
/// duplicated or empty operator/vertex ids, a vertex naming an operator that does not
/// exist (or one already in another vertex), operator inputs or edges naming unknown
/// operators or vertices, parallelism outside 1..max parallelism, max parallelism outside
/// 1..32768, unknown partitioning values, FORWARD between different parallelisms, cycles.
absl::Status ValidateJobGraph(const job::JobGraph& graph);

}  // namespace eddy
