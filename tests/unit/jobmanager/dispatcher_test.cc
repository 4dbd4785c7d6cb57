// Dispatcher against fake TaskManagers (real RPC servers on loopback that record what they
// are sent): attempts, stale reports, restarts, cancel in RESTARTING, the job store bound,
// the archive of terminal jobs, and a hung TaskManager that must not stall deployments to
// others.
#include "jobmanager/dispatcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/rpc/rpc_server.h"
#include "tests/support/process.h"
#include "tests/support/stderr_capture.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using testing::WaitUntil;
using namespace std::chrono_literals;

/// A TaskManager's RPC side that only records requests.
class FakeTaskManager {
 public:
  explicit FakeTaskManager(boost::asio::io_context& io) : server_(io, {}, "fake-tm") {
    server_.Register<rpc::SubmitTasksRequest, rpc::SubmitTasksResponse>(
        "SubmitTasks", [this](const rpc::CallContext&, const rpc::SubmitTasksRequest& r)
                           -> absl::StatusOr<rpc::SubmitTasksResponse> {
          std::lock_guard<std::mutex> lock(mu_);
          submits_.push_back(r);
          log_.push_back("SubmitTasks " + std::to_string(r.tasks(0).attempt()));
          return rpc::SubmitTasksResponse();
        });
    for (const char* method : {"CancelJob", "ReleaseJob"}) {
      server_.Register<rpc::JobRequest, rpc::JobResponse>(
          method, [this, method](const rpc::CallContext&,
                                 const rpc::JobRequest& r) -> absl::StatusOr<rpc::JobResponse> {
            std::lock_guard<std::mutex> lock(mu_);
            log_.push_back(std::string(method) + " " + std::to_string(r.attempt()));
            return rpc::JobResponse();
          });
    }
    port_ = *server_.Listen("127.0.0.1", 0);
  }
  ~FakeTaskManager() { server_.Stop(); }
  uint16_t port() const { return port_; }
  std::vector<rpc::SubmitTasksRequest> submits() {
    std::lock_guard<std::mutex> lock(mu_);
    return submits_;
  }
  std::vector<std::string> log() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }

 private:
  // The handlers write these: they outlive the server, which is destroyed (stopped) first.
  std::mutex mu_;
  std::vector<rpc::SubmitTasksRequest> submits_;
  std::vector<std::string> log_;
  uint16_t port_ = 0;
  rpc::RpcServer server_;
};

