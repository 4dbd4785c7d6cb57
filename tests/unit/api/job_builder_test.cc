#include "api/job_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/datastream.h"
#include "api/job_args.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

/// A bounded source of nothing, enough to build graphs.
template <typename T>
SourceDef<T> NullSource(std::string name = "Source", bool bounded = true) {
  struct Null : SourceReader<T> {
    InputStatus PollNext(ReaderOutput<T>&) override { return InputStatus::kEndOfInput; }
  };
  return SourceDef<T>{name, bounded, [] { return std::make_unique<Null>(); }};
}

template <typename T>
SinkDef<T> NullSink(std::string name = "Sink") {
  struct Null : SinkFunction<T> {
    void WriteBatch(std::span<const StreamRecord<T>>) override {}
  };
  return SinkDef<T>{name, [] { return std::make_unique<Null>(); }};
}

std::vector<std::string> VertexNames(const job::JobGraph& g) {
  std::vector<std::string> out;
  for (const auto& v : g.vertices()) out.push_back(v.name());
  return out;
}

TEST(JobBuilderTest, ChainsForwardOperatorsOfEqualParallelism) {
  JobBuilder job("chain", 4);
  job.source(NullSource<int64_t>())
      .map([](int64_t x) { return x * 2; })
      .filter([](int64_t x) { return x > 0; })
      .sink(NullSink<int64_t>());
  auto graph = job.ToJobGraph();
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_THAT(VertexNames(*graph), ElementsAre("Source -> Map -> Filter -> Sink"));
  EXPECT_EQ(graph->vertices(0).parallelism(), 4);
  EXPECT_EQ(graph->edges_size(), 0);
  EXPECT_TRUE(graph->bounded());
}

TEST(JobBuilderTest, KeyByBreaksTheChainWithAHashEdge) {
  JobBuilder job("keyed", 2);
  job.source(NullSource<std::string>())
      .map([](const std::string& s) { return std::pair<std::string, int64_t>(s, 1); })
      .key_by(&std::pair<std::string, int64_t>::first)
      .sum(&std::pair<std::string, int64_t>::second)
      .sink(NullSink<std::pair<std::string, int64_t>>());
  auto graph = job.ToJobGraph();
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_THAT(VertexNames(*graph), ElementsAre("Source -> Map", "Sum -> Sink"));
  ASSERT_EQ(graph->edges_size(), 1);
  EXPECT_EQ(graph->edges(0).partitioning(), job::HASH);
  EXPECT_EQ(graph->edges(0).source_vertex(), graph->vertices(0).id());
  EXPECT_EQ(graph->edges(0).target_vertex(), graph->vertices(1).id());
}

TEST(JobBuilderTest, KeyedStreamsOfPlainNumbersSumAndCount) {
  JobBuilder job("numbers", 2);
  auto keyed = job.source(NullSource<int64_t>()).key_by([](int64_t x) { return x % 10; });
  keyed.sum().sink(NullSink<int64_t>("Sums"));
  keyed.count().sink(NullSink<std::pair<int64_t, int64_t>>("Counts"));
  auto graph = job.ToJobGraph();
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_THAT(VertexNames(*graph), ElementsAre("Source -> Count (key)", "Sum -> Sums", "Count -> Counts"));
}

TEST(JobBuilderTest, DifferentParallelismRebalancesByDefault) {
  JobBuilder job("rescale", 4);
  job.source(NullSource<int64_t>()).parallelism(1).map([](int64_t x) { return x; }).sink(
      NullSink<int64_t>());
  auto graph = job.ToJobGraph();
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_THAT(VertexNames(*graph), ElementsAre("Source", "Map -> Sink"));
  EXPECT_EQ(graph->vertices(0).parallelism(), 1);
  EXPECT_EQ(graph->vertices(1).parallelism(), 4);
  EXPECT_EQ(graph->edges(0).partitioning(), job::REBALANCE);
}

