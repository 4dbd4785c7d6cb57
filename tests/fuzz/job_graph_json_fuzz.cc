// Fuzzes job submission (POST /jars/{id}/run) from its JSON body on: ParseRunRequest turns
// the text into a JobGraph (protobuf JSON), ValidateJobGraph checks it, and then, as
// Dispatcher::Submit does, the job's config is applied over the cluster's (with the restart
// strategy and checkpoint settings read from it) and the job is planned onto slots
// (PlanDeployments), which trusts whatever the validator let through. Every step must
// accept or reject with a message; none may crash, throw or loop.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "absl/status/status.h"
#include "common/check.h"
#include "common/config.h"
#include "jobmanager/checkpoint_coordinator.h"
#include "jobmanager/deployment_plan.h"
#include "jobmanager/job_graph_validator.h"
#include "jobmanager/restart_strategy.h"

namespace {

// Channels PlanDeployments would make, to skip plans too large to build within the timeout
// (a valid job of 32768 subtasks with an all-to-all edge has 2^30 channels).
uint64_t PlanSize(const eddy::job::JobGraph& graph) {
  std::map<std::string, uint64_t> parallelism;
  for (const auto& v : graph.vertices()) parallelism[v.id()] = static_cast<uint64_t>(v.parallelism());
  uint64_t size = 0;
  for (const auto& v : graph.vertices()) {
    uint64_t per_subtask = 1 + static_cast<uint64_t>(graph.edges_size());
    for (const auto& e : graph.edges()) {
      if (e.target_vertex() == v.id()) per_subtask += parallelism[e.source_vertex()];
    }
    size += parallelism[v.id()] * per_subtask;
  }
  return size;
}

}  // namespace

// Protobuf logs every string field that is not UTF-8; the fuzzer makes many.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto run = eddy::ParseRunRequest(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!run.ok()) {
    EDDY_CHECK(run.status().code() == absl::StatusCode::kInvalidArgument) << run.status();
    return 0;
  }
  const eddy::job::JobGraph& graph = run->graph;
  absl::Status valid = eddy::ValidateJobGraph(graph);
  if (!valid.ok()) {
    EDDY_CHECK(valid.code() == absl::StatusCode::kInvalidArgument) << valid;
    return 0;
  }

  eddy::Config config;
  std::map<std::string, std::string> keys(graph.config().begin(), graph.config().end());
  if (config.ApplyJobConfig(keys).ok()) {
    auto restart = eddy::CreateRestartStrategy(config);
    EDDY_CHECK(restart != nullptr);
    (void)restart->Describe();
    (void)eddy::CheckpointSettings::FromConfig(config);
  }

  if (PlanSize(graph) > 100000) return 0;
  const int slots_needed = eddy::SlotsNeeded(graph);
  EDDY_CHECK_GE(slots_needed, 1);
  std::vector<eddy::SlotLocation> slots;
  for (int i = 0; i < slots_needed; ++i) {
    // Two TaskManagers, so that plans have local and remote channels.
    slots.push_back({.taskmanager_id = i % 2 == 0 ? "tm-a" : "tm-b",
                     .host = "127.0.0.1",
                     .data_port = static_cast<uint16_t>(7000 + i % 2)});
  }
  std::vector<eddy::PlannedTask> plan = eddy::PlanDeployments(graph, slots);
  size_t subtasks = 0;
  for (const auto& v : graph.vertices()) subtasks += static_cast<size_t>(v.parallelism());
  EDDY_CHECK_EQ(plan.size(), subtasks);
  for (const eddy::PlannedTask& task : plan) {
    EDDY_CHECK(task.slot >= 0 && task.slot < slots_needed) << task.slot;
  }
  return 0;
}
