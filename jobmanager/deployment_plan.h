// Turns a JobGraph plus the slots a job got into per-subtask deployments: which input
// channels each subtask reads (producer subtask, subpartition, local or remote address).
// Slot sharing: subtask i of every vertex runs in slot i. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/proto/job.pb.h"
#include "common/proto/rpc.pb.h"

namespace eddy {

/// Where one slot lives.
struct SlotLocation {
  std::string taskmanager_id;
  std::string host;       // data address of its TaskManager
  uint16_t data_port = 0;
};

struct PlannedTask {
  int slot = 0;  // index into the slots
  rpc::TaskDeployment deployment;
};

/// Returns the number of slots the job needs (its largest parallelism).
int SlotsNeeded(const job::JobGraph& graph);

/// Plans every subtask of `graph` onto `slots` (size >= SlotsNeeded) as execution
/// `attempt`: deployments and the producer partitions they read carry it.
std::vector<PlannedTask> PlanDeployments(const job::JobGraph& graph,
                                         const std::vector<SlotLocation>& slots, int attempt = 0);

}  // namespace eddy
