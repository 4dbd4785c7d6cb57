// File sinks: each subtask writes its records, one formatted line each, to its own part
// file <dir>/part-<subtask>, made visible when the subtask finishes. With a rollover
// interval (for unbounded streams) the subtask also commits what it wrote every interval,
// as <dir>/part-<subtask>-<n>. A sink instance is driven by one task thread; the defs and
// factories are copyable values.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "api/job_builder.h"
#include "api/operator.h"
#include "connectors/files/part_file_writer.h"

namespace eddy::connectors::files {

namespace internal {

/// Throws std::runtime_error with the status's message (it names the file) if not OK.
void ThrowIfError(const absl::Status& status);

template <typename T, typename Format>
class FileSink final : public SinkFunction<T> {
 public:
  FileSink(std::string dir, Format format, std::chrono::milliseconds rollover)
      : dir_(std::move(dir)), format_(std::move(format)), rollover_(rollover) {}

  void Open(RuntimeContext& ctx) override {
    ctx_ = &ctx;
    const bool rolling = rollover_.count() > 0 && ctx.processing_time != nullptr;
    ThrowIfError(writer_.Open(dir_, ctx.subtask, ctx.attempt, rolling ? 0 : -1));
    if (rolling) ScheduleRoll(ctx.processing_time->CurrentProcessingTime() + rollover_.count());
  }
  void WriteBatch(std::span<const StreamRecord<T>> batch) override {
    for (const auto& r : batch) ThrowIfError(writer_.AppendLine(format_(r.value)));
  }
  void Finish() override { ThrowIfError(writer_.Commit()); }
  void Close() override { ThrowIfError(writer_.Close()); }

 private:
  /// Every rollover interval: commits the part written so far (if any) and starts the next.
  void ScheduleRoll(int64_t at) {
    ctx_->processing_time->RegisterTimer(at, [this](int64_t now) {
      if (!writer_.is_open()) return;  // finished
      if (writer_.has_data()) {
        ThrowIfError(writer_.Commit());
        ThrowIfError(writer_.Open(dir_, ctx_->subtask, ctx_->attempt, ++part_));
      }
      ScheduleRoll(now + rollover_.count());
    });
  }

  std::string dir_;
  Format format_;
  std::chrono::milliseconds rollover_;
  RuntimeContext* ctx_ = nullptr;
  int part_ = 0;
  PartFileWriter writer_;
};

}  // namespace internal

struct FileSinkOptions {
  /// > 0: also commit the part file written so far every interval (part-<subtask>-<n>), so
  /// an unbounded stream's output becomes visible as it runs. Until checkpoints exist, a
  /// restarted job may then repeat lines that an earlier attempt committed.
  std::chrono::milliseconds rollover_interval{0};
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
                 rollover = opts.rollover_interval]() -> std::unique_ptr<SinkFunction<T>> {
    return std::make_unique<internal::FileSink<T, Format>>(dir, format, rollover);
  };
  return def;
}

/// Returns a file_sink that writes each string as one line.
SinkDef<std::string> text_sink(std::string dir);

}  // namespace eddy::connectors::files
