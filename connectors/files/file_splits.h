// Lists the input files of a file source (a local directory or an S3 prefix, through
// fs::FileSystem) and assigns each subtask its byte ranges of them. The splitting is a pure
// function of the listing, so every subtask computes the same assignment independently.
// Stateless; thread-safe as far as the FileSystem passed in is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/fs/file_system.h"

namespace eddy::connectors::files {

struct InputFile {
  std::string path;  // a URI of the same scheme as the listed path (or a plain path)
  uint64_t size = 0;
};

/// Lists `path` on `file_system`: one file, or the files directly in a directory or S3 prefix,
/// sorted by name, skipping hidden ones (names starting with '.' or '_', e.g. "_SUCCESS") and
/// anything in subdirectories. Returns NotFound naming `path` if there is no such file and
/// nothing under it (an empty local directory is an empty listing); other errors name it too.
absl::StatusOr<std::vector<InputFile>> ListInputFiles(fs::FileSystem& file_system,
                                                      const std::string& path);

/// The byte range [begin, end) of one file whose lines a subtask owns: the lines whose
/// first byte lies in the range (a line may run past `end`).
struct FileSplit {
  std::string path;
  uint64_t begin = 0;
  uint64_t end = 0;
};

/// Returns subtask `subtask`'s splits: the files' sizes are laid end to end and the total
/// is cut into `parallelism` contiguous, near-equal ranges; the result is subtask's range
/// cut at file boundaries (empty parts dropped). Over all subtasks every byte of every file
/// is in exactly one split.
std::vector<FileSplit> AssignSplits(const std::vector<InputFile>& files, int subtask,
                                    int parallelism);

}  // namespace eddy::connectors::files
