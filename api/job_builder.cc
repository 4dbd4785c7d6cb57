#include "api/job_builder.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace eddy {

int JobBuilder::AddNode(OperatorNode node) {
  int index = static_cast<int>(nodes_.size());
  node.id = absl::StrCat("op", index + 1);
  nodes_.push_back(std::move(node));
  return index;
}

const OperatorNode* JobBuilder::FindNode(std::string_view id) const {
  for (const auto& n : nodes_) {
    if (n.id == id) return &n;
  }
  return nullptr;
}

int JobBuilder::EffectiveParallelism(const OperatorNode& node) const {
  if (node.parallelism > 0) return node.parallelism;
  // A side output runs chained to its producer, at the producer's parallelism.
  if (!node.side_tag.empty() && !node.inputs.empty()) {
    return EffectiveParallelism(nodes_[node.inputs[0].node]);
  }
  return default_parallelism_;
}

absl::StatusOr<job::JobGraph> JobBuilder::ToJobGraph() const {
  if (nodes_.empty()) {
    return absl::InvalidArgumentError("the job defines no operators (add a source and a sink)");
  }
  if (default_parallelism_ < 1 || default_parallelism_ > max_parallelism_) {
    return absl::InvalidArgumentError(absl::StrCat("parallelism ", default_parallelism_,
                                                   " must be from 1 to the max parallelism ",
                                                   max_parallelism_));
  }
  const int n = static_cast<int>(nodes_.size());
  std::set<std::string> uids;
  std::set<std::string> ids;
  for (const auto& node : nodes_) {
    if (!node.uid.empty() && !uids.insert(node.uid).second) {
      return absl::InvalidArgumentError(absl::StrCat("uid '", node.uid, "' is used twice"));
    }
    if (!ids.insert(node.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("operator id '", node.id, "' is used twice (a uid() equal to another "
                       "operator's id?)"));
    }
    int p = EffectiveParallelism(node);
    if (p < 1 || p > max_parallelism_) {
      return absl::InvalidArgumentError(absl::StrCat("operator '", node.name, "' has parallelism ",
                                                     p, "; allowed: 1 to ", max_parallelism_));
    }
  }

  // Resolve partitionings and decide chaining.
  std::vector<std::vector<job::Partitioning>> partitioning(n);
  std::vector<int> chained_to(n, -1);  // input node this node is chained behind
  for (int i = 0; i < n; ++i) {
    const auto& node = nodes_[i];
    for (const auto& in : node.inputs) {
      const auto& up = nodes_[in.node];
      bool same_p = EffectiveParallelism(up) == EffectiveParallelism(node);
      job::Partitioning p = in.partitioning.value_or(same_p ? job::FORWARD : job::REBALANCE);
      if (p == job::FORWARD && !same_p) {
        return absl::InvalidArgumentError(absl::StrCat(
            "operator '", up.name, "' (parallelism ", EffectiveParallelism(up),
            ") is forward-connected to '", node.name, "' (parallelism ", EffectiveParallelism(node),
            "); use rebalance() or give both the same parallelism"));
      }
      partitioning[i].push_back(p);
    }
    // Chains form a tree: an operator with one forward input runs in its producer's task
    // (Flink chains several outputs of one operator the same way).
    if (node.inputs.size() == 1 && partitioning[i][0] == job::FORWARD &&
        node.num_logical_inputs == 1) {
      chained_to[i] = node.inputs[0].node;
    }
    if (!node.side_tag.empty() && chained_to[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "side output '", node.side_tag, "' must run at the parallelism of its producer '",
          nodes_[node.inputs[0].node].name, "'"));
    }
  }

  job::JobGraph graph;
  graph.set_name(name_);
  graph.set_max_parallelism(max_parallelism_);
  graph.set_default_parallelism(default_parallelism_);
  graph.set_abi_version(kAbiVersion);
  bool bounded = true;
  for (int i = 0; i < n; ++i) {
    const auto& node = nodes_[i];
    auto* op = graph.add_operators();
    op->set_id(node.id);
    op->set_name(node.name);
    op->set_kind(node.kind);
    op->set_uid(node.uid);
    op->set_parallelism(EffectiveParallelism(node));
    op->set_bounded(node.bounded);
    for (const auto& in : node.inputs) op->add_inputs(nodes_[in.node].id);
    if (node.is_source && !node.bounded) bounded = false;
  }
  graph.set_bounded(bounded);

  // Vertices: each chain head collects the nodes chained behind it (nodes are in
  // topological order, so a chain is built front to back).
  std::vector<int> vertex_of(n, -1);
  for (int i = 0; i < n; ++i) {
    if (chained_to[i] >= 0) {
      int v = vertex_of[chained_to[i]];
      vertex_of[i] = v;
      auto* vertex = graph.mutable_vertices(v);
      vertex->add_operator_ids(nodes_[i].id);
      vertex->set_name(absl::StrCat(vertex->name(), " -> ", nodes_[i].name));
    } else {
      vertex_of[i] = graph.vertices_size();
      auto* vertex = graph.add_vertices();
      vertex->set_id(nodes_[i].id);
      vertex->set_name(nodes_[i].name);
      vertex->set_parallelism(EffectiveParallelism(nodes_[i]));
      vertex->add_operator_ids(nodes_[i].id);
    }
  }
  for (int i = 0; i < n; ++i) {
    if (chained_to[i] >= 0) continue;
    const auto& node = nodes_[i];
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      int up = node.inputs[k].node;
      auto* edge = graph.add_edges();
      edge->set_id(absl::StrCat("e", graph.edges_size()));
      edge->set_source_vertex(graph.vertices(vertex_of[up]).id());
      edge->set_target_vertex(graph.vertices(vertex_of[i]).id());
      edge->set_partitioning(partitioning[i][k]);
      edge->set_source_operator(nodes_[up].id);
      edge->set_target_operator(node.id);
    }
  }
  return graph;
}

}  // namespace eddy
