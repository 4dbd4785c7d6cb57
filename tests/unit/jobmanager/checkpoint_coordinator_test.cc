// The checkpoint coordinator's bookkeeping (trigger timing, acknowledgements, completion,
// retention, aborts, savepoints) and the mapping of checkpointed state onto subtasks at the
// same and at other parallelisms.
#include "jobmanager/checkpoint_coordinator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/key_hash.h"
#include "jobmanager/state_assignment.h"

namespace eddy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Clock = CheckpointCoordinator::Clock;
using namespace std::chrono_literals;

/// A job of two vertices: "src" (parallelism 2) -> "win" (parallelism `win_parallelism`).
job::JobGraph Graph(int win_parallelism = 2) {
  job::JobGraph g;
  g.set_name("g");
  g.set_max_parallelism(128);
  auto* src = g.add_vertices();
  src->set_id("src");
  src->set_parallelism(2);
  src->add_operator_ids("src");
  auto* win = g.add_vertices();
  win->set_id("win");
  win->set_parallelism(win_parallelism);
  win->add_operator_ids("win");
  win->add_operator_ids("sink");
  for (const char* id : {"src", "win", "sink"}) g.add_operators()->set_id(id);
  auto* e = g.add_edges();
  e->set_source_vertex("src");
  e->set_target_vertex("win");
  return g;
}

CheckpointSettings Settings() {
  CheckpointSettings s;
  s.interval = 1000ms;
  s.timeout = 5000ms;
  s.dir = "file:///chk";
  s.savepoint_dir = "file:///sp";
  s.num_retained = 2;
  return s;
}

rpc::AcknowledgeCheckpointRequest Ack(int64_t id, const std::string& vertex, int subtask) {
  rpc::AcknowledgeCheckpointRequest ack;
  ack.set_checkpoint_id(id);
  ack.set_vertex_id(vertex);
  ack.set_subtask(subtask);
  ack.set_state_size(10);
  for (const std::string& op : vertex == "src" ? std::vector<std::string>{"src"}
                                               : std::vector<std::string>{"win", "sink"}) {
    auto* s = ack.mutable_state()->add_operators();
    s->set_operator_id(op);
    s->add_operator_state(op + "-" + std::to_string(subtask));
    if (op == "win") {
      KeyGroupRange r = KeyGroupRangeFor(subtask, 128, 2);
      auto* h = s->add_keyed();
      h->set_first_key_group(r.start);
      h->set_last_key_group(r.end);
      h->set_uri("win-" + std::to_string(subtask) + ".state");
    }
  }
  return ack;
}

/// Acknowledges checkpoint `id` from all four subtasks; returns the last outcome.
CheckpointCoordinator::AckOutcome AckAll(CheckpointCoordinator& cc, int64_t id) {
  CheckpointCoordinator::AckOutcome last = CheckpointCoordinator::AckOutcome::kIgnored;
  for (const char* v : {"src", "win"}) {
    for (int i = 0; i < 2; ++i) last = cc.Acknowledge(Ack(id, v, i), 100);
  }
  return last;
}

