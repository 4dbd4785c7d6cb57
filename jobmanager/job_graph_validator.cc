#include "jobmanager/job_graph_validator.h"

#include <google/protobuf/util/json_util.h>

#include <map>
#include <set>
#include <tuple>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "api/job_builder.h"

namespace eddy {
namespace {

absl::Status Bad(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat("invalid jobGraph: ", field, ": ", problem));
}

std::string Quoted(const std::string& s) { return absl::StrCat("'", s, "'"); }

// Returns the first vertex on a cycle of `next`, or "" when the graph is acyclic.
std::string FindCycle(const std::map<std::string, std::vector<std::string>>& next,
                      const std::vector<std::string>& vertices) {
  enum Mark { kNew, kOnPath, kDone };
  std::map<std::string, Mark> mark;
  // Iterative depth-first search: a node reached again while on the path closes a cycle.
  for (const auto& root : vertices) {
    if (mark[root] != kNew) continue;
    std::vector<std::pair<std::string, size_t>> stack = {{root, 0}};
    mark[root] = kOnPath;
    while (!stack.empty()) {
      auto& [v, i] = stack.back();
      auto it = next.find(v);
      if (it == next.end() || i == it->second.size()) {
        mark[v] = kDone;
        stack.pop_back();
        continue;
      }
      const std::string& w = it->second[i++];
      if (mark[w] == kOnPath) return w;
      if (mark[w] == kNew) {
        mark[w] = kOnPath;
        stack.emplace_back(w, 0);
      }
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<RunRequest> ParseRunRequest(std::string_view text) {
  nlohmann::json body = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (!body.is_object() || !body.contains("jobGraph")) {
    return absl::InvalidArgumentError(
        "the run request needs a JSON body with \"jobGraph\" (eddy run builds it from the "
        "library)");
  }
  RunRequest request;
  auto parsed = google::protobuf::util::JsonStringToMessage(body["jobGraph"].dump(), &request.graph);
  if (!parsed.ok()) return absl::InvalidArgumentError("invalid jobGraph: " + parsed.ToString());
  if (request.graph.abi_version() != kAbiVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("the job was built for Eddy job ABI ", request.graph.abi_version(),
                     ", this JobManager speaks ABI ", kAbiVersion));
  }
  if (body.contains("jobName") && body["jobName"].is_string()) {
    request.job_name = body["jobName"].get<std::string>();
  }
  if (body.contains("savepointPath") && body["savepointPath"].is_string()) {
    request.savepoint_path = body["savepointPath"].get<std::string>();
  }
  if (body.contains("allowNonRestoredState") && body["allowNonRestoredState"].is_boolean()) {
    request.allow_non_restored_state = body["allowNonRestoredState"].get<bool>();
  }
  return request;
}

absl::Status ValidateJobGraph(const job::JobGraph& graph) {
  const int max_p = graph.max_parallelism();
  if (max_p < 1 || max_p > kMaxMaxParallelism) {
    return Bad("max_parallelism",
               absl::StrCat(max_p, " is out of range; allowed: 1 to ", kMaxMaxParallelism));
  }
  if (graph.vertices_size() == 0) return Bad("vertices", "the job graph has no vertices");

  std::set<std::string> operators;
  for (int i = 0; i < graph.operators_size(); ++i) {
    const auto& op = graph.operators(i);
    std::string field = absl::StrCat("operators[", i, "].id");
    if (op.id().empty()) return Bad(field, "empty operator id");
    if (!operators.insert(op.id()).second) {
      return Bad(field, absl::StrCat("duplicated operator id ", Quoted(op.id())));
    }
  }
  for (int i = 0; i < graph.operators_size(); ++i) {
    const auto& op = graph.operators(i);
    for (int j = 0; j < op.inputs_size(); ++j) {
      if (operators.count(op.inputs(j)) == 0) {
        return Bad(absl::StrCat("operators[", i, "].inputs[", j, "]"),
                   absl::StrCat("unknown operator ", Quoted(op.inputs(j))));
      }
    }
  }

  std::map<std::string, int> parallelism;
  std::map<std::string, std::string> vertex_of_operator;
  std::vector<std::string> vertex_order;
  for (int i = 0; i < graph.vertices_size(); ++i) {
    const auto& v = graph.vertices(i);
    std::string at = absl::StrCat("vertices[", i, "]");
    if (v.id().empty()) return Bad(at + ".id", "empty vertex id");
    if (parallelism.count(v.id())) {
      return Bad(at + ".id", absl::StrCat("duplicated vertex id ", Quoted(v.id())));
    }
    if (v.parallelism() < 1 || v.parallelism() > max_p) {
      return Bad(at + ".parallelism",
                 absl::StrCat(v.parallelism(), " for vertex ", Quoted(v.id()),
                              " is out of range; allowed: 1 to max_parallelism ", max_p));
    }
    if (v.operator_ids_size() == 0) return Bad(at + ".operator_ids", "the vertex has no operators");
    for (int j = 0; j < v.operator_ids_size(); ++j) {
      const std::string& op = v.operator_ids(j);
      std::string field = absl::StrCat(at, ".operator_ids[", j, "]");
      if (operators.count(op) == 0) {
        return Bad(field, absl::StrCat("unknown operator ", Quoted(op)));
      }
      auto [it, fresh] = vertex_of_operator.emplace(op, v.id());
      if (!fresh) {
        return Bad(field, absl::StrCat("operator ", Quoted(op), " is already in vertex ",
                                       Quoted(it->second)));
      }
    }
    parallelism[v.id()] = v.parallelism();
    vertex_order.push_back(v.id());
  }

  std::set<std::string> edge_ids;
  std::map<std::string, std::vector<std::string>> next;
  for (int i = 0; i < graph.edges_size(); ++i) {
    const auto& e = graph.edges(i);
    std::string at = absl::StrCat("edges[", i, "]");
    if (!e.id().empty() && !edge_ids.insert(e.id()).second) {
      return Bad(at + ".id", absl::StrCat("duplicated edge id ", Quoted(e.id())));
    }
    for (const auto& [field, vertex] : {std::pair{".source_vertex", &e.source_vertex()},
                                        std::pair{".target_vertex", &e.target_vertex()}}) {
      if (parallelism.count(*vertex) == 0) {
        return Bad(at + field, absl::StrCat("unknown vertex ", Quoted(*vertex)));
      }
    }
    for (const auto& [field, op, vertex] :
         {std::tuple{".source_operator", &e.source_operator(), &e.source_vertex()},
          std::tuple{".target_operator", &e.target_operator(), &e.target_vertex()}}) {
      if (op->empty()) continue;  // older clients name only vertices
      auto it = vertex_of_operator.find(*op);
      if (it == vertex_of_operator.end()) {
        return Bad(at + field, absl::StrCat("unknown operator ", Quoted(*op)));
      }
      if (it->second != *vertex) {
        return Bad(at + field, absl::StrCat("operator ", Quoted(*op), " is in vertex ",
                                            Quoted(it->second), ", not ", Quoted(*vertex)));
      }
    }
    if (!job::Partitioning_IsValid(e.partitioning())) {
      return Bad(at + ".partitioning",
                 absl::StrCat("unknown partitioning ", static_cast<int>(e.partitioning()),
                              "; allowed: FORWARD, HASH, REBALANCE, BROADCAST"));
    }
    if (e.partitioning() == job::FORWARD &&
        parallelism[e.source_vertex()] != parallelism[e.target_vertex()]) {
      return Bad(at + ".partitioning",
                 absl::StrCat("FORWARD needs equal parallelism, but ", Quoted(e.source_vertex()),
                              " has ", parallelism[e.source_vertex()], " and ",
                              Quoted(e.target_vertex()), " has ", parallelism[e.target_vertex()]));
    }
    next[e.source_vertex()].push_back(e.target_vertex());
  }
  std::string on_cycle = FindCycle(next, vertex_order);
  if (!on_cycle.empty()) {
    return Bad("edges", absl::StrCat("the edges form a cycle through vertex ", Quoted(on_cycle)));
  }
  return absl::OkStatus();
}

}  // namespace eddy
