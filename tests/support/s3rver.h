// Test support: a local S3 server (s3rver from deploy/npm, run by tests/support/s3rver.mjs)
// on 127.0.0.1 and a free port, with its objects in a directory that outlives a Stop(), so
// that a test can take S3 away mid-write and bring it back on the same port. Also runs the
// independent S3 client tests/support/s3_client.mjs. Owned by one test thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config.h"
#include "tests/support/process.h"

namespace eddy::testing {

class S3rver {
 public:
  static constexpr char kAccessKey[] = "S3RVER";
  static constexpr char kSecretKey[] = "S3RVER";

  /// Starts s3rver with `buckets`, storing objects under `directory` (created), logging to
  /// `directory`.log. Fails the test (ADD_FAILURE) if it does not answer within 30 s.
  S3rver(std::string directory, std::vector<std::string> buckets);
  /// Kills the server.
  ~S3rver();
  S3rver(const S3rver&) = delete;
  S3rver& operator=(const S3rver&) = delete;

  /// Starts the server again on the same port and directory; waits until it answers.
  /// Returns false (with the log in the failure) if it does not within `timeout`.
  bool Start(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  /// Kills the server (SIGKILL, like a lost host); its objects stay in the directory.
  void Stop();
  bool running() { return process_.running(); }

  uint16_t port() const { return port_; }
  /// "http://127.0.0.1:<port>".
  std::string endpoint() const;
  /// A Config whose s3.* keys point at this server (path-style, its keys).
  Config MakeConfig() const;
  std::string Log() const { return process_.Log(); }

  /// Runs `node tests/support/s3_client.mjs --endpoint <endpoint> args...` and returns its
  /// standard output; an error with its standard error if it exits non-zero.
  absl::StatusOr<std::string> Client(const std::vector<std::string>& args) const;
  /// Returns every line of every object under `prefix` in `bucket` (a sink's part files),
  /// read with the independent client, in key order.
  absl::StatusOr<std::vector<std::string>> ReadLines(const std::string& bucket,
                                                     const std::string& prefix) const;

 private:
  std::string directory_;
  std::vector<std::string> buckets_;
  uint16_t port_;
  ChildProcess process_;
};

/// The absolute path of `node` found on PATH, or "" if there is none.
std::string FindNode();

}  // namespace eddy::testing
