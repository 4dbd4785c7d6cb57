// eddy: the command-line client of an Eddy cluster (a thin REST client), plus `eddy local`
// which runs a whole cluster in this process.
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/cluster_command.h"
#include "cli/job_commands.h"

namespace {
std::string EnvOr(const char* name, const char* fallback) {
  const char* env = std::getenv(name);
  return env != nullptr && *env != '\0' ? env : fallback;
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
  std::string jobmanager = EnvOr("EDDY_JOBMANAGER", "http://127.0.0.1:8081");
  std::string token = EnvOr("EDDY_TOKEN", "");
  std::string ca_cert = EnvOr("EDDY_CA_CERT", "");
  // Accepted before the subcommand and after it.
  auto add_connection_options = [&](CLI::App* command) {
    command->add_option("--jobmanager,-m", jobmanager,
                        "JobManager REST URL, http:// or https:// (default $EDDY_JOBMANAGER or "
                        "http://127.0.0.1:8081)");
    command->add_option("--token", token, "REST bearer token (default $EDDY_TOKEN)");
    command->add_option("--ca-cert", ca_cert,
                        "PEM file of the CA that signed the JobManager's HTTPS certificate "
                        "(default $EDDY_CA_CERT, else the system's trusted CAs)");
  };
  add_connection_options(&app);

  auto* cluster = app.add_subcommand("cluster", "Show the cluster overview and its TaskManagers");
  add_connection_options(cluster);

  eddy::cli::RunOptions run;
  auto* run_cmd = app.add_subcommand("run", "Submit a job library: eddy run JOB.so [-p N] [-- ARGS]");
  run_cmd->add_option("library", run.library, "Job library (.so) built with eddy_add_job")->required();
  run_cmd->add_option("-p,--parallelism", run.parallelism, "Default parallelism")->check(CLI::Range(1, 128));
  run_cmd->add_option("--name", run.name, "Job name (default: the EDDY_JOB name)");
  run_cmd->add_flag("--wait,-w", run.wait, "Follow the job to its end; exit non-zero unless it FINISHED");
  run_cmd->add_option("-D", run.config, "Job configuration key=value (repeatable), e.g. -D restart-strategy=fixed-delay")
      ->allow_extra_args(false);
  add_connection_options(run_cmd);
  run_cmd->add_option("--from-savepoint,-s", run.from_savepoint,
                      "Start from a savepoint or retained checkpoint (its directory or _metadata; "
                      "a job's checkpoint directory picks its latest complete checkpoint)");
  run_cmd->add_flag("--allow-non-restored-state,-n", run.allow_non_restored_state,
                    "Skip state of operators the job no longer has");
  run_cmd->add_option("args", run.args, "Job arguments (after --)");

  auto* list_cmd = app.add_subcommand("list", "List jobs");
  add_connection_options(list_cmd);

  std::string job_id;
  auto* status_cmd = app.add_subcommand("status", "Show a job's vertices and metrics");
  status_cmd->add_option("job", job_id, "Job id")->required();
  add_connection_options(status_cmd);

  auto* cancel_cmd = app.add_subcommand("cancel", "Cancel a job");
  cancel_cmd->add_option("job", job_id, "Job id")->required();
  add_connection_options(cancel_cmd);

  eddy::cli::LocalOptions local;
  std::string savepoint_dir;
  auto* savepoint_cmd = app.add_subcommand(
      "savepoint", "Take a savepoint of a running job: eddy savepoint JOB [DIR]");
  savepoint_cmd->add_option("job", job_id, "Job id")->required();
  savepoint_cmd->add_option("dir", savepoint_dir, "Target directory (default state.savepoints.dir)");
  add_connection_options(savepoint_cmd);
  bool drain = false;
  auto* stop_cmd = app.add_subcommand(
      "stop", "Stop a job with a savepoint: eddy stop JOB --savepoint DIR");
  stop_cmd->add_option("job", job_id, "Job id")->required();
  stop_cmd->add_option("--savepoint,-p", savepoint_dir, "Target directory (default state.savepoints.dir)");
  stop_cmd->add_flag("--drain,-d", drain,
                     "End the sources' input first: the MAX watermark fires every window and "
                     "timer before the savepoint, and the job FINISHES");
  add_connection_options(stop_cmd);

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
  eddy::cli::SetConnection(token, ca_cert);
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