TEST(CheckpointCoordinatorTest, TriggersEveryIntervalOneAtATimeAndCompletesWhenAllAcknowledged) {
  CheckpointCoordinator cc("job1", Settings(), 4);
  const auto t0 = Clock::now();
  EXPECT_FALSE(cc.MaybeTrigger(t0, 0));  // the first one an interval after the start
  auto first = cc.MaybeTrigger(t0 + 1000ms, 1000);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->checkpoint_id(), 1);
  EXPECT_TRUE(first->exactly_once());
  EXPECT_EQ(first->location(), "file:///chk/job1/chk-1");
  EXPECT_FALSE(cc.MaybeTrigger(t0 + 5000ms, 5000)) << "one at a time";

  EXPECT_EQ(cc.Acknowledge(Ack(1, "src", 0), 10), CheckpointCoordinator::AckOutcome::kPending);
  EXPECT_EQ(cc.Acknowledge(Ack(1, "src", 0), 10), CheckpointCoordinator::AckOutcome::kIgnored)
      << "a duplicate";
  EXPECT_EQ(cc.Acknowledge(Ack(7, "src", 1), 10), CheckpointCoordinator::AckOutcome::kIgnored)
      << "another checkpoint";
  EXPECT_EQ(cc.Acknowledge(Ack(1, "src", 1), 10), CheckpointCoordinator::AckOutcome::kPending);
  EXPECT_EQ(cc.Acknowledge(Ack(1, "win", 0), 10), CheckpointCoordinator::AckOutcome::kPending);
  EXPECT_EQ(cc.Acknowledge(Ack(1, "win", 1), 10),
            CheckpointCoordinator::AckOutcome::kAllAcknowledged);

  const checkpoint::CheckpointMetadata m = cc.BuildMetadata(Graph());
  EXPECT_EQ(m.checkpoint_id(), 1);
  EXPECT_EQ(m.max_parallelism(), 128);
  ASSERT_EQ(m.operators_size(), 3);
  EXPECT_EQ(m.operators(1).operator_id(), "win");
  ASSERT_EQ(m.operators(1).subtasks_size(), 2);
  EXPECT_EQ(m.operators(1).subtasks(1).operator_state(0), "win-1");
  EXPECT_EQ(m.operators(1).subtasks(1).keyed(0).uri(), "win-1.state");

  std::vector<std::string> discard;
  EXPECT_TRUE(cc.OnMetadataWritten(1, absl::OkStatus(), m, 1250, &discard, &discard));
  EXPECT_TRUE(discard.empty());
  ASSERT_NE(cc.latest(), nullptr);
  EXPECT_EQ(cc.latest()->metadata.checkpoint_id(), 1);
  EXPECT_EQ(cc.latest()->location, "file:///chk/job1/chk-1");
  const nlohmann::json stats = cc.StatsJson();
  EXPECT_EQ(stats["counts"]["completed"], 1);
  EXPECT_EQ(stats["latest"]["completed"]["id"], 1);
  EXPECT_EQ(stats["latest"]["completed"]["status"], "COMPLETED");
  EXPECT_EQ(stats["latest"]["completed"]["num_acknowledged_subtasks"], 4);
  EXPECT_EQ(stats["latest"]["completed"]["state_size"], 40);
  EXPECT_EQ(stats["history"][0]["end_to_end_duration"], 250);
}

TEST(CheckpointCoordinatorTest, KeepsNumRetainedAndNamesTheOlderOnesToDelete) {
  CheckpointCoordinator cc("j", Settings(), 4);
  auto t = Clock::now();
  std::vector<std::string> discard;
  for (int64_t id = 1; id <= 3; ++id) {
    t += 1000ms;
    ASSERT_TRUE(cc.MaybeTrigger(t, 0));
    ASSERT_EQ(AckAll(cc, id), CheckpointCoordinator::AckOutcome::kAllAcknowledged);
    ASSERT_TRUE(cc.OnMetadataWritten(id, absl::OkStatus(), cc.BuildMetadata(Graph()), 0, &discard, &discard));
  }
  EXPECT_THAT(discard, ElementsAre("file:///chk/j/chk-1"));
  EXPECT_THAT(cc.RetainedCheckpointLocations(),
              ElementsAre("file:///chk/j/chk-2", "file:///chk/j/chk-3"));
}

