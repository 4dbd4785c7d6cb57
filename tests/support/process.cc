#include "tests/support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "common/check.h"

namespace eddy::testing {

std::string BinDir() {
  const char* dir = std::getenv("EDDY_BIN_DIR");
  return dir != nullptr ? dir : "build/bin";
}

ChildProcess::ChildProcess(const std::string& binary, const std::vector<std::string>& args,
                           const std::string& log_path)
    : log_path_(log_path) {
  std::string path = binary.find('/') == std::string::npos ? BinDir() + "/" + binary : binary;
  std::vector<std::string> argv_storage{path};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = fork();
  EDDY_CHECK_GE(pid_, 0) << "fork failed";
  if (pid_ == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    // A child must not outlive a crashed test.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execv(path.c_str(), argv.data());
    _exit(127);
  }
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept { *this = std::move(other); }

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) Stop(SIGKILL);
    pid_ = other.pid_;
    exit_status_ = other.exit_status_;
    log_path_ = std::move(other.log_path_);
    other.pid_ = -1;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) Stop(SIGKILL);
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = status;
    pid_ = -1;
    return false;
  }
  return true;
}

int ChildProcess::Stop(int signal, std::chrono::milliseconds grace) {
  if (pid_ <= 0) return exit_status_;
  kill(pid_, signal);
  bool exited = WaitUntil([this] { return !running(); }, grace);
  if (!exited) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    exit_status_ = status;
    pid_ = -1;
  }
  return exit_status_;
}

std::string ChildProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
               std::chrono::milliseconds poll) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

std::pair<int, std::string> RunShell(const std::string& dir, const std::string& command,
                                     std::chrono::milliseconds timeout) {
  static std::atomic<int> runs{0};
  const std::string log = dir + "/shell-" + std::to_string(runs++) + ".out";
  ChildProcess process("/bin/bash", {"-c", command}, log);
  if (!WaitUntil([&] { return !process.running(); }, timeout)) {
    process.Stop(SIGKILL);
    return {-1, process.Log()};
  }
  const int status = process.Stop(SIGKILL);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, process.Log()};
}

std::string MakeClusterCerts(const std::string& dir, const std::string& rest_names) {
  std::filesystem::create_directories(dir);
  auto [code, out] = RunShell(dir, "EDDY_REST_NAMES='" + rest_names + "' " + EDDY_SOURCE_DIR +
                                       "/deploy/make-cluster-certs.sh " + dir);
  EXPECT_EQ(code, 0) << out;
  return dir;
}

std::string MakeTestDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::filesystem::path dir = std::filesystem::path(base ? base : "/tmp") /
                              ("eddy-" + name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

void RemoveTestDir(const std::string& dir) {
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

int64_t RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

PeakRss::PeakRss(pid_t pid, std::chrono::milliseconds period)
    : pid_(pid), start_(RssKiB(pid)), peak_(start_) {
  sampler_ = std::thread([this, period] {
    while (!done_) {
      peak_ = std::max<int64_t>(peak_, RssKiB(pid_));
      std::this_thread::sleep_for(period);  // the sampling period, not a wait for a condition
    }
  });
}

PeakRss::~PeakRss() { Stop(); }

int64_t PeakRss::Stop() {
  if (!done_.exchange(true)) sampler_.join();
  return peak_;
}

}  // namespace eddy::testing
