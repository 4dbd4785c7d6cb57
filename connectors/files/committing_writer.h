// The part files of one file-sink subtask written through a FileSystem (file:// or s3://),
// made visible in one step each. Three modes:
//  * with checkpoints (RuntimeContext::checkpointing): exactly once. A part is rolled when
//    it reaches the size limit, after the rollover interval, and at every checkpoint
//    barrier; a rolled part is staged (CloseForCommit: synced / every multipart part
//    uploaded) and pre-committed in the checkpoint's state, and published when that
//    checkpoint completes. A restored subtask first publishes the pending parts of the
//    checkpoint it restores (idempotently: a part published before the failure is not
//    published twice), and a failed attempt's staged parts never become visible. Part
//    names are part-<subtask>-<random per attempt>-<n>, so attempts never collide.
//  * without checkpoints, with a rollover interval: each rolled part is published at once
//    as part-<subtask>-<n> (a restart may repeat lines an earlier attempt published).
//  * without checkpoints and rollover: one part-<subtask>, published when the input ends.
// Used by one task thread; not thread-safe. Errors throw std::runtime_error naming the file.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/operator.h"

namespace eddy::fs {
class FileSystem;
class CommitStream;
struct CommitHandle;
}  // namespace eddy::fs

namespace eddy::connectors::files {

struct PartFileOptions {
  std::chrono::milliseconds rollover{0};  // 0: roll on size and at checkpoints only
  uint64_t max_part_size = uint64_t{128} << 20;
};

class CommittingPartWriter {
 public:
  CommittingPartWriter(std::string dir, PartFileOptions options);
  ~CommittingPartWriter();
  CommittingPartWriter(const CommittingPartWriter&) = delete;
  CommittingPartWriter& operator=(const CommittingPartWriter&) = delete;

  /// Pending parts handed back by a restore (before Open()).
  void Restore(const std::vector<std::string>& entries);
  /// Publishes restored parts and starts writing; schedules the rollover timer.
  void Open(RuntimeContext& ctx);
  /// Appends `line` and '\n'.
  void AppendLine(std::string_view line) {
    buffer_.append(line.data(), line.size());
    buffer_.push_back('\n');
    if (buffer_.size() >= kBufferSize) FlushBuffer();
  }
  /// Checkpoint barrier: rolls the part and writes every unpublished part into `entries`.
  void Snapshot(int64_t checkpoint_id, std::vector<std::string>* entries);
  /// Publishes the parts of checkpoints up to `checkpoint_id`.
  void NotifyComplete(int64_t checkpoint_id);
  /// End of input: rolls (and, without checkpoints, publishes) the last part.
  void Finish();
  /// Discards the part in progress (a failed or cancelled attempt).
  void Close();

 private:
  static constexpr size_t kBufferSize = size_t{1} << 20;
  void FlushBuffer();
  /// Stages the part in progress (if it holds data); without checkpoints publishes it.
  void Roll();
  void ScheduleRoll(int64_t at);
  std::string NextPartUri();

  const std::string dir_;
  const PartFileOptions options_;
  RuntimeContext* ctx_ = nullptr;
  std::shared_ptr<fs::FileSystem> fs_;
  std::unique_ptr<fs::CommitStream> part_;
  uint64_t part_bytes_ = 0;
  std::string buffer_;
  std::string attempt_uid_;
  int64_t next_part_ = 0;
  bool finished_ = false;
  std::vector<std::string> restored_;
  std::vector<fs::CommitHandle> staged_;                        // rolled since the last barrier
  std::map<int64_t, std::vector<fs::CommitHandle>> pending_;    // by checkpoint id
};

}  // namespace eddy::connectors::files
