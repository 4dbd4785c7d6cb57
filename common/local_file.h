// Whole-file access to the local file system: atomic writes (a temporary name in the same
// directory, fsync, then rename, so a reader never sees a half-written file) and bounded
// whole-file reads. Errors name the path and carry the errno text. Thread-safe: stateless.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace eddy {

/// Writes `bytes` to `path` atomically: into `<dir>/.<name>.tmp` first, then renamed over
/// `path`. Creates the parent directories. On error nothing is left under either name.
absl::Status WriteFileAtomically(const std::string& path, std::string_view bytes);

/// Reads the whole file at `path`. NotFound if it (or a directory on its way) does not
/// exist, FailedPrecondition if it is larger than `max_bytes`, Internal (with the errno
/// text) for any other failure.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path, size_t max_bytes);

}  // namespace eddy
