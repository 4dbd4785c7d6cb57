#include "jobmanager/job_graph_validator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace eddy {
namespace {

using ::testing::HasSubstr;

/// source (p=2) -> map (p=2, chained) -HASH-> sink (p=3).
job::JobGraph GoodGraph() {
  job::JobGraph g;
  g.set_name("good");
  g.set_max_parallelism(128);
  for (const char* id : {"op0", "op1", "op2"}) {
    auto* op = g.add_operators();
    op->set_id(id);
    op->set_kind("map");
  }
  g.mutable_operators(1)->add_inputs("op0");
  g.mutable_operators(2)->add_inputs("op1");
  auto* a = g.add_vertices();
  a->set_id("op0");
  a->set_parallelism(2);
  a->add_operator_ids("op0");
  a->add_operator_ids("op1");
  auto* b = g.add_vertices();
  b->set_id("op2");
  b->set_parallelism(3);
  b->add_operator_ids("op2");
  auto* e = g.add_edges();
  e->set_id("e0");
  e->set_source_vertex("op0");
  e->set_target_vertex("op2");
  e->set_source_operator("op1");
  e->set_target_operator("op2");
  e->set_partitioning(job::HASH);
  return g;
}

void ExpectInvalid(const job::JobGraph& g, const std::string& text) {
  absl::Status s = ValidateJobGraph(g);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(text));
}

TEST(JobGraphValidatorTest, AcceptsAGoodGraph) { EXPECT_TRUE(ValidateJobGraph(GoodGraph()).ok()); }

TEST(JobGraphValidatorTest, RejectsEdgesNamingUnknownOperatorsOrVertices) {
  auto g = GoodGraph();
  g.mutable_edges(0)->set_target_operator("op99");
  ExpectInvalid(g, "edges[0].target_operator: unknown operator 'op99'");
  g = GoodGraph();
  g.mutable_edges(0)->set_source_vertex("nope");
  ExpectInvalid(g, "edges[0].source_vertex: unknown vertex 'nope'");
  g = GoodGraph();
  g.mutable_edges(0)->set_source_operator("op2");
  ExpectInvalid(g, "edges[0].source_operator: operator 'op2' is in vertex 'op2', not 'op0'");
  g = GoodGraph();
  g.mutable_operators(2)->set_inputs(0, "ghost");
  ExpectInvalid(g, "operators[2].inputs[0]: unknown operator 'ghost'");
}

TEST(JobGraphValidatorTest, RejectsDuplicatedIds) {
  auto g = GoodGraph();
  *g.add_vertices() = g.vertices(1);
  ExpectInvalid(g, "vertices[2].id: duplicated vertex id 'op2'");
  g = GoodGraph();
  g.mutable_operators(2)->set_id("op0");
  ExpectInvalid(g, "operators[2].id: duplicated operator id 'op0'");
  g = GoodGraph();
  g.mutable_vertices(1)->add_operator_ids("op1");
  ExpectInvalid(g, "vertices[1].operator_ids[1]: operator 'op1' is already in vertex 'op0'");
  g = GoodGraph();
  g.mutable_vertices(1)->set_operator_ids(0, "op7");
  ExpectInvalid(g, "vertices[1].operator_ids[0]: unknown operator 'op7'");
}

TEST(JobGraphValidatorTest, RejectsParallelismOutOfRange) {
  for (int p : {0, -1, 129, 1000000}) {
    auto g = GoodGraph();
    g.mutable_vertices(1)->set_parallelism(p);
    ExpectInvalid(g, "vertices[1].parallelism: " + std::to_string(p) + " for vertex 'op2'");
  }
  for (int max : {0, -5, 32769}) {
    auto g = GoodGraph();
    g.set_max_parallelism(max);
    ExpectInvalid(g, "max_parallelism: " + std::to_string(max) + " is out of range");
  }
}

TEST(JobGraphValidatorTest, RejectsUnknownPartitioningAndBadForward) {
  auto g = GoodGraph();
  g.mutable_edges(0)->set_partitioning(static_cast<job::Partitioning>(42));
  ExpectInvalid(g, "edges[0].partitioning: unknown partitioning 42");
  g = GoodGraph();
  g.mutable_edges(0)->set_partitioning(job::FORWARD);
  ExpectInvalid(g, "edges[0].partitioning: FORWARD needs equal parallelism");
}

TEST(JobGraphValidatorTest, RejectsCyclesAndEmptyGraphs) {
  auto g = GoodGraph();
  auto* back = g.add_edges();
  back->set_id("e1");
  back->set_source_vertex("op2");
  back->set_target_vertex("op0");
  back->set_partitioning(job::REBALANCE);
  ExpectInvalid(g, "edges: the edges form a cycle");
  job::JobGraph empty;
  empty.set_max_parallelism(128);
  ExpectInvalid(empty, "vertices: the job graph has no vertices");
}

}  // namespace
}  // namespace eddy
