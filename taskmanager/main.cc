// eddy-taskmanager: runs a TaskManager until SIGINT or SIGTERM.
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/config.h"
#include "common/logging.h"
#include "taskmanager/taskmanager.h"

int main(int argc, char** argv) {
  CLI::App app{"Eddy TaskManager: offers slots to the JobManager and runs tasks"};
  eddy::ConfigFlags flags;
  eddy::AddConfigFlags(app, &flags);
  CLI11_PARSE(app, argc, argv);

  auto config = eddy::LoadConfig(flags);
  if (!config.ok()) {
    std::cerr << "eddy-taskmanager: " << config.status().message() << "\n";
    return 2;
  }
  if (flags.print_config) {
    std::cout << eddy::FormatConfig(*config);
    return 0;
  }
  eddy::SetLogComponent("taskmanager");
  eddy::LogLevel level;
  if (eddy::ParseLogLevel(config->GetString(eddy::opt::kLogLevel), &level)) eddy::SetLogLevel(level);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  eddy::TaskManager taskmanager(*std::move(config));
  if (auto status = taskmanager.Start(); !status.ok()) {
    EDDY_LOG(ERROR) << "cannot start: " << status.message();
    return 1;
  }
  int received = 0;
  sigwait(&signals, &received);
  EDDY_LOG(INFO) << "received signal " << received << "; shutting down";
  taskmanager.Stop();
  return 0;
}
