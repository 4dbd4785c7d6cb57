// JobRunner's per-attempt bookkeeping: a cancel or release of attempt n refuses queued
// deployments of attempts <= n and never a later attempt of the same job.
#include "taskmanager/job_runner.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "tests/support/process.h"

namespace eddy {
namespace {

using namespace std::chrono_literals;
using testing::WaitUntil;

class JobRunnerTest : public ::testing::Test {
 protected:
  JobRunnerTest() : work_(io_.get_executor()) {
    network_ = net::NetworkEnvironment::Create(io_, net::NetworkOptions{});
    io_thread_ = std::thread([this] { io_.run(); });
    runner_ = std::make_unique<JobRunner>(network_.get(), ::testing::TempDir(), Config(),
                                          [this](const rpc::TaskReport& r) {
                                            std::lock_guard<std::mutex> lock(mu_);
                                            reports_.push_back(r);
                                          });
    runner_->SetLibraryFetcher([](const std::string& sha256, const std::string&) {
      return absl::UnavailableError("no JobManager here to fetch " + sha256 + " from");
    });
  }
  ~JobRunnerTest() override {
    runner_->Stop();
    network_->Stop();
    work_.reset();
    io_.stop();
    io_thread_.join();
  }

  /// A deployment of subtask 0 whose library cannot be fetched: if the runner tries to
  /// start it, it reports FAILED; if it refuses it as cancelled, CANCELED.
  static rpc::SubmitTasksRequest Deployment(int attempt) {
    rpc::SubmitTasksRequest request;
    request.set_job_id("job-1");
    request.set_library_sha256(std::string(64, '0'));
    auto* task = request.add_tasks();
    task->set_vertex_id("op0");
    task->set_attempt(attempt);
    return request;
  }

  /// Waits for the report of `attempt` and returns its state name.
  std::string StateOf(int attempt) {
    std::string state;
    WaitUntil(
        [&] {
          std::lock_guard<std::mutex> lock(mu_);
          for (const auto& r : reports_) {
            if (r.attempt() == attempt) state = rpc::ExecutionState_Name(r.state());
          }
          return !state.empty();
        },
        10s);
    return state;
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<net::NetworkEnvironment> network_;
  std::thread io_thread_;
  std::unique_ptr<JobRunner> runner_;
  std::mutex mu_;
  std::vector<rpc::TaskReport> reports_;
};

TEST_F(JobRunnerTest, CancelOfAnAttemptDoesNotPoisonTheNextOne) {
  runner_->Cancel("job-1", 0);  // overtakes the deployment it cancels
  runner_->Submit(Deployment(0));
  EXPECT_EQ(StateOf(0), "CANCELED");
  runner_->Submit(Deployment(1));
  EXPECT_EQ(StateOf(1), "FAILED") << "attempt 1 was refused as if cancelled";
}

TEST_F(JobRunnerTest, ReleaseOfAnAttemptDoesNotPoisonTheNextOne) {
  runner_->Release("job-1", 2);
  runner_->Submit(Deployment(1));
  EXPECT_EQ(StateOf(1), "CANCELED");
  runner_->Submit(Deployment(3));
  EXPECT_EQ(StateOf(3), "FAILED") << "attempt 3 was refused as if released";
}

TEST_F(JobRunnerTest, ALibraryHashThatIsNoHashFailsTheDeploymentBeforeAnyFetch) {
  // The hash names the cached file and the URL: a path in it must go nowhere.
  auto request = Deployment(0);
  request.set_library_sha256("../../../../etc/passwd");
  runner_->Submit(request);
  EXPECT_EQ(StateOf(0), "FAILED");
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_FALSE(reports_.empty());
  EXPECT_NE(reports_.back().failure().find("is not 64 lower-case hex digits"), std::string::npos)
      << reports_.back().failure();
}

}  // namespace
}  // namespace eddy