job::JobGraph OneVertexGraph(int parallelism = 1) {
  job::JobGraph g;
  g.set_name("one");
  g.set_max_parallelism(128);
  auto* op = g.add_operators();
  op->set_id("op0");
  op->set_kind("source");
  auto* v = g.add_vertices();
  v->set_id("op0");
  v->set_name("Source");
  v->set_parallelism(parallelism);
  v->add_operator_ids("op0");
  return g;
}

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest() : work_(io_.get_executor()), registry_(std::chrono::hours(1)) {
    io_thread_ = std::thread([this] { io_.run(); });
  }
  ~DispatcherTest() override {
    if (dispatcher_) dispatcher_->Stop();
    work_.reset();
    io_.stop();
    io_thread_.join();
  }

  void StartDispatcher(const std::vector<std::string>& settings) {
    Dispatcher::Options options;
    options.rpc_timeout = 2s;
    options.slot_request_timeout = 1h;
    for (const auto& s : settings) ASSERT_TRUE(options.config.ApplyOverride(s).ok()) << s;
    dispatcher_ = std::make_unique<Dispatcher>(io_, registry_, options);
    dispatcher_->Start();
  }

  void AddTaskManager(const std::string& id, uint16_t rpc_port, int slots = 1) {
    TaskManagerInfo info;
    info.id = TaskManagerId(id);
    info.host = "127.0.0.1";
    info.rpc_port = rpc_port;
    info.data_port = 1;
    info.slots_total = slots;
    ASSERT_TRUE(registry_.Register(info, TaskManagerRegistry::Clock::now()).ok());
  }

  rpc::TaskReport Report(const std::string& job, rpc::ExecutionState state, int attempt) {
    rpc::TaskReport r;
    r.set_job_id(job);
    r.set_vertex_id("op0");
    r.set_subtask(0);
    r.set_state(state);
    r.set_attempt(attempt);
    r.set_current_input_watermark(INT64_MIN);
    if (state == rpc::FAILED) r.set_failure("boom in attempt " + std::to_string(attempt));
    return r;
  }

  std::string State(const std::string& job) { return (*dispatcher_->JobJson(job))["state"]; }

  /// Submits a one-vertex job that `tm` (registered as `tm_id`) runs to FINISHED, with
  /// watermark 1234; returns its id.
  std::string RunJobToFinished(FakeTaskManager& tm, const std::string& tm_id) {
    const size_t before = tm.submits().size();
    auto job = dispatcher_->Submit(OneVertexGraph());
    if (!job.ok()) {
      ADD_FAILURE() << job.status();
      return "";
    }
    EXPECT_TRUE(WaitUntil([&] { return tm.submits().size() == before + 1; }, 5s));
    dispatcher_->OnTaskReport(TaskManagerId(tm_id), Report(*job, rpc::RUNNING, 0));
    auto finished = Report(*job, rpc::FINISHED, 0);
    finished.set_current_input_watermark(1234);
    dispatcher_->OnTaskReport(TaskManagerId(tm_id), finished);
    EXPECT_EQ(State(*job), "FINISHED");
    return *job;
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread io_thread_;
  TaskManagerRegistry registry_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(DispatcherTest, RestartsWithTheNextAttemptAndIgnoresStaleReports) {
  FakeTaskManager tm(io_);
  AddTaskManager("tm-a", tm.port());
  StartDispatcher({"restart-strategy=fixed-delay", "restart-strategy.fixed-delay.attempts=2",
                   "restart-strategy.fixed-delay.delay=200ms"});
  auto job = dispatcher_->Submit(OneVertexGraph());
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(WaitUntil([&] { return tm.submits().size() == 1; }, 5s));
  EXPECT_EQ(tm.submits()[0].tasks(0).attempt(), 0);
  const TaskManagerId a("tm-a");
  EXPECT_EQ(dispatcher_->OnTaskReport(a, Report(*job, rpc::RUNNING, 0)),
            Dispatcher::ReportOutcome::kApplied);
  EXPECT_EQ(State(*job), "RUNNING");

  dispatcher_->OnTaskReport(a, Report(*job, rpc::FAILED, 0));
  EXPECT_EQ(State(*job), "RESTARTING");
  EXPECT_EQ(registry_.free_slots(), 1) << "slots are returned while restarting";
  ASSERT_TRUE(WaitUntil([&] { return tm.submits().size() == 2; }, 5s));
  EXPECT_EQ(tm.submits()[1].tasks(0).attempt(), 1);
  EXPECT_EQ(tm.log(), (std::vector<std::string>{"SubmitTasks 0", "CancelJob 0", "ReleaseJob 0",
                                                "SubmitTasks 1"}));
  auto json = *dispatcher_->JobJson(*job);
  EXPECT_EQ(json["state"], "RUNNING");
  EXPECT_EQ(json["numRestarts"], 1);

  // A late report of attempt 0, and one from a TaskManager not running attempt 1.
  EXPECT_EQ(dispatcher_->OnTaskReport(a, Report(*job, rpc::FAILED, 0)),
            Dispatcher::ReportOutcome::kIgnored);
  EXPECT_EQ(dispatcher_->OnTaskReport(TaskManagerId("tm-other"), Report(*job, rpc::FAILED, 1)),
            Dispatcher::ReportOutcome::kIgnored);
  EXPECT_EQ(State(*job), "RUNNING");
  // A task of attempt 0 that still runs (its TaskManager missed the cancel) is cancelled
  // again, for attempt 0 only.
  EXPECT_EQ(dispatcher_->OnTaskReport(a, Report(*job, rpc::RUNNING, 0)),
            Dispatcher::ReportOutcome::kIgnored);
  ASSERT_TRUE(WaitUntil([&] { return tm.log().size() == 5; }, 5s));
  EXPECT_EQ(tm.log().back(), "CancelJob 0");

  auto finished = Report(*job, rpc::FINISHED, 1);
  finished.set_current_input_watermark(1234);
  dispatcher_->OnTaskReport(a, finished);
  json = *dispatcher_->JobJson(*job);
  EXPECT_EQ(json["state"], "FINISHED");
  EXPECT_EQ(json["vertices"][0]["watermark"], 1234);
  EXPECT_EQ(registry_.free_slots(), 1);
  auto watermarks = *dispatcher_->WatermarksJson(*job, "op0");
  EXPECT_EQ(watermarks.dump(), R"([{"id":"0.currentInputWatermark","value":"1234"}])");
  auto exceptions = *dispatcher_->ExceptionsJson(*job);
  ASSERT_EQ(exceptions["exceptionHistory"]["entries"].size(), 1u);
  EXPECT_EQ(exceptions["exceptionHistory"]["entries"][0]["stacktrace"], "boom in attempt 0");
  EXPECT_EQ(exceptions["exceptionHistory"]["entries"][0]["taskManagerId"], "tm-a");
  EXPECT_EQ(exceptions["exceptionHistory"]["entries"][0]["location"], "tm-a (127.0.0.1)");
  EXPECT_EQ(exceptions["exceptionHistory"]["entries"][0]["taskName"], "Source (1/1)");
  EXPECT_EQ(dispatcher_->OnTaskReport(a, Report("no-such-job", rpc::RUNNING, 0)),
            Dispatcher::ReportOutcome::kUnknownJob);
}

TEST_F(DispatcherTest, AttemptsExhaustedOrNoneFailsTheJobNamingTheLostTaskManager) {
  FakeTaskManager tm(io_);
  AddTaskManager("tm-a", tm.port());
  StartDispatcher({"restart-strategy=none"});
  auto job = dispatcher_->Submit(OneVertexGraph());
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(WaitUntil([&] { return tm.submits().size() == 1; }, 5s));
  dispatcher_->OnTaskReport(TaskManagerId("tm-a"), Report(*job, rpc::RUNNING, 0));
  dispatcher_->OnTaskManagerLost(TaskManagerId("tm-a"), "127.0.0.1", "its control connection closed");
  EXPECT_EQ(State(*job), "FAILED");
  auto exceptions = *dispatcher_->ExceptionsJson(*job);
  EXPECT_THAT(exceptions["root-exception"].get<std::string>(),
              HasSubstr("TaskManager tm-a at 127.0.0.1 was lost: its control connection closed"));
}

TEST_F(DispatcherTest, ALossNoticedAfterATaskFailureStillEntersTheHistory) {
  FakeTaskManager tm(io_);
  AddTaskManager("tm-a", tm.port());
  StartDispatcher({"restart-strategy=fixed-delay", "restart-strategy.fixed-delay.delay=1h"});
  auto job = dispatcher_->Submit(OneVertexGraph());
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(WaitUntil([&] { return tm.submits().size() == 1; }, 5s));
  // A consumer saw the broken connection first; the TaskManager's loss comes second.
  dispatcher_->OnTaskReport(TaskManagerId("tm-a"), Report(*job, rpc::FAILED, 0));
  EXPECT_EQ(State(*job), "RESTARTING");
  dispatcher_->OnTaskManagerLost(TaskManagerId("tm-a"), "127.0.0.1", "its control connection closed");
  EXPECT_EQ(State(*job), "RESTARTING");
  auto entries = (*dispatcher_->ExceptionsJson(*job))["exceptionHistory"]["entries"];
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_THAT(entries[0]["stacktrace"].get<std::string>(), HasSubstr("TaskManager tm-a"));
  EXPECT_EQ(entries[1]["stacktrace"], "boom in attempt 0");
}

TEST_F(DispatcherTest, CancelWhileRestartingEndsCanceledWithSlotsReturned) {
  FakeTaskManager tm(io_);
  AddTaskManager("tm-a", tm.port(), 2);
  StartDispatcher({"restart-strategy=fixed-delay", "restart-strategy.fixed-delay.delay=1h"});
  auto job = dispatcher_->Submit(OneVertexGraph());
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(WaitUntil([&] { return tm.submits().size() == 1; }, 5s));
  EXPECT_EQ(registry_.free_slots(), 1);
  dispatcher_->OnTaskReport(TaskManagerId("tm-a"), Report(*job, rpc::FAILED, 0));
  EXPECT_EQ(State(*job), "RESTARTING");
  ASSERT_TRUE(dispatcher_->Cancel(*job).ok());
  EXPECT_EQ(State(*job), "CANCELED");
  EXPECT_EQ(registry_.free_slots(), 2);
}

TEST_F(DispatcherTest, CancelOfARunningJobShowsCancelling) {
  FakeTaskManager tm(io_);
  AddTaskManager("tm-a", tm.port());
  StartDispatcher({});
  auto job = dispatcher_->Submit(OneVertexGraph());
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(WaitUntil([&] { return tm.submits().size() == 1; }, 5s));
  ASSERT_TRUE(dispatcher_->Cancel(*job).ok());
  EXPECT_EQ(State(*job), "CANCELLING");
  dispatcher_->OnTaskReport(TaskManagerId("tm-a"), Report(*job, rpc::CANCELED, 0));
  EXPECT_EQ(State(*job), "CANCELED");
  EXPECT_EQ(registry_.free_slots(), 1);
}

TEST_F(DispatcherTest, RefusesBadGraphsAndBadJobConfig) {
  StartDispatcher({});
  auto g = OneVertexGraph();
  g.mutable_vertices(0)->set_parallelism(0);
  auto job = dispatcher_->Submit(g);
  EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(job.status().message()), HasSubstr("vertices[0].parallelism: 0"));
  g = OneVertexGraph();
  (*g.mutable_config())["restart-strategy.fixed-delay.atempts"] = "3";
  job = dispatcher_->Submit(g);
  EXPECT_THAT(std::string(job.status().message()),
              HasSubstr("unknown config key 'restart-strategy.fixed-delay.atempts' (did you mean "
                        "'restart-strategy.fixed-delay.attempts'?)"));
  EXPECT_EQ(dispatcher_->job_count(), 0u);
}

