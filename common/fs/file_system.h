// One interface over the places Eddy reads and writes whole files: the local file system
// (`file:///abs/path`, or a plain path) and S3 (`s3://bucket/key`, through libcurl with its
// AWS SigV4 signing). Checkpoint storage (state.checkpoints.dir), the file source and the
// file sink all go through it, so an `s3://bucket/prefix` works wherever a directory does.
//
// Names are URIs; a "directory" is a prefix (S3 has no directories: List() of a prefix
// returns every object under it, at any depth). A file becomes visible only complete:
// WriteAtomically() and WriteStream::Close() publish it in one step, and a stream that is
// aborted (or whose process dies) leaves nothing under the target name.
//
// Two-phase commit (the exactly-once file sink): CreateForCommit() writes a file that is
// *not* visible; CloseForCommit() makes it durable and returns a CommitHandle (a small,
// serializable value kept in checkpoint state); Commit(handle) publishes it, idempotently
// (committing an already committed handle again is OK, e.g. after recovery), and
// AbortCommit(handle) discards it.
//
// Errors name the URI (bucket and key for S3) and say what failed. Thread-safe: a
// FileSystem may be shared by threads; a stream is used by one thread at a time.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace eddy {
class Config;
}

namespace eddy::fs {

struct FileStatus {
  std::string uri;    // full URI, same scheme as asked
  uint64_t size = 0;  // bytes
};

/// A file written for a later commit: enough to publish or discard it from another process
/// after a restart. Serialized into checkpoint state with Encode()/Decode().
struct CommitHandle {
  std::string target;             // the URI the file is published under
  std::string staged;             // file://: the hidden staged file; s3://: the upload id
  std::vector<std::string> parts; // s3://: ETags of the uploaded parts, in order
  uint64_t size = 0;              // bytes in the file

  std::string Encode() const;
  static absl::StatusOr<CommitHandle> Decode(std::string_view bytes);
};

/// A sequential writer; the file becomes visible at Close().
class WriteStream {
 public:
  virtual ~WriteStream() = default;
  virtual absl::Status Write(std::string_view bytes) = 0;
  /// Publishes the file. After an error nothing is visible under the target name.
  virtual absl::Status Close() = 0;
  /// Discards what was written (also what the destructor does if neither was called).
  virtual void Abort() = 0;
  virtual uint64_t bytes_written() const = 0;
};

/// A sequential writer whose file is published later by FileSystem::Commit().
class CommitStream {
 public:
  virtual ~CommitStream() = default;
  virtual absl::Status Write(std::string_view bytes) = 0;
  /// Makes everything written durable (staged file synced / every part uploaded) without
  /// publishing it, and returns what Commit() needs.
  virtual absl::StatusOr<CommitHandle> CloseForCommit() = 0;
  /// Discards what was written.
  virtual void Abort() = 0;
  virtual uint64_t bytes_written() const = 0;
};

class FileSystem {
 public:
  static constexpr uint64_t kToEnd = std::numeric_limits<uint64_t>::max();

  virtual ~FileSystem() = default;

  /// The file system for `uri`'s scheme: `file://` or a plain path (local), `s3://`
  /// (configured by the s3.* keys of `config` and the AWS_* environment). InvalidArgument
  /// naming the URI for an unknown scheme or a malformed URI, or naming the key for a bad
  /// s3.* setting. Each s3:// call makes a new client with its own connection pool: keep the
  /// result for the URIs that follow rather than asking per file.
  static absl::StatusOr<std::shared_ptr<FileSystem>> ForUri(std::string_view uri,
                                                            const Config& config);

  /// Reads `length` bytes from `offset` (to the end by default; a short read at the end is
  /// not an error). NotFound naming the URI if it does not exist.
  virtual absl::StatusOr<std::string> Read(std::string_view uri, uint64_t offset = 0,
                                           uint64_t length = kToEnd) = 0;
  /// Size of one file; NotFound if it does not exist.
  virtual absl::StatusOr<FileStatus> Stat(std::string_view uri) = 0;
  /// Every file under `prefix_uri` (a directory, recursively; for S3 every key with that
  /// prefix, with a '/' added to the prefix unless it is empty or ends in one), sorted by URI.
  /// An empty list when there is none.
  virtual absl::StatusOr<std::vector<FileStatus>> List(std::string_view prefix_uri) = 0;

  /// Writes a whole file at once, visible only complete.
  virtual absl::Status WriteAtomically(std::string_view uri, std::string_view bytes) = 0;
  /// Opens a sequential writer for `uri` (S3: multipart upload once the data exceeds the
  /// part size, a single PUT otherwise).
  virtual absl::StatusOr<std::unique_ptr<WriteStream>> Create(std::string_view uri) = 0;

  virtual absl::StatusOr<std::unique_ptr<CommitStream>> CreateForCommit(
      std::string_view uri) = 0;
  /// Publishes a staged file. Idempotent: OK when the handle was committed already (the
  /// target exists and the staged data is gone).
  virtual absl::Status Commit(const CommitHandle& handle) = 0;
  /// Discards a staged file; OK if it is gone already.
  virtual absl::Status AbortCommit(const CommitHandle& handle) = 0;

  /// Deletes one file; OK if it does not exist.
  virtual absl::Status Delete(std::string_view uri) = 0;
  /// Deletes every file under `prefix_uri` (as List()); OK if there is none.
  virtual absl::Status DeleteRecursive(std::string_view prefix_uri) = 0;
};

/// Joins a base URI and a relative name with exactly one '/' between them.
std::string JoinUri(std::string_view base, std::string_view name);

}  // namespace eddy::fs