TEST(CheckpointCoordinatorTest, TimeoutsAndFailedWritesAbortAndTheJobFailsOnlyPastTheTolerance) {
  CheckpointSettings s = Settings();
  s.tolerable_failures = 1;
  s.min_pause = 3000ms;
  CheckpointCoordinator cc("j", s, 4);
  const auto t0 = Clock::now();
  ASSERT_TRUE(cc.MaybeTrigger(t0 + 1000ms, 0));
  EXPECT_EQ(cc.AbortIfExpired(t0 + 2000ms, 0), 0);
  EXPECT_EQ(cc.AbortIfExpired(t0 + 6000ms, 0), 1);
  EXPECT_FALSE(cc.TooManyFailures());
  EXPECT_THAT(cc.StatsJson()["latest"]["failed"]["failure_message"].get<std::string>(),
              HasSubstr("expired"));
  // min-pause counts from the end of the failed one.
  const auto after = Clock::now();
  EXPECT_FALSE(cc.MaybeTrigger(after + 1000ms, 0));
  auto second = cc.MaybeTrigger(after + 3500ms, 0);
  ASSERT_TRUE(second);
  ASSERT_EQ(AckAll(cc, second->checkpoint_id()), CheckpointCoordinator::AckOutcome::kAllAcknowledged);
  std::vector<std::string> discard;
  EXPECT_FALSE(cc.OnMetadataWritten(second->checkpoint_id(),
                                    absl::UnavailableError("bucket b key k: connection refused"),
                                    cc.BuildMetadata(Graph()), 0, &discard, &discard));
  EXPECT_TRUE(cc.TooManyFailures()) << "two failures in a row, one tolerated";
  EXPECT_EQ(cc.latest(), nullptr);
  EXPECT_EQ(cc.StatsJson()["counts"]["failed"], 2);
}

TEST(CheckpointCoordinatorTest, SavepointsGoFirstAndAStopSavepointAsksToStop) {
  CheckpointCoordinator cc("jobabcdef", Settings(), 4);
  auto none = cc.RequestSavepoint("", false);
  ASSERT_TRUE(none.ok());
  auto stop = cc.RequestSavepoint("s3://bucket/sp", true);
  ASSERT_TRUE(stop.ok());
  const auto t0 = Clock::now();
  auto first = cc.MaybeTrigger(t0, 0);  // no interval wait for savepoints
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->is_savepoint());
  EXPECT_THAT(first->location(), HasSubstr("file:///sp/savepoint-jobabc-"));
  EXPECT_EQ(cc.SavepointStatusJson(*none)->at("status").at("id"), "IN_PROGRESS");
  ASSERT_EQ(AckAll(cc, 1), CheckpointCoordinator::AckOutcome::kAllAcknowledged);
  std::vector<std::string> discard;
  ASSERT_TRUE(cc.OnMetadataWritten(1, absl::OkStatus(), cc.BuildMetadata(Graph()), 0, &discard, &discard));
  EXPECT_FALSE(cc.TakeStopRequest(1));
  EXPECT_EQ(cc.SavepointStatusJson(*none)->at("operation").at("location"), first->location());
  auto second = cc.MaybeTrigger(t0, 0);
  ASSERT_TRUE(second);
  EXPECT_THAT(second->location(), HasSubstr("s3://bucket/sp/savepoint-"));
  ASSERT_EQ(AckAll(cc, 2), CheckpointCoordinator::AckOutcome::kAllAcknowledged);
  ASSERT_TRUE(cc.OnMetadataWritten(2, absl::OkStatus(), cc.BuildMetadata(Graph()), 0, &discard, &discard));
  EXPECT_TRUE(cc.TakeStopRequest(2));
  EXPECT_TRUE(discard.empty()) << "savepoints are never deleted";
  EXPECT_FALSE(cc.SavepointStatusJson("nope").ok());

  CheckpointSettings no_dir = Settings();
  no_dir.savepoint_dir.clear();
  CheckpointCoordinator without("j", no_dir, 4);
  EXPECT_THAT(std::string(without.RequestSavepoint("", false).status().message()),
              HasSubstr("state.savepoints.dir"));
}

checkpoint::CheckpointMetadata CompletedMetadata() {
  CheckpointCoordinator cc("j", Settings(), 4);
  cc.MaybeTrigger(Clock::now() + 1000ms, 0);
  AckAll(cc, 1);
  return cc.BuildMetadata(Graph());
}