TEST_F(DispatcherTest, JobStoreKeepsAtMostMaxCapacityTerminalJobs) {
  StartDispatcher({"jobstore.max-capacity=10"});
  std::string last;
  for (int i = 0; i < 1000; ++i) {
    auto job = dispatcher_->Submit(OneVertexGraph());  // no TaskManagers: stays CREATED
    ASSERT_TRUE(job.ok());
    ASSERT_TRUE(dispatcher_->Cancel(*job).ok());
    last = *job;
  }
  ASSERT_TRUE(WaitUntil([&] { return dispatcher_->job_count() <= 10; }, 5s))
      << dispatcher_->job_count();
  EXPECT_TRUE(dispatcher_->JobJson(last).ok()) << "the newest jobs are kept";
  EXPECT_EQ(dispatcher_->JobsJson()["jobs"].size(), dispatcher_->job_count());
}

TEST_F(DispatcherTest, JobStoreExpiresTerminalJobs) {
  StartDispatcher({"jobstore.expiration-time=200ms"});
  auto job = dispatcher_->Submit(OneVertexGraph());
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(dispatcher_->Cancel(*job).ok());
  ASSERT_TRUE(WaitUntil([&] { return dispatcher_->job_count() == 0; }, 5s));
}

TEST_F(DispatcherTest, AHungTaskManagerDoesNotStallDeploymentsToOthers) {
  // Accepts connections (the kernel does) but never answers the handshake.
  boost::asio::ip::tcp::acceptor hung(io_, {boost::asio::ip::make_address("127.0.0.1"), 0});
  FakeTaskManager good(io_);
  AddTaskManager("a-hung", hung.local_endpoint().port());
  AddTaskManager("b-good", good.port());
  StartDispatcher({});
  // Scheduled in submission order: the first job takes a-hung's slot (first by id).
  auto first = dispatcher_->Submit(OneVertexGraph());
  ASSERT_TRUE(first.ok());
  auto start = std::chrono::steady_clock::now();
  auto second = dispatcher_->Submit(OneVertexGraph());
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(WaitUntil([&] { return good.submits().size() == 1; }, 5s));
  // Waiting behind the hung one would take its whole handshake timeout (rpc_timeout, 2 s);
  // the bounds leave room for a loaded machine.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
  EXPECT_EQ(good.submits()[0].job_id(), *second);
  start = std::chrono::steady_clock::now();
  (void)dispatcher_->Cancel(*first);  // answers at once, whatever the hung TaskManager does
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
}

