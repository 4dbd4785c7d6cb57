// `eddy run | list | status | cancel | savepoint | stop | local`: job submission and monitoring over the
// JobManager's REST API. `run` loads the job library locally, builds its JobGraph, uploads
// the library and submits the graph. Stateless functions; thread-safe.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace eddy::cli {

struct RunOptions {
  std::string library;              // path to the job .so
  int parallelism = 1;
  std::string name;                 // overrides the job's name
  bool wait = false;                // follow the job to its end
  std::vector<std::string> config;  // -D key=value: per-job configuration (JobGraph.config)
  std::vector<std::string> args;    // after "--"
  std::string from_savepoint;       // start from this savepoint or retained checkpoint
  bool allow_non_restored_state = false;
};

/// Submits a job; returns its id. With `wait`, follows it and returns an error unless it
/// FINISHED (the error carries the root cause).
absl::StatusOr<std::string> RunJob(const std::string& jobmanager_url, const RunOptions& options,
                                   std::ostream& out);
/// Polls the job until it is terminal, printing a live progress line; returns its state.
absl::StatusOr<std::string> WaitForJob(const std::string& jobmanager_url, const std::string& job_id,
                                       std::ostream& out, bool live);
absl::Status ListJobs(const std::string& jobmanager_url, std::ostream& out);
absl::Status ShowJob(const std::string& jobmanager_url, const std::string& job_id, std::ostream& out);
absl::Status CancelJob(const std::string& jobmanager_url, const std::string& job_id, std::ostream& out);
/// Takes a savepoint of a running job into `dir` ("" for state.savepoints.dir) and waits for
/// it; with `stop` the job then finishes (eddy stop), after its sources ended their input
/// and every window fired with `drain` (eddy stop --drain). Prints and returns its location.
absl::StatusOr<std::string> Savepoint(const std::string& jobmanager_url, const std::string& job_id,
                                      const std::string& dir, bool stop, std::ostream& out,
                                      bool drain = false);

struct LocalOptions {
  RunOptions run;
  int taskmanagers = 2;
  int slots = 0;  // per TaskManager; 0: enough for the parallelism
};
/// Runs a JobManager and TaskManagers inside this process, runs the job on them to its end
/// and shuts them down.
absl::Status RunLocal(const LocalOptions& options, std::ostream& out);

}  // namespace eddy::cli
