// The local file system behind FileSystem: `file:///abs/path`, `file:/abs/path` or a plain
// path. A file is published by rename(2) within its directory after an fsync, so a reader
// sees either nothing or all of it: WriteAtomically() and Create() write `.<name>.tmp.<random>`
// first, CreateForCommit() the staged `.<name>.inprogress.<random>` that Commit() renames.
// List() skips these hidden in-progress files. Errors name the path and carry the errno text.
// Thread-safe: stateless apart from the files.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/fs/file_system.h"

namespace eddy::fs {

/// Returns the local path of a `file://` URI or a plain path. InvalidArgument naming the
/// URI for an empty one or one with a host other than localhost.
absl::StatusOr<std::string> LocalPathOf(std::string_view uri);

class LocalFileSystem final : public FileSystem {
 public:
  /// The one instance (it has no state).
  static std::shared_ptr<LocalFileSystem> Instance();

  absl::StatusOr<std::string> Read(std::string_view uri, uint64_t offset = 0,
                                   uint64_t length = kToEnd) override;
  absl::StatusOr<FileStatus> Stat(std::string_view uri) override;
  absl::StatusOr<std::vector<FileStatus>> List(std::string_view prefix_uri) override;
  absl::Status WriteAtomically(std::string_view uri, std::string_view bytes) override;
  absl::StatusOr<std::unique_ptr<WriteStream>> Create(std::string_view uri) override;
  absl::StatusOr<std::unique_ptr<CommitStream>> CreateForCommit(std::string_view uri) override;
  /// Renames the staged file over the target.
  absl::Status Commit(const CommitHandle& handle) override;
  absl::Status AbortCommit(const CommitHandle& handle) override;
  absl::Status Delete(std::string_view uri) override;
  /// Removes the directory `prefix_uri` with everything in it (in-progress files too).
  absl::Status DeleteRecursive(std::string_view prefix_uri) override;
};

}  // namespace eddy::fs
