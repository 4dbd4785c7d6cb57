// Test support: sends this process's stderr (where EDDY_LOG writes) to a file for the
// lifetime of the object, so a test can wait for a log line while the code under test
// keeps running. One capture at a time; the owning test thread reads it.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace eddy::testing {

class StderrCapture {
 public:
  /// Starts capturing into `path` (created or truncated).
  explicit StderrCapture(std::string path) : path_(std::move(path)) {
    ::fsync(STDERR_FILENO);
    saved_ = ::dup(STDERR_FILENO);
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  /// Restores stderr; what was captured is copied to it, so it still shows in test logs.
  ~StderrCapture() {
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    std::string text = Text();
    ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
    (void)ignored;
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  /// Returns what was written to stderr so far.
  std::string Text() const {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string path_;
  int saved_ = -1;
};

}  // namespace eddy::testing
