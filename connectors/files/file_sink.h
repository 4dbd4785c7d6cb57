// File sinks: each subtask writes its records, one formatted line each, to its own part
// file <dir>/part-<subtask>, made visible when the subtask finishes. With a rollover
// interval (for unbounded streams) the subtask also commits what it wrote every interval,
// as <dir>/part-<subtask>-<n>. With checkpoints the sink is exactly once: parts are
// pre-committed at each barrier and published when the checkpoint completes
// (committing_writer.h). `dir` may be a local path, file:// or s3:// URI. A sink instance
// is driven by one task thread; the defs and factories are copyable values.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "api/job_builder.h"
#include "api/operator.h"
#include "connectors/files/committing_writer.h"
#include "connectors/files/part_file_writer.h"

namespace eddy::connectors::files {

namespace internal {

/// Throws std::runtime_error with the status's message (it names the file) if not OK.
void ThrowIfError(const absl::Status& status);

/// True when the sink writes through a FileSystem (CommittingPartWriter): with
/// checkpoints (exactly once) or to a URI such as s3://; else through a local PartFileWriter.
bool UsesFileSystem(const RuntimeContext& ctx, const std::string& dir);

template <typename T, typename Format>
class FileSink final : public SinkFunction<T> {
 public:
  FileSink(std::string dir, Format format, PartFileOptions options)
      : dir_(std::move(dir)), format_(std::move(format)), options_(options) {}

  void InitializeState(const std::vector<std::string>& entries) override { restored_ = entries; }
  void Open(RuntimeContext& ctx) override {
    ctx_ = &ctx;
    if (UsesFileSystem(ctx, dir_)) {
      parts_ = std::make_unique<CommittingPartWriter>(dir_, options_);
      parts_->Restore(restored_);
      parts_->Open(ctx);
      return;
    }
    const bool rolling = options_.rollover.count() > 0 && ctx.processing_time != nullptr;
    ThrowIfError(writer_.Open(dir_, ctx.subtask, ctx.attempt, rolling ? 0 : -1));
    if (rolling) ScheduleRoll(ctx.processing_time->CurrentProcessingTime() + options_.rollover.count());
  }
  void WriteBatch(std::span<const StreamRecord<T>> batch) override {
    if (parts_ != nullptr) {
      for (const auto& r : batch) parts_->AppendLine(format_(r.value));
      return;
    }
    for (const auto& r : batch) ThrowIfError(writer_.AppendLine(format_(r.value)));
  }
  void SnapshotState(int64_t checkpoint_id, std::vector<std::string>* entries) override {
    if (parts_ != nullptr) parts_->Snapshot(checkpoint_id, entries);
  }
  void NotifyCheckpointComplete(int64_t checkpoint_id) override {
    if (parts_ != nullptr) parts_->NotifyComplete(checkpoint_id);
  }
  void Finish() override {
    if (parts_ != nullptr) {
      parts_->Finish();
      return;
    }
    ThrowIfError(writer_.Commit());
  }
  void Close() override {
    if (parts_ != nullptr) {
      parts_->Close();
      return;
    }
    ThrowIfError(writer_.Close());
  }

 private:
  /// Every rollover interval: commits the part written so far (if any) and starts the next.
  void ScheduleRoll(int64_t at) {
    ctx_->processing_time->RegisterTimer(at, [this](int64_t now) {
      if (!writer_.is_open()) return;  // finished
      if (writer_.has_data()) {
        ThrowIfError(writer_.Commit());
        ThrowIfError(writer_.Open(dir_, ctx_->subtask, ctx_->attempt, ++part_));
      }
      ScheduleRoll(now + options_.rollover.count());
    });
  }

  std::string dir_;
  Format format_;
  PartFileOptions options_;
  RuntimeContext* ctx_ = nullptr;
  int part_ = 0;
  PartFileWriter writer_;
  std::unique_ptr<CommittingPartWriter> parts_;
  std::vector<std::string> restored_;
};

}  // namespace internal

struct FileSinkOptions {
  /// > 0: also roll the part file every interval. Without checkpoints the rolled part is
  /// committed at once (part-<subtask>-<n>), so an unbounded stream's output becomes
  /// visible as it runs, and a restarted job may repeat lines an earlier attempt committed.
  /// With checkpoints parts are committed when the checkpoint after them completes.
  std::chrono::milliseconds rollover_interval{0};
  /// With checkpoints or an s3:// directory: a part rolls once it holds this many bytes.
  uint64_t max_part_size = uint64_t{128} << 20;
};

/// Returns a sink writing format(record) + '\n' for each record to <dir>/part-<subtask>
/// (creating `dir` if missing, truncating an existing part file). Output is buffered and
/// complete once the sink finishes; a write error fails the task naming the file.
/// `format` is any callable std::string(const T&); it is inlined into the sink.
template <typename T, typename Format>
SinkDef<T> file_sink(std::string dir, Format format, std::string name = "FileSink",
                     FileSinkOptions opts = {}) {
  SinkDef<T> def;
  def.name = std::move(name);
  def.factory = [dir = std::move(dir), format = std::move(format),
                 options = PartFileOptions{opts.rollover_interval, opts.max_part_size}]()
                    -> std::unique_ptr<SinkFunction<T>> {
    return std::make_unique<internal::FileSink<T, Format>>(dir, format, options);
  };
  return def;
}

/// Returns a file_sink that writes each string as one line.
SinkDef<std::string> text_sink(std::string dir);

}  // namespace eddy::connectors::files
