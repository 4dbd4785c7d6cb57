// Test support for multi-process tests: starts Eddy binaries as child processes with their
// output in a log file, kills them (SIGKILL or SIGTERM), and waits on conditions with
// deadlines. Not thread-safe; one test thread owns its processes.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace eddy::testing {

/// Returns the directory with the eddy binaries ($EDDY_BIN_DIR, set by ctest).
std::string BinDir();

class ChildProcess {
 public:
  ChildProcess() = default;
  /// Starts `binary` (a name in BinDir() or a path) with `args`; output goes to `log_path`.
  ChildProcess(const std::string& binary, const std::vector<std::string>& args,
               const std::string& log_path);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool running();
  /// Sends `signal` and waits for the process to exit (SIGKILL after `grace`).
  int Stop(int signal, std::chrono::milliseconds grace = std::chrono::seconds(10));
  /// Kills with SIGKILL at once, like a crashed host.
  void Kill9() { Stop(9); }
  /// Returns the log file's contents.
  std::string Log() const;
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  int exit_status_ = -1;
  std::string log_path_;
};

/// Resident memory of process `pid` in KiB (VmRSS), or -1.
int64_t RssKiB(pid_t pid);

/// Samples a process's RSS every `period` on a thread of its own, from construction until
/// Stop() (or destruction); peak_kib() is the largest sample.
class PeakRss {
 public:
  explicit PeakRss(pid_t pid, std::chrono::milliseconds period = std::chrono::milliseconds(50));
  ~PeakRss();
  /// Stops sampling and returns the peak in KiB.
  int64_t Stop();
  int64_t start_kib() const { return start_; }

 private:
  const pid_t pid_;
  const int64_t start_;
  std::atomic<int64_t> peak_;
  std::atomic<bool> done_{false};
  std::thread sampler_;
};

/// Polls `condition` every `poll` until it holds or `timeout` passes; returns whether it held.
bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
               std::chrono::milliseconds poll = std::chrono::milliseconds(50));

/// Returns a TCP port on 127.0.0.1 that was free a moment ago, below the kernel's ephemeral
/// range so that processes listening on port 0 cannot take it meanwhile.
uint16_t PickFreePort();

/// Runs `command` with /bin/bash to its end (SIGKILL after `timeout`); its output goes to a
/// numbered log file in `dir`. Returns {exit code (-1: killed or signalled), output}.
std::pair<int, std::string> RunShell(const std::string& dir, const std::string& command,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// Makes a cluster CA, a member certificate and a REST certificate naming `rest_names`
/// (subjectAltName entries, e.g. "DNS:localhost,IP:127.0.0.1") in `dir` with
/// deploy/make-cluster-certs.sh; a failure fails the test. Returns `dir`.
std::string MakeClusterCerts(const std::string& dir,
                             const std::string& rest_names = "DNS:localhost,IP:127.0.0.1");

/// Makes a fresh directory for one test's logs and files.
std::string MakeTestDir(const std::string& name);
/// Removes a directory made by MakeTestDir.
void RemoveTestDir(const std::string& dir);

}  // namespace eddy::testing
