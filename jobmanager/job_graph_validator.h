// Checks a submitted JobGraph before anything is scheduled, so that a malformed graph is a
// 400 naming the bad field and value instead of a crash or a stuck job on the TaskManagers.
// Pure function; thread-safe.
#pragma once

#include "absl/status/status.h"
#include "common/proto/job.pb.h"

namespace eddy {

/// Largest max parallelism a job may declare (Flink's upper bound on key groups).
inline constexpr int kMaxMaxParallelism = 32768;

/// Returns InvalidArgument naming the field and value of the first problem found:
/// duplicated or empty operator/vertex ids, a vertex naming an operator that does not
/// exist (or one already in another vertex), operator inputs or edges naming unknown
/// operators or vertices, parallelism outside 1..max parallelism, max parallelism outside
/// 1..32768, unknown partitioning values, FORWARD between different parallelisms, cycles.
absl::Status ValidateJobGraph(const job::JobGraph& graph);

}  // namespace eddy
