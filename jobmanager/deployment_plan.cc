#include "jobmanager/deployment_plan.h"

#include <algorithm>
#include <map>

namespace eddy {

int SlotsNeeded(const job::JobGraph& graph) {
  int needed = 0;
  for (const auto& v : graph.vertices()) needed = std::max(needed, v.parallelism());
  return needed;
}

std::vector<PlannedTask> PlanDeployments(const job::JobGraph& graph,
                                         const std::vector<SlotLocation>& slots, int attempt) {
  std::map<std::string, int> parallelism_of;
  for (const auto& v : graph.vertices()) parallelism_of[v.id()] = v.parallelism();
  std::vector<PlannedTask> out;
  for (const auto& v : graph.vertices()) {
    for (int subtask = 0; subtask < v.parallelism(); ++subtask) {
      PlannedTask task;
      task.slot = subtask;
      rpc::TaskDeployment& d = task.deployment;
      d.set_vertex_id(v.id());
      d.set_subtask(subtask);
      d.set_attempt(attempt);
      const SlotLocation& here = slots[subtask];
      for (const auto& edge : graph.edges()) {
        if (edge.target_vertex() != v.id()) continue;
        auto* in = d.add_inputs();
        in->set_edge_id(edge.id());
        // Forward: producer i feeds consumer i through its only subpartition. Otherwise
        // consumer j reads subpartition j of every producer.
        std::vector<int> producers;
        int subpartition = subtask;
        if (edge.partitioning() == job::FORWARD) {
          producers.push_back(subtask);
          subpartition = 0;
        } else {
          for (int i = 0; i < parallelism_of[edge.source_vertex()]; ++i) producers.push_back(i);
        }
        for (int p : producers) {
          const SlotLocation& there = slots[p];
          auto* ch = in->add_channels();
          ch->set_producer_subtask(p);
          ch->set_subpartition(subpartition);
          ch->set_local(there.taskmanager_id == here.taskmanager_id);
          ch->set_host(there.host);
          ch->set_port(there.data_port);
          // A job restarts as a whole: every producer runs the same attempt.
          ch->set_producer_attempt(attempt);
        }
      }
      out.push_back(std::move(task));
    }
  }
  return out;
}

}  // namespace eddy