/// Returns a job's REST view without "now", the one field that says when it was asked.
nlohmann::json WithoutNow(nlohmann::json json) {
  json.erase("now");
  return json;
}

/// Returns the entry for REST path `path` of an archive file, or null.
nlohmann::json ArchivedView(const std::string& file, const std::string& path) {
  std::ifstream in(file);
  auto document = nlohmann::json::parse(in, nullptr, false);
  if (!document.is_object()) return nullptr;
  for (const auto& entry : document["archive"]) {
    if (entry["path"] == path) return entry["json"];
  }
  return nullptr;
}

TEST_F(DispatcherTest, ArchivesATerminalJobAsRestShowedIt) {
  const std::string dir = testing::MakeTestDir("dispatcher-archive");
  FakeTaskManager tm(io_);
  AddTaskManager("tm-a", tm.port());
  StartDispatcher({"jobmanager.archive.fs.dir=file://" + dir, "restart-strategy=fixed-delay",
                   "restart-strategy.fixed-delay.delay=10ms"});
  auto job = dispatcher_->Submit(OneVertexGraph());
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(WaitUntil([&] { return tm.submits().size() == 1; }, 5s));
  const TaskManagerId a("tm-a");
  dispatcher_->OnTaskReport(a, Report(*job, rpc::RUNNING, 0));
  dispatcher_->OnTaskReport(a, Report(*job, rpc::FAILED, 0));  // one restart in the history
  ASSERT_TRUE(WaitUntil([&] { return tm.submits().size() == 2; }, 5s));
  EXPECT_FALSE(std::filesystem::exists(dir + "/" + *job)) << "archived before it was terminal";
  dispatcher_->OnTaskReport(a, Report(*job, rpc::RUNNING, 1));
  auto finished = Report(*job, rpc::FINISHED, 1);
  finished.set_current_input_watermark(1234);
  dispatcher_->OnTaskReport(a, finished);
  const nlohmann::json shown = *dispatcher_->JobJson(*job);
  const nlohmann::json shown_exceptions = *dispatcher_->ExceptionsJson(*job);
  ASSERT_EQ(shown["state"], "FINISHED");

  const std::string file = dir + "/" + *job;
  ASSERT_TRUE(WaitUntil([&] { return std::filesystem::exists(file); }, 5s));
  nlohmann::json archived = ArchivedView(file, "/jobs/" + *job);
  EXPECT_EQ(archived["state"], "FINISHED");
  EXPECT_EQ(archived["numRestarts"], 1);
  EXPECT_EQ(archived["vertices"][0]["watermark"], 1234);
  EXPECT_EQ(WithoutNow(archived), WithoutNow(shown));
  EXPECT_EQ(ArchivedView(file, "/jobs/" + *job + "/exceptions"), shown_exceptions);
  EXPECT_EQ(ArchivedView(file, "/jobs/" + *job + "/vertices/op0/watermarks"),
            *dispatcher_->WatermarksJson(*job, "op0"));
  testing::RemoveTestDir(dir);
}

