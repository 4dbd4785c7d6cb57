// Loads a job library (.so built with eddy_add_job), checks its ABI stamp, and runs its
// builder to obtain the operators. Libraries stay loaded for the life of the process
// (operators made from them may still run). Thread-safe: builds may run concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api/job_args.h"
#include "api/job_builder.h"

namespace eddy {

class JobLibrary {
 public:
  /// Opens `path`. Errors: not loadable, not a job library, built for another ABI.
  static absl::StatusOr<std::shared_ptr<JobLibrary>> Open(const std::string& path);

  /// The name given to EDDY_JOB.
  const std::string& job_name() const { return job_name_; }
  const std::string& path() const { return path_; }

  /// Runs the job's builder. An exception thrown by it (e.g. a missing argument) is
  /// returned as an error carrying its message.
  absl::StatusOr<std::unique_ptr<JobBuilder>> Build(const std::vector<std::string>& args,
                                                    int default_parallelism,
                                                    int max_parallelism = 128) const;

 private:
  using DefineFn = void (*)(JobBuilder*, const JobArgs*);
  std::string path_;
  std::string job_name_;
  void* handle_ = nullptr;
  DefineFn define_ = nullptr;
};

}  // namespace eddy
