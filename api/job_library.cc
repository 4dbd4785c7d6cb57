#include "api/job_library.h"

#include <dlfcn.h>

#include <exception>

#include "absl/strings/str_cat.h"
#include "api/job_library_stamp.h"

namespace eddy {

absl::StatusOr<std::shared_ptr<JobLibrary>> JobLibrary::Open(const std::string& path) {
  // Before dlopen: loading runs the file's constructors.
  if (absl::Status stamped = CheckJobLibraryFile(path); !stamped.ok()) return stamped;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* err = dlerror();
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load job library ", path, ": ", err ? err : "unknown error"));
  }
  auto abi = reinterpret_cast<uint32_t (*)()>(dlsym(handle, "eddy_job_abi_version"));
  auto name = reinterpret_cast<const char* (*)()>(dlsym(handle, "eddy_job_name"));
  auto define = reinterpret_cast<DefineFn>(dlsym(handle, "eddy_job_define"));
  if (abi == nullptr || name == nullptr || define == nullptr) {
    dlclose(handle);
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is not an Eddy job library: it does not define a job with EDDY_JOB(name) "
              "(symbols eddy_job_abi_version / eddy_job_define are missing)"));
  }
  if (abi() != kAbiVersion) {
    uint32_t theirs = abi();
    dlclose(handle);
    return absl::FailedPreconditionError(absl::StrCat(
        path, " was built for Eddy job ABI ", theirs, ", but this Eddy speaks ABI ", kAbiVersion,
        ": rebuild the job against this Eddy version"));
  }
  auto lib = std::shared_ptr<JobLibrary>(new JobLibrary());
  lib->path_ = path;
  lib->job_name_ = name();
  lib->handle_ = handle;
  lib->define_ = define;
  return lib;
}

absl::StatusOr<std::unique_ptr<JobBuilder>> JobLibrary::Build(const std::vector<std::string>& args,
                                                              int default_parallelism,
                                                              int max_parallelism) const {
  auto parsed = JobArgs::Parse(args);
  if (!parsed.ok()) return parsed.status();
  auto builder = std::make_unique<JobBuilder>(job_name_, default_parallelism, max_parallelism);
  try {
    define_(builder.get(), &*parsed);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("job ", job_name_, ": ", e.what()));
  } catch (...) {
    return absl::InvalidArgumentError(absl::StrCat("job ", job_name_, ": builder threw"));
  }
  return builder;
}

}  // namespace eddy