TEST(CheckpointCoordinatorTest, ADrainedSavepointIsTheFinalCheckpointAndIsRetriedUntilItCompletes) {
  CheckpointSettings settings = Settings();
  settings.interval = 0ms;  // also without periodic checkpoints
  CheckpointCoordinator cc("jobabcdef", settings, 4);
  auto drain = cc.RequestSavepoint("", true, /*drain=*/true);
  ASSERT_TRUE(drain.ok());
  EXPECT_TRUE(cc.drain_requested());
  EXPECT_FALSE(cc.RequestSavepoint("", true, true).ok()) << "one drain at a time";
  const auto t0 = Clock::now();
  EXPECT_FALSE(cc.MaybeTrigger(t0 + 10s, 0)) << "not before every source ended";
  auto first = cc.MaybeTrigger(t0 + 10s, 0, /*final=*/true);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->is_savepoint());
  EXPECT_TRUE(first->shared_location().empty()) << "self-contained";
  EXPECT_THAT(first->location(), HasSubstr("file:///sp/savepoint-jobabc-"));
  ASSERT_EQ(cc.Abort(first->checkpoint_id(), "storage down", 0), first->checkpoint_id());
  EXPECT_EQ(cc.SavepointStatusJson(*drain)->at("status").at("id"), "IN_PROGRESS")
      << "the drained tasks wait: it is taken again";
  auto second = cc.MaybeTrigger(t0 + 10s, 0, true);
  ASSERT_TRUE(second);
  ASSERT_EQ(AckAll(cc, second->checkpoint_id()), CheckpointCoordinator::AckOutcome::kAllAcknowledged);
  std::vector<std::string> discard;
  bool final = false;
  ASSERT_TRUE(cc.OnMetadataWritten(second->checkpoint_id(), absl::OkStatus(),
                                   cc.BuildMetadata(Graph()), 0, &discard, &discard, &final));
  EXPECT_TRUE(final);
  EXPECT_EQ(cc.final_completed(), second->checkpoint_id()) << "the tasks finish";
  EXPECT_FALSE(cc.TakeStopRequest(second->checkpoint_id())) << "the job finishes by itself";
  EXPECT_FALSE(cc.drain_requested());
  EXPECT_EQ(cc.SavepointStatusJson(*drain)->at("operation").at("location"), second->location());
}

TEST(CheckpointCoordinatorTest, AStopWithDrainFailsAfterThreeFailedSavepoints) {
  CheckpointCoordinator cc("j", Settings(), 4);
  auto drain = cc.RequestSavepoint("", true, /*drain=*/true);
  ASSERT_TRUE(drain.ok());
  auto t = Clock::now();
  for (int attempt = 1; attempt <= 3; ++attempt) {
    t += 10s;  // past the pause between attempts
    auto options = cc.MaybeTrigger(t, 0, /*final=*/true);
    ASSERT_TRUE(options) << "attempt " << attempt;
    EXPECT_TRUE(options->is_savepoint());
    EXPECT_FALSE(cc.TakeDrainFailure());
    cc.Abort(options->checkpoint_id(), "bucket b: access denied", 0);
  }
  auto failure = cc.TakeDrainFailure();
  ASSERT_TRUE(failure);
  EXPECT_THAT(*failure, HasSubstr("3 times"));
  EXPECT_THAT(*failure, HasSubstr("access denied"));
  EXPECT_FALSE(cc.TakeDrainFailure()) << "reported once";
  EXPECT_FALSE(cc.drain_requested());
  EXPECT_EQ(cc.SavepointStatusJson(*drain)->at("status").at("id"), "COMPLETED");
  EXPECT_THAT(cc.SavepointStatusJson(*drain)->dump(), HasSubstr("access denied"));
}

/// An acknowledgement of subtask `subtask` of "win" whose keyed state is native, with shared
/// files `uploaded` (written by this checkpoint) and `referenced` (an earlier one's).
rpc::AcknowledgeCheckpointRequest NativeAck(int64_t id, int subtask,
                                            std::vector<std::string> uploaded,
                                            std::vector<std::string> referenced) {
  rpc::AcknowledgeCheckpointRequest ack = Ack(id, "win", subtask);
  auto* handle = ack.mutable_state()->mutable_operators(0)->mutable_keyed(0);
  handle->clear_uri();
  auto* native = handle->mutable_native();
  native->set_backend("rocksdb");
  for (const auto& f : uploaded) {
    auto* file = native->add_shared();
    file->set_uri("file:///chk/j/shared/" + f);
    file->set_uploaded(true);
  }
  for (const auto& f : referenced) native->add_shared()->set_uri("file:///chk/j/shared/" + f);
  auto* own = native->add_private_files();  // the checkpoint's own file: never counted
  own->set_uri("own-MANIFEST");
  own->set_uploaded(true);
  return ack;
}

