// eddy: the command-line client of an Eddy cluster (a thin REST client).
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/cluster_command.h"

namespace {
std::string DefaultJobManagerUrl() {
  const char* env = std::getenv("EDDY_JOBMANAGER");
  return env != nullptr && *env != '\0' ? env : "http://127.0.0.1:8081";
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"eddy: submit and watch jobs on an Eddy cluster"};
  app.require_subcommand(1);
  std::string jobmanager = DefaultJobManagerUrl();
  app.add_option("--jobmanager,-m", jobmanager,
                 "JobManager REST URL (default $EDDY_JOBMANAGER or http://127.0.0.1:8081)")
      ->capture_default_str();

  auto* cluster = app.add_subcommand("cluster", "Show the cluster overview and its TaskManagers");
  cluster->add_option("--jobmanager,-m", jobmanager, "JobManager REST URL");

  CLI11_PARSE(app, argc, argv);

  if (*cluster) {
    auto status = eddy::cli::RunClusterCommand(jobmanager, std::cout);
    if (!status.ok()) {
      std::cerr << "eddy: " << status.message() << "\n";
      return 1;
    }
  }
  return 0;
}
