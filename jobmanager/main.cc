// eddy-jobmanager: runs the JobManager until SIGINT or SIGTERM.
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/config.h"
#include "common/logging.h"
#include "jobmanager/jobmanager.h"

int main(int argc, char** argv) {
  CLI::App app{"Eddy JobManager: schedules jobs and serves the REST API"};
  eddy::ConfigFlags flags;
  eddy::AddConfigFlags(app, &flags);
  CLI11_PARSE(app, argc, argv);

  auto config = eddy::LoadConfig(flags);
  if (!config.ok()) {
    std::cerr << "eddy-jobmanager: " << config.status().message() << "\n";
    return 2;
  }
  if (flags.print_config) {
    std::cout << eddy::FormatConfig(*config);
    return 0;
  }
  eddy::SetLogComponent("jobmanager");
  eddy::LogLevel level;
  if (eddy::ParseLogLevel(config->GetString(eddy::opt::kLogLevel), &level)) eddy::SetLogLevel(level);

  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  eddy::JobManager jobmanager(*std::move(config));
  if (auto status = jobmanager.Start(); !status.ok()) {
    EDDY_LOG(ERROR) << "cannot start: " << status.message();
    return 1;
  }
  int received = 0;
  sigwait(&signals, &received);
  EDDY_LOG(INFO) << "received signal " << received << "; shutting down";
  jobmanager.Stop();
  return 0;
}
