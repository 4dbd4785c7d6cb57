// Test support: a real cluster of eddy-jobmanager and eddy-taskmanager processes on
// loopback with free ports, plus REST helpers. Owned by one test thread.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.h"

namespace eddy::testing {

class TestCluster {
 public:
  /// `dir` holds the logs; `settings` are extra --set key=value for every process.
  explicit TestCluster(std::string dir, std::vector<std::string> settings = {});
  ~TestCluster();

  void StartJobManager();
  /// Starts a TaskManager; returns its index.
  int StartTaskManager(int slots = 2, std::vector<std::string> extra = {});
  /// Starts a JobManager and `n` TaskManagers and waits until all registered.
  bool Start(int n, int slots = 2);
  bool WaitForTaskManagers(int n, std::chrono::milliseconds timeout = std::chrono::seconds(20));

  ChildProcess& jobmanager() { return jobmanager_; }
  ChildProcess& taskmanager(int i) { return taskmanagers_.at(i); }
  std::string Url(const std::string& path = "") const;
  uint16_t rest_port() const { return rest_port_; }
  uint16_t rpc_port() const { return rpc_port_; }
  const std::string& dir() const { return dir_; }

  /// The REST token Get() sends (a cluster with rest.auth.tokens-file); RunCli does not
  /// send it: pass --token or set EDDY_TOKEN.
  void SetToken(std::string token) { token_ = std::move(token); }
  /// The JobManager serves HTTPS (security.ssl.rest.enabled): Url() says https and Get()
  /// trusts `ca_file`. RunCli does not pass it: add --ca-cert.
  void UseHttps(std::string ca_file) { ca_file_ = std::move(ca_file); }
  /// GETs `path` and returns its JSON, or null if the JobManager did not answer 200.
  nlohmann::json Get(const std::string& path) const;
  /// Number of registered TaskManagers, or -1 if the JobManager does not answer.
  int RegisteredTaskManagers() const;
  /// All logs, for failure messages.
  std::string Logs();

  /// Runs `eddy` with `args` to its end; returns {exit code, output}.
  std::pair<int, std::string> RunCli(const std::vector<std::string>& args,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(120));
  /// Returns the job's state from /jobs/{id}, or "" if unknown.
  std::string JobState(const std::string& job_id) const;
  bool WaitForJobState(const std::string& job_id, const std::string& state,
                       std::chrono::milliseconds timeout);
  /// Completed checkpoints of the job (REST counts), or -1.
  int64_t CompletedCheckpoints(const std::string& job_id) const;
  /// Indices of the TaskManagers that run tasks (slots taken), for TaskManagers started
  /// with taskmanager.resource-id=tm-<index>.
  std::vector<int> BusyTaskManagers() const;

 private:
  std::vector<std::string> CommonArgs() const;

  std::string dir_;
  std::vector<std::string> settings_;
  uint16_t rest_port_;
  uint16_t rpc_port_;
  ChildProcess jobmanager_;
  std::vector<ChildProcess> taskmanagers_;
  int cli_runs_ = 0;
  std::string token_;
  std::string ca_file_;  // non-empty: REST is HTTPS
};

/// Base of end-to-end test fixtures: a fresh directory per test for logs and data, kept
/// when the test fails and removed when it passes; paths of job libraries.
class ClusterTestBase : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::string Example(const std::string& name) const;
  std::string TestJob(const std::string& name) const;
  std::string dir_;
};

/// Directory with the test job libraries (build/tests/jobs).
std::string TestJobsDir();
/// Directory with the example job libraries (build/examples).
std::string ExamplesDir();
/// Returns every line of every visible file in `dir` (a sink's part files; in-progress
/// files start with '.'), in no particular order; none if `dir` does not exist.
std::vector<std::string> ReadOutputLines(const std::string& dir);
/// Returns the 32-hex job id `eddy run` printed ("Job <id> ..."), or "".
std::string JobIdFrom(const std::string& run_output);

}  // namespace eddy::testing