TEST(CheckpointCoordinatorTest, SharedFilesAreDeletedWhenNoRetainedCheckpointRefersToThem) {
  using Outcome = CheckpointCoordinator::AckOutcome;
  CheckpointSettings settings = Settings();
  settings.num_retained = 1;
  CheckpointCoordinator cc("j", settings, 2);
  auto t = Clock::now();
  std::vector<std::string> dirs, files;
  auto run = [&](int64_t id, rpc::AcknowledgeCheckpointRequest a,
                 rpc::AcknowledgeCheckpointRequest b) {
    t += 1000ms;
    auto options = cc.MaybeTrigger(t, 0);
    ASSERT_TRUE(options);
    EXPECT_EQ(options->shared_location(), "file:///chk/j/shared");
    ASSERT_EQ(options->checkpoint_id(), id);
    ASSERT_EQ(cc.Acknowledge(a, 0, &files), Outcome::kPending);
    ASSERT_EQ(cc.Acknowledge(b, 0, &files), Outcome::kAllAcknowledged);
    ASSERT_TRUE(cc.OnMetadataWritten(id, absl::OkStatus(), cc.BuildMetadata(Graph()), 0, &dirs,
                                     &files));
  };
  const std::string shared = "file:///chk/j/shared/";
  run(1, NativeAck(1, 0, {"a", "b"}, {}), NativeAck(1, 1, {"c"}, {}));
  EXPECT_TRUE(files.empty());
  EXPECT_EQ(cc.SharedFileReferences(shared + "a"), 1);
  // 2 keeps a and c, drops b (compacted away), adds d; 1 is no longer retained.
  run(2, NativeAck(2, 0, {"d"}, {"a"}), NativeAck(2, 1, {}, {"c"}));
  EXPECT_THAT(dirs, ElementsAre("file:///chk/j/chk-1"));
  EXPECT_THAT(files, ElementsAre(shared + "b"));
  EXPECT_EQ(cc.SharedFileReferences(shared + "a"), 1);
  EXPECT_EQ(cc.SharedFileReferences("own-MANIFEST"), 0);
  files.clear();

  // An aborted checkpoint's new files go; what it referred to stays.
  t += 1000ms;
  ASSERT_TRUE(cc.MaybeTrigger(t, 0));
  ASSERT_EQ(cc.Acknowledge(NativeAck(3, 0, {"e"}, {"a", "d"}), 0, &files), Outcome::kPending);
  EXPECT_EQ(cc.SharedFileReferences(shared + "a"), 2);
  ASSERT_EQ(cc.Abort(3, "declined", 0, &files), 3);
  EXPECT_THAT(files, ElementsAre(shared + "e"));
  EXPECT_EQ(cc.SharedFileReferences(shared + "a"), 1);
  files.clear();
  // Its other subtask acknowledges late: the files it uploaded are deleted.
  EXPECT_EQ(cc.Acknowledge(NativeAck(3, 1, {"f"}, {"c"}), 0, &files), Outcome::kIgnored);
  EXPECT_THAT(files, ElementsAre(shared + "f"));
  files.clear();

  // Referring to a file no retained checkpoint holds (b was deleted) fails the checkpoint.
  t += 1000ms;
  ASSERT_TRUE(cc.MaybeTrigger(t, 0));
  EXPECT_EQ(cc.Acknowledge(NativeAck(4, 0, {"g"}, {"b"}), 0, &files), Outcome::kRejected);
  ASSERT_EQ(cc.Abort(4, "dangling", 0, &files), 4);
  EXPECT_THAT(files, ::testing::UnorderedElementsAre(shared + "g", shared + "b"));
  EXPECT_EQ(cc.SharedFileReferences(shared + "d"), 1);
}

