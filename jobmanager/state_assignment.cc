#include "jobmanager/state_assignment.h"

#include <map>
#include <set>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "api/key_hash.h"

namespace eddy {

absl::Status CheckRestorable(const checkpoint::CheckpointMetadata& metadata,
                             const job::JobGraph& graph, bool allow_non_restored_state,
                             const std::string& source) {
  if (metadata.max_parallelism() != graph.max_parallelism()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot restore ", source, ": it was taken with max parallelism ",
        metadata.max_parallelism(), " but the job has ", graph.max_parallelism(),
        " (key groups cannot be mapped)"));
  }
  if (allow_non_restored_state) return absl::OkStatus();
  for (const auto& op : metadata.operators()) {
    bool has_state = false;
    for (const auto& s : op.subtasks()) {
      if (s.keyed_size() > 0 || s.operator_state_size() > 0 || s.union_state_size() > 0) {
        has_state = true;
      }
    }
    if (!has_state) continue;
    bool found = false;
    for (const auto& def : graph.operators()) found = found || def.id() == op.operator_id();
    if (!found) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot restore ", source, ": it has state of operator '", op.operator_id(),
          "', which the job does not have (give operators stable uids, or allow "
          "non-restored state: --allow-non-restored-state)"));
    }
  }
  return absl::OkStatus();
}

checkpoint::TaskRestore AssignState(const checkpoint::CheckpointMetadata& metadata,
                                    const job::JobGraph& graph, const job::JobVertexDef& vertex,
                                    int subtask) {
  checkpoint::TaskRestore restore;
  restore.set_checkpoint_id(metadata.checkpoint_id());
  const KeyGroupRange range =
      KeyGroupRangeFor(subtask, graph.max_parallelism(), vertex.parallelism());
  std::map<std::string_view, const checkpoint::OperatorState*> by_id;
  for (const auto& op : metadata.operators()) by_id[op.operator_id()] = &op;
  for (const std::string& id : vertex.operator_ids()) {
    auto it = by_id.find(id);
    if (it == by_id.end()) continue;  // a new operator: starts empty
    const checkpoint::OperatorState& state = *it->second;
    checkpoint::OperatorSubtaskState* out = restore.add_operators();
    out->set_operator_id(id);
    for (const auto& old : state.subtasks()) {
      for (const auto& handle : old.keyed()) {
        if (handle.first_key_group() <= range.end && handle.last_key_group() >= range.start) {
          *out->add_keyed() = handle;
        }
      }
    }
    std::set<std::string_view> union_entries;  // sorted: every subtask gets the same order
    for (const auto& old : state.subtasks()) {
      for (const auto& entry : old.union_state()) union_entries.insert(entry);
    }
    for (std::string_view entry : union_entries) out->add_union_state(std::string(entry));
    if (state.parallelism() == vertex.parallelism() && subtask < state.subtasks_size()) {
      *out->mutable_operator_state() = state.subtasks(subtask).operator_state();
      out->set_finished(state.subtasks(subtask).finished());
      continue;
    }
    bool finished = state.subtasks_size() > 0;
    for (const auto& old : state.subtasks()) finished = finished && old.finished();
    out->set_finished(finished);
    int k = 0;
    for (const auto& old : state.subtasks()) {
      for (const auto& entry : old.operator_state()) {
        if (k++ % vertex.parallelism() == subtask) out->add_operator_state(entry);
      }
    }
  }
  return restore;
}

}  // namespace eddy