TEST_F(DispatcherTest, AJobThatLeftTheJobStoreIsAnsweredFromTheArchive) {
  const std::string dir = testing::MakeTestDir("dispatcher-archive-expired");
  FakeTaskManager tm(io_);
  AddTaskManager("tm-a", tm.port());
  StartDispatcher({"jobmanager.archive.fs.dir=" + dir, "jobstore.max-capacity=1"});
  const std::string first = RunJobToFinished(tm, "tm-a");
  const nlohmann::json shown = *dispatcher_->JobJson(first);
  const nlohmann::json shown_exceptions = *dispatcher_->ExceptionsJson(first);
  const std::string second = RunJobToFinished(tm, "tm-a");
  // The job store keeps one terminal job: the first leaves memory.
  ASSERT_TRUE(WaitUntil([&] { return dispatcher_->job_count() == 1; }, 5s));
  EXPECT_EQ(dispatcher_->JobsOverviewJson()["jobs"].size(), 1u);
  EXPECT_EQ(dispatcher_->JobsOverviewJson()["jobs"][0]["jid"], second);

  auto job = dispatcher_->JobJson(first);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ((*job)["state"], "FINISHED");
  EXPECT_EQ(WithoutNow(*job), WithoutNow(shown));
  auto exceptions = dispatcher_->ExceptionsJson(first);
  ASSERT_TRUE(exceptions.ok()) << exceptions.status();
  EXPECT_EQ(*exceptions, shown_exceptions);
  auto watermarks = dispatcher_->WatermarksJson(first, "op0");
  ASSERT_TRUE(watermarks.ok()) << watermarks.status();
  EXPECT_EQ(watermarks->dump(), R"([{"id":"0.currentInputWatermark","value":"1234"}])");
  EXPECT_THAT(std::string(dispatcher_->WatermarksJson(first, "nope").status().message()),
              HasSubstr("has no vertex nope"));

  const std::string unknown = "ffffffffffffffffffffffffffffffff";
  EXPECT_EQ(dispatcher_->JobJson(unknown).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(dispatcher_->ExceptionsJson(unknown).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(dispatcher_->JobJson("../" + first).status().code(), absl::StatusCode::kNotFound);

  // Answers come from the file, read on demand: without it the job is unknown.
  const std::string file = dir + "/" + first;
  ASSERT_TRUE(WaitUntil([&] { return std::filesystem::exists(file); }, 5s));
  ASSERT_TRUE(dispatcher_->JobJson(first).ok());
  std::filesystem::remove(file);
  ASSERT_TRUE(
      WaitUntil([&] { return absl::IsNotFound(dispatcher_->JobJson(first).status()); }, 5s));
  testing::RemoveTestDir(dir);
}

TEST_F(DispatcherTest, AnUnwritableArchiveIsLoggedAndTheNextJobRuns) {
  const std::string dir = testing::MakeTestDir("dispatcher-archive-unwritable");
  std::ofstream(dir + "/a-file") << "a file where the archive directory should be";
  const std::string archive_dir = dir + "/a-file/archive";
  testing::StderrCapture log(dir + "/stderr.log");
  FakeTaskManager tm(io_);
  AddTaskManager("tm-a", tm.port());
  StartDispatcher({"jobmanager.archive.fs.dir=" + archive_dir});
  const std::string first = RunJobToFinished(tm, "tm-a");
  ASSERT_TRUE(WaitUntil(
      [&] { return log.Text().find("cannot archive job " + first) != std::string::npos; }, 5s));
  EXPECT_THAT(log.Text(),
              HasSubstr("cannot archive job " + first + " to " + archive_dir + "/" + first +
                        ": cannot create directory " + archive_dir + ": Not a directory"));
  const std::string second = RunJobToFinished(tm, "tm-a");
  EXPECT_EQ(State(second), "FINISHED");
  EXPECT_EQ(registry_.free_slots(), 1);
  testing::RemoveTestDir(dir);
}

}  // namespace
}  // namespace eddy
