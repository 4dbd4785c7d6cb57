// eddy: the command-line client of an Eddy cluster (a thin REST client), plus `eddy local`
// which runs a whole cluster in this process.
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/cluster_command.h"
#include "cli/job_commands.h"

namespace {
std::string DefaultJobManagerUrl() {
  const char* env = std::getenv("EDDY_JOBMANAGER");
  return env != nullptr && *env != '\0' ? env : "http://127.0.0.1:8081";
}

std::string DefaultToken() {
  const char* env = std::getenv("EDDY_TOKEN");
  return env != nullptr ? env : "";
}

int Report(const absl::Status& status) {
  if (status.ok()) return 0;
  std::cerr << "eddy: " << status.message() << "\n";
  return eddy::cli::ExitCodeOf(status);
}

constexpr int kUsageError = 2;
constexpr int kNotUnderstood = 6;
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"eddy: submit and watch jobs on an Eddy cluster"};
  app.require_subcommand(1);
  std::string jobmanager = DefaultJobManagerUrl();
  app.add_option("--jobmanager,-m", jobmanager,
                 "JobManager REST URL (default $EDDY_JOBMANAGER or http://127.0.0.1:8081)");
  std::string token = DefaultToken();
  app.add_option("--token", token, "REST bearer token (default $EDDY_TOKEN)");

  auto* cluster = app.add_subcommand("cluster", "Show the cluster overview and its TaskManagers");
  cluster->add_option("--jobmanager,-m", jobmanager, "JobManager REST URL");
  cluster->add_option("--token", token, "REST bearer token (default $EDDY_TOKEN)");

  eddy::cli::RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "Submit a job library: eddy run JOB.so [-p N] [-- ARGS]");
  run_cmd->add_option("library", run.library, "Job library (.so) built with eddy_add_job")->required();
  run_cmd->add_option("-p,--parallelism", run.parallelism, "Default parallelism")->check(CLI::Range(1, 128));
  run_cmd->add_option("--name", run.name, "Job name (default: the EDDY_JOB name)");
  run_cmd->add_flag("--wait,-w", run.wait, "Follow the job to its end; exit non-zero unless it FINISHED");
  run_cmd->add_option("-D", run.config, "Job configuration key=value (repeatable), e.g. -D restart-strategy=fixed-delay")
      ->allow_extra_args(false);
  run_cmd->add_option("--jobmanager,-m", jobmanager, "JobManager REST URL");
  run_cmd->add_option("--token", token, "REST bearer token (default $EDDY_TOKEN)");
  run_cmd->add_option("--from-savepoint,-s", run.from_savepoint,
                      "Start from a savepoint or retained checkpoint (its directory or _metadata; "
                      "a job's checkpoint directory picks its latest complete checkpoint)");
  run_cmd->add_flag("--allow-non-restored-state,-n", run.allow_non_restored_state,
                    "Skip state of operators the job no longer has");
  run_cmd->add_option("args", run.args, "Job arguments (after --)");

  auto* list_cmd = app.add_subcommand("list", "List jobs");
  list_cmd->add_option("--jobmanager,-m", jobmanager, "JobManager REST URL");
  list_cmd->add_option("--token", token, "REST bearer token (default $EDDY_TOKEN)");

  std::string job_id;
  auto* status_cmd = app.add_subcommand("status", "Show a job's vertices and metrics");
  status_cmd->add_option("job", job_id, "Job id")->required();
  status_cmd->add_option("--jobmanager,-m", jobmanager, "JobManager REST URL");
  status_cmd->add_option("--token", token, "REST bearer token (default $EDDY_TOKEN)");

  auto* cancel_cmd = app.add_subcommand("cancel", "Cancel a job");
  cancel_cmd->add_option("job", job_id, "Job id")->required();
  cancel_cmd->add_option("--jobmanager,-m", jobmanager, "JobManager REST URL");
  cancel_cmd->add_option("--token", token, "REST bearer token (default $EDDY_TOKEN)");

  eddy::cli::LocalOptions local;
  std::string savepoint_dir;
  auto* savepoint_cmd = app.add_subcommand(
      "savepoint", "Take a savepoint of a running job: eddy savepoint JOB [DIR]");
  savepoint_cmd->add_option("job", job_id, "Job id")->required();
  savepoint_cmd->add_option("dir", savepoint_dir, "Target directory (default state.savepoints.dir)");
  savepoint_cmd->add_option("--jobmanager,-m", jobmanager, "JobManager REST URL");
  savepoint_cmd->add_option("--token", token, "REST bearer token (default $EDDY_TOKEN)");
  bool drain = false;
  auto* stop_cmd = app.add_subcommand(
      "stop", "Stop a job with a savepoint: eddy stop JOB --savepoint DIR");
  stop_cmd->add_option("job", job_id, "Job id")->required();
  stop_cmd->add_option("--savepoint,-p", savepoint_dir, "Target directory (default state.savepoints.dir)");
  stop_cmd->add_flag("--drain,-d", drain,
                     "End the sources' input first: the MAX watermark fires every window and "
                     "timer before the savepoint, and the job FINISHES");
  stop_cmd->add_option("--jobmanager,-m", jobmanager, "JobManager REST URL");
  stop_cmd->add_option("--token", token, "REST bearer token (default $EDDY_TOKEN)");

  auto* local_cmd = app.add_subcommand(
      "local", "Run a job on a JobManager and TaskManagers inside this process");
  local_cmd->add_option("library", local.run.library, "Job library (.so)")->required();
  local_cmd->add_option("-p,--parallelism", local.run.parallelism, "Default parallelism")
      ->check(CLI::Range(1, 128));
  local_cmd->add_option("--name", local.run.name, "Job name");
  local_cmd->add_option("-D", local.run.config, "Job configuration key=value (repeatable)")
      ->allow_extra_args(false);
  local_cmd->add_option("--taskmanagers", local.taskmanagers, "Number of TaskManagers")
      ->check(CLI::Range(1, 64));
  local_cmd->add_option("--slots", local.slots, "Slots per TaskManager (default: enough)");
  local_cmd->add_option("args", local.run.args, "Job arguments (after --)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : kUsageError;
  }
  eddy::cli::SetAuthToken(token);
  if ((*status_cmd || *cancel_cmd || *savepoint_cmd || *stop_cmd) && job_id.empty()) {
    std::cerr << "eddy: the job id is empty (see eddy list)\n";
    return kUsageError;
  }
  auto dispatch = [&]() -> int {
    if (*cluster) return Report(eddy::cli::RunClusterCommand(jobmanager, std::cout));
    if (*run_cmd) {
      auto id = eddy::cli::RunJob(jobmanager, run, std::cout);
      if (!id.ok()) return Report(id.status());
      if (!run.wait) std::cout << *id << "\n";
      return 0;
    }
    if (*list_cmd) return Report(eddy::cli::ListJobs(jobmanager, std::cout));
    if (*status_cmd) return Report(eddy::cli::ShowJob(jobmanager, job_id, std::cout));
    if (*cancel_cmd) return Report(eddy::cli::CancelJob(jobmanager, job_id, std::cout));
    if (*savepoint_cmd) {
      return Report(eddy::cli::Savepoint(jobmanager, job_id, savepoint_dir, false, std::cout).status());
    }
    if (*stop_cmd) {
      return Report(eddy::cli::Savepoint(jobmanager, job_id, savepoint_dir, true, std::cout, drain).status());
    }
    if (*local_cmd) return Report(eddy::cli::RunLocal(local, std::cout));
    return 0;
  };
  // Every answer is checked where it is read; an answer of an unexpected shape that slips
  // through still ends in a message and an exit code, never an abort.
  try {
    return dispatch();
  } catch (const nlohmann::json::exception& e) {
    std::cerr << "eddy: the JobManager at " << jobmanager
              << " gave an answer this eddy does not understand: " << e.what() << "\n";
    return kNotUnderstood;
  } catch (const std::exception& e) {
    std::cerr << "eddy: " << e.what() << "\n";
    return 1;
  }
}
