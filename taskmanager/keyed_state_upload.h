// A task's side of checkpoint storage for keyed state: KeyedStateUploader stores what the
// operators' snapshot writers hand it for one checkpoint — a backend-independent snapshot
// (a file, or inline in `_metadata` when small) or a native one, whose shared files go to
// the job's `shared/` directory once and are referred to by later checkpoints — and
// DownloadNativeState() brings a native handle's files back to a local directory for a
// restore. Used on the task's snapshot thread (upload) and task thread (download).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api/state.h"
#include "common/fs/file_system.h"
#include "common/proto/checkpoint.pb.h"

namespace eddy {

class KeyedStateUploader final : public KeyedSnapshotOutput {
 public:
  struct Target {
    std::string checkpoint_uri;  // the checkpoint's directory
    std::string shared_uri;      // the job's shared directory; empty: savepoint, no sharing
    std::string file_prefix;     // unique per operator subtask and attempt
    KeyGroupRange key_groups{0, 0};
    size_t inline_threshold = 0;  // state.storage.fs.memory-threshold
  };

  KeyedStateUploader(fs::FileSystem& fs, Target target)
      : fs_(fs), target_(std::move(target)) {}

  absl::Status WriteFull(std::string bytes) override;
  absl::StatusOr<SharedFiles> WriteNative(const NativeSnapshot& snapshot,
                                          const SharedFiles& reuse) override;

  /// What was stored, in call order.
  std::vector<checkpoint::KeyedStateHandle>& handles() { return handles_; }
  /// Bytes written by this checkpoint (files referred to are not counted).
  uint64_t checkpointed_bytes() const { return checkpointed_bytes_; }

 private:
  /// Copies local file `path` to `uri`, streaming.
  absl::Status Upload(const std::string& path, const std::string& uri);

  fs::FileSystem& fs_;
  Target target_;
  std::vector<checkpoint::KeyedStateHandle> handles_;
  uint64_t checkpointed_bytes_ = 0;
};

/// Downloads the files of native handle `handle` of the checkpoint at `checkpoint_uri` into a
/// new directory under `local_root` (named after `name`), checking sizes. The result is for
/// KeyedStateBackend::RestoreNative, which takes the directory over. `share_files`: the
/// restored backend's next checkpoints may refer to the shared files (NativeRestore::shared).
absl::StatusOr<NativeRestore> DownloadNativeState(fs::FileSystem& fs,
                                                  const std::string& checkpoint_uri,
                                                  const checkpoint::KeyedStateHandle& handle,
                                                  const std::string& local_root,
                                                  const std::string& name,
                                                  bool share_files = true);

}  // namespace eddy
