// Maps a checkpoint's state onto a job's subtasks (also at another parallelism): operator
// state by operator id (the uid when the user set one); keyed state by key group, so a
// subtask gets every handle whose key-group range overlaps its own (it restores only its
// own key groups from them); operator-state entries unchanged per subtask at the same
// parallelism, else all entries of the operator dealt round-robin. Pure functions.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/proto/checkpoint.pb.h"
#include "common/proto/job.pb.h"

namespace eddy {

/// Checks that `metadata` can start `graph`: the same max parallelism, and every operator
/// with state in it exists in the job (unless `allow_non_restored_state`). Errors name the
/// operator and `source` (the checkpoint's path).
absl::Status CheckRestorable(const checkpoint::CheckpointMetadata& metadata,
                             const job::JobGraph& graph, bool allow_non_restored_state,
                             const std::string& source);

/// What subtask `subtask` of `vertex` restores from `metadata`.
checkpoint::TaskRestore AssignState(const checkpoint::CheckpointMetadata& metadata,
                                    const job::JobGraph& graph, const job::JobVertexDef& vertex,
                                    int subtask);

}  // namespace eddy
