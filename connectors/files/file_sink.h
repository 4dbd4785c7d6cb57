// File sinks: each subtask writes its records, one formatted line each, to its own part
// file <dir>/part-<subtask>. A sink instance is driven by one task thread; the defs and
// factories are copyable values.
#pragma once

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
  FileSink(std::string dir, Format format) : dir_(std::move(dir)), format_(std::move(format)) {}

  void Open(RuntimeContext& ctx) override {
    ThrowIfError(writer_.Open(dir_, ctx.subtask, ctx.attempt));
  }
  void WriteBatch(std::span<const StreamRecord<T>> batch) override {
    for (const auto& r : batch) ThrowIfError(writer_.AppendLine(format_(r.value)));
  }
  void Finish() override { ThrowIfError(writer_.Commit()); }
  void Close() override { ThrowIfError(writer_.Close()); }

 private:
  std::string dir_;
  Format format_;
  PartFileWriter writer_;
};

}  // namespace internal

/// Returns a sink writing format(record) + '\n' for each record to <dir>/part-<subtask>
/// (creating `dir` if missing, truncating an existing part file). Output is buffered and
/// complete once the sink finishes; a write error fails the task naming the file.
/// `format` is any callable std::string(const T&); it is inlined into the sink.
template <typename T, typename Format>
SinkDef<T> file_sink(std::string dir, Format format, std::string name = "FileSink") {
  SinkDef<T> def;
  def.name = std::move(name);
  def.factory = [dir = std::move(dir),
                 format = std::move(format)]() -> std::unique_ptr<SinkFunction<T>> {
    return std::make_unique<internal::FileSink<T, Format>>(dir, format);
  };
  return def;
}

/// Returns a file_sink that writes each string as one line.
SinkDef<std::string> text_sink(std::string dir);

}  // namespace eddy::connectors::files
