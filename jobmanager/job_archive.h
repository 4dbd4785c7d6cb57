// The archive of terminal jobs (Flink's jobmanager.archive.fs.dir): one JSON file per job,
// `<dir>/<job id>`, holding what REST showed for it, keyed by REST path. One background
// thread writes the files (temporary name, then rename); lookups read a file on demand and
// keep nothing once answered. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/ids.h"

namespace eddy {

/// File format, like Flink's FsJobArchivist but with the JSON inline:
///   {"archive": [{"path": "/jobs/<id>", "json": {...}},
///                {"path": "/jobs/<id>/exceptions", "json": {...}}, ...]}
class JobArchive {
 public:
  struct Entry {
    std::string path;  // the REST path, e.g. "/jobs/<id>/exceptions"
    nlohmann::json json;
  };

  /// `dir` is a local directory, plain or as a file:// URI; empty disables the archive.
  explicit JobArchive(const std::string& dir);
  /// Writes what is still queued, then joins the writer.
  ~JobArchive();

  bool enabled() const { return !dir_.empty(); }
  /// Returns the archive directory (without a file:// prefix).
  const std::string& dir() const { return dir_; }
  /// Returns where the archive of `job` is written.
  std::string PathOf(const JobId& job) const;

  /// Queues the archive of `job`; a later call for the same job replaces it. Never blocks
  /// on the disk. A failed write is logged with the path and the errno text.
  void Archive(const JobId& job, std::vector<Entry> entries);
  /// Returns the JSON archived for REST path `path` of job `job_id` (queued or on disk).
  /// NotFound if there is no archive for the job (or `job_id` is not a job id) or it has
  /// no such path; Internal if the file cannot be read or parsed.
  absl::StatusOr<nlohmann::json> Find(const std::string& job_id, const std::string& path) const;

  /// Writes what is queued and stops the writer; later archives are written at once.
  void Stop();

 private:
  struct Pending {
    nlohmann::json document;
    uint64_t version = 0;
  };

  void WriterLoop();
  void Write(const std::string& job_id, const nlohmann::json& document) const;

  const std::string dir_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Pending> pending_;  // guarded by mu_; not yet on disk, by job id
  std::deque<std::string> queue_;           // guarded by mu_; job ids in write order
  uint64_t next_version_ = 0;               // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  std::thread writer_;
};

}  // namespace eddy