TEST(JobBuilderTest, ExplicitRebalanceAndBroadcastBreakChains) {
  JobBuilder job("explicit", 2);
  auto src = job.source(NullSource<int64_t>());
  src.rebalance().map([](int64_t x) { return x; }).broadcast().sink(NullSink<int64_t>());
  auto graph = job.ToJobGraph();
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_THAT(VertexNames(*graph), ElementsAre("Source", "Map", "Sink"));
  EXPECT_EQ(graph->edges(0).partitioning(), job::REBALANCE);
  EXPECT_EQ(graph->edges(1).partitioning(), job::BROADCAST);
}

TEST(JobBuilderTest, FanOutChainsEveryForwardConsumer) {
  JobBuilder job("fanout", 2);
  auto src = job.source(NullSource<int64_t>());
  src.map([](int64_t x) { return x + 1; }).sink(NullSink<int64_t>("A"));
  src.map([](int64_t x) { return x - 1; }).sink(NullSink<int64_t>("B"));
  auto graph = job.ToJobGraph();
  ASSERT_TRUE(graph.ok()) << graph.status();
  // The chain is a tree: both branches run in the source's task, nothing crosses the network.
  EXPECT_THAT(VertexNames(*graph), ElementsAre("Source -> Map -> A -> Map -> B"));
  EXPECT_EQ(graph->edges_size(), 0);
}

TEST(JobBuilderTest, UnionHasOneEdgePerInput) {
  JobBuilder job("union", 2);
  auto a = job.source(NullSource<int64_t>("A"));
  auto b = job.source(NullSource<int64_t>("B", /*bounded=*/false));
  a.union_with(b).sink(NullSink<int64_t>());
  auto graph = job.ToJobGraph();
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_THAT(VertexNames(*graph), ElementsAre("A", "B", "Union -> Sink"));
  EXPECT_EQ(graph->edges_size(), 2);
  EXPECT_FALSE(graph->bounded());  // one unbounded source makes the job streaming
}

TEST(JobBuilderTest, OperatorIdsAreDeterministicAndUidsUnique) {
  auto build = [](bool twice) {
    JobBuilder job("ids", 1);
    auto s = job.source(NullSource<int64_t>());
    s.uid("source-v1");
    auto m = s.map([](int64_t x) { return x; });
    if (twice) m.uid("source-v1");
    m.sink(NullSink<int64_t>());
    return job.ToJobGraph();
  };
  auto a = build(false), b = build(false);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->SerializeAsString(), b->SerializeAsString());
  auto dup = build(true);
  ASSERT_FALSE(dup.ok());
  EXPECT_THAT(std::string(dup.status().message()), HasSubstr("source-v1"));
}

TEST(JobBuilderTest, RejectsBadParallelism) {
  JobBuilder job("bad", 2);
  job.source(NullSource<int64_t>()).parallelism(500).sink(NullSink<int64_t>());
  auto graph = job.ToJobGraph();
  ASSERT_FALSE(graph.ok());
  EXPECT_THAT(std::string(graph.status().message()), HasSubstr("500"));
  JobBuilder empty("empty", 1);
  EXPECT_FALSE(empty.ToJobGraph().ok());
}

TEST(JobArgsTest, ParsesBothFormsAndNamesBadOnes) {
  auto args = JobArgs::Parse({"--input", "/a b", "--output=/x", "--verbose", "--n", "42"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->get("input"), "/a b");
  EXPECT_EQ(args->get("output"), "/x");
  EXPECT_EQ(args->get("verbose"), "true");
  EXPECT_EQ(args->get_int("n", 0), 42);
  EXPECT_EQ(args->get("missing", "dflt"), "dflt");
  EXPECT_THROW(args->require("missing"), std::invalid_argument);
  EXPECT_THROW(args->get_int("input", 0), std::invalid_argument);
  auto bad = JobArgs::Parse({"stray"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("stray"));
}

}  // namespace
}  // namespace eddy