TEST(StateAssignmentTest, SameParallelismGivesEachSubtaskItsOwnState) {
  const auto m = CompletedMetadata();
  const job::JobGraph g = Graph(2);
  const checkpoint::TaskRestore r = AssignState(m, g, g.vertices(1), 1);
  EXPECT_EQ(r.checkpoint_id(), 1);
  ASSERT_EQ(r.operators_size(), 2);
  EXPECT_EQ(r.operators(0).operator_id(), "win");
  ASSERT_EQ(r.operators(0).keyed_size(), 1);
  EXPECT_EQ(r.operators(0).keyed(0).uri(), "win-1.state");
  EXPECT_THAT(r.operators(0).operator_state(), ElementsAre("win-1"));
}

TEST(StateAssignmentTest, RescalingHandsOverlappingKeyedStateAndDealsOperatorState) {
  const auto m = CompletedMetadata();
  // 2 -> 3: subtask 1 covers key groups 43..85, which overlap both old halves.
  const job::JobGraph up = Graph(3);
  const checkpoint::TaskRestore mid = AssignState(m, up, up.vertices(1), 1);
  ASSERT_EQ(mid.operators(0).keyed_size(), 2);
  EXPECT_THAT(mid.operators(0).operator_state(), ElementsAre("win-1"));
  const checkpoint::TaskRestore first = AssignState(m, up, up.vertices(1), 0);
  ASSERT_EQ(first.operators(0).keyed_size(), 1);
  EXPECT_EQ(first.operators(0).keyed(0).uri(), "win-0.state");
  EXPECT_THAT(first.operators(0).operator_state(), ElementsAre("win-0"));
  EXPECT_TRUE(AssignState(m, up, up.vertices(1), 2).operators(0).operator_state().empty());
  // 2 -> 1: everything.
  const job::JobGraph down = Graph(1);
  const checkpoint::TaskRestore all = AssignState(m, down, down.vertices(1), 0);
  EXPECT_EQ(all.operators(0).keyed_size(), 2);
  EXPECT_THAT(all.operators(1).operator_state(), ElementsAre("sink-0", "sink-1"));
}

TEST(StateAssignmentTest, UnionStateGoesToEverySubtaskOnceAtAnyParallelism) {
  auto m = CompletedMetadata();
  // Both old subtasks of "win" know file a; each knows one more.
  checkpoint::OperatorState* win = nullptr;
  for (auto& op : *m.mutable_operators()) win = op.operator_id() == "win" ? &op : win;
  ASSERT_NE(win, nullptr);
  for (int subtask = 0; subtask < 2; ++subtask) {
    auto* s = win->mutable_subtasks(subtask);
    s->add_union_state("a");
    s->add_union_state(subtask == 0 ? "b" : "c");
  }
  for (int parallelism : {1, 2, 3}) {
    const job::JobGraph g = Graph(parallelism);
    for (int subtask = 0; subtask < parallelism; ++subtask) {
      const checkpoint::TaskRestore r = AssignState(m, g, g.vertices(1), subtask);
      ASSERT_EQ(r.operators(0).operator_id(), "win");
      EXPECT_THAT(r.operators(0).union_state(), ElementsAre("a", "b", "c"))
          << "subtask " << subtask << " of " << parallelism;
      EXPECT_TRUE(r.operators(1).union_state().empty());
    }
  }
}

TEST(StateAssignmentTest, ChecksMaxParallelismAndOperatorsThatAreGone) {
  auto m = CompletedMetadata();
  job::JobGraph g = Graph();
  EXPECT_TRUE(CheckRestorable(m, g, false, "/sp").ok());
  job::JobGraph renamed = g;
  renamed.mutable_vertices(1)->set_operator_ids(0, "win2");
  renamed.mutable_operators(1)->set_id("win2");
  absl::Status s = CheckRestorable(m, renamed, false, "/sp");
  EXPECT_THAT(std::string(s.message()), HasSubstr("operator 'win'"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("--allow-non-restored-state"));
  EXPECT_TRUE(CheckRestorable(m, renamed, true, "/sp").ok());
  job::JobGraph other = g;
  other.set_max_parallelism(256);
  EXPECT_THAT(std::string(CheckRestorable(m, other, true, "/sp").message()),
              HasSubstr("max parallelism 128"));
}

}  // namespace
}  // namespace eddy
