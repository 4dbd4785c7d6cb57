// The ABI stamp of a job library, read from the file without loading it. EDDY_JOB defines
// the data symbol `eddy_job_abi_stamp` (a JobAbiStamp); ReadJobAbiStamp finds it in the
// ELF dynamic symbol table and reads its bytes from the file. A file that is not an Eddy
// job library is refused before dlopen, so none of its code (constructors included) runs.
// Pure functions of their input; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace eddy {

/// The layout of `eddy_job_abi_stamp`. `magic` tells a stamp from an unrelated symbol of
/// the same name.
struct JobAbiStamp {
  char magic[12];
  uint32_t abi;
};
inline constexpr char kJobAbiStampMagic[12] = "eddy-job-v1";
inline constexpr const char* kJobAbiStampSymbol = "eddy_job_abi_stamp";

/// Returns the ABI version stamped into the ELF shared object `elf` (its bytes).
/// InvalidArgument, naming `what`, if it is not a 64-bit little-endian ELF shared object
/// or has no valid stamp. Reads only inside `elf`, whatever its content.
absl::StatusOr<uint32_t> ReadJobAbiStamp(std::string_view elf, const std::string& what);

/// Checks the stamp of a library held in memory (an upload) against this Eddy's ABI, as
/// CheckJobLibraryFile does.
absl::Status CheckJobLibraryBytes(std::string_view elf, const std::string& what);

/// Reads the stamp of the file at `path` (mapped read-only, never executed) and checks it
/// against this Eddy's ABI: InvalidArgument if there is no stamp, FailedPrecondition if it
/// names another ABI.
absl::Status CheckJobLibraryFile(const std::string& path);

}  // namespace eddy
