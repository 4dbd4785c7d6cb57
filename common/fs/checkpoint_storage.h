// Where checkpoints and savepoints live and how their files are named, on any file system
// (file://, s3://):
//   <state.checkpoints.dir>/<job-id>/chk-<n>/_metadata      written last: the commit point
//   <state.checkpoints.dir>/<job-id>/chk-<n>/<operator>-<subtask>-<attempt>.state
//   <state.checkpoints.dir>/<job-id>/shared/...   SST files of incremental checkpoints
//   <savepoint dir>/savepoint-<job prefix>-<random>/_metadata (+ its state files)
// A checkpoint directory without a readable `_metadata` was never completed. Keyed state
// smaller than the inline threshold travels inside `_metadata` instead of a file.
// Thread-safe: stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/fs/file_system.h"
#include "common/proto/checkpoint.pb.h"

namespace eddy::fs {

/// The name of the metadata file, written last.
inline constexpr char kMetadataFile[] = "_metadata";
/// Version of the `_metadata` format this build writes and reads.
inline constexpr uint32_t kMetadataVersion = 1;

/// <base>/<job_id>
std::string JobCheckpointsUri(std::string_view base, std::string_view job_id);
/// <base>/<job_id>/chk-<n>
std::string CheckpointUri(std::string_view base, std::string_view job_id, int64_t n);
/// <base>/<job_id>/shared: files incremental checkpoints share.
std::string SharedStateUri(std::string_view base, std::string_view job_id);

/// Stores one operator's keyed snapshot of one subtask under `checkpoint_uri`, or inline
/// when it has at most `inline_threshold` bytes (state.storage.fs.memory-threshold), and
/// returns its handle.
absl::StatusOr<checkpoint::KeyedStateHandle> WriteKeyedState(
    FileSystem& fs, std::string_view checkpoint_uri, std::string_view file_name,
    int32_t first_key_group, int32_t last_key_group, std::string&& snapshot,
    size_t inline_threshold);
/// Reads a keyed snapshot back (inline data, or its file: a relative name is under
/// `checkpoint_uri`, the directory the checkpoint was restored from).
absl::StatusOr<std::string> ReadKeyedState(FileSystem& fs, std::string_view checkpoint_uri,
                                           const checkpoint::KeyedStateHandle& handle);
/// The URI of a handle's file ("" when inline).
std::string StateFileUri(std::string_view checkpoint_uri,
                         const checkpoint::KeyedStateHandle& handle);

/// Writes `<checkpoint_uri>/_metadata`.
absl::Status WriteMetadata(FileSystem& fs, std::string_view checkpoint_uri,
                           const checkpoint::CheckpointMetadata& metadata);
/// Reads `<uri>/_metadata` (`uri` is a checkpoint or savepoint directory, or the metadata
/// file itself). Errors name the file: NotFound, or DataLoss for a truncated or corrupt file
/// or an unknown format version.
absl::StatusOr<checkpoint::CheckpointMetadata> ReadMetadata(FileSystem& fs,
                                                            std::string_view uri);

/// Reads what `uri` names: a checkpoint or savepoint directory, its `_metadata`, or a job's
/// checkpoint directory (<state.checkpoints.dir>/<job-id>), whose latest checkpoint with a
/// readable `_metadata` is taken (corrupt ones are skipped and named in `*skipped`).
/// Returns the metadata and the directory it came from.
absl::StatusOr<std::pair<checkpoint::CheckpointMetadata, std::string>> ResolveRestorePoint(
    FileSystem& fs, std::string_view uri, std::vector<std::string>* skipped);

/// Sum of the sizes of a subtask state's keyed handles.
uint64_t StateSize(const checkpoint::SubtaskState& state);

}  // namespace eddy::fs
