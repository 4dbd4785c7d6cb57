// Debugging sinks: print() writes each record as a line to the TaskManager's stdout,
// discard() drops records (for benchmarks). A sink instance is driven by one task thread;
// print's lines from concurrent subtasks do not interleave (one write(2) per line).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "api/job_builder.h"
#include "api/operator.h"

namespace eddy::connectors {

namespace internal {

/// Writes `line` to stdout (fd 1) with one write(2) where possible; throws
/// std::runtime_error if stdout is not writable.
void WriteStdout(std::string_view line);

template <typename T, typename Format>
class PrintSink final : public SinkFunction<T> {
 public:
  PrintSink(Format format, std::string prefix)
      : format_(std::move(format)), prefix_(std::move(prefix)) {}

  void Open(RuntimeContext& ctx) override {
    head_ = prefix_.empty() ? "" : prefix_ + ":";
    head_ += std::to_string(ctx.subtask + 1) + "> ";
  }
  void WriteBatch(std::span<const StreamRecord<T>> batch) override {
    for (const auto& r : batch) {
      line_ = head_;
      line_ += format_(r.value);
      line_ += '\n';
      WriteStdout(line_);
    }
  }

 private:
  Format format_;
  std::string prefix_;
  std::string head_;
  std::string line_;
};

template <typename T>
class DiscardSink final : public SinkFunction<T> {
 public:
  void WriteBatch(std::span<const StreamRecord<T>> batch) override { count_ += batch.size(); }
  /// Returns the number of records received.
  uint64_t count() const { return count_; }

 private:
  uint64_t count_ = 0;
};

}  // namespace internal

/// Returns a sink printing "<subtask+1>> <format(record)>" per record to stdout, or
/// "<prefix>:<subtask+1>> ..." with a prefix (like Flink's print()).
/// `format` is any callable std::string(const T&); it is inlined into the sink.
template <typename T, typename Format>
SinkDef<T> print(Format format, std::string prefix = "") {
  SinkDef<T> def;
  def.name = "Print";
  def.factory = [format = std::move(format),
                 prefix = std::move(prefix)]() -> std::unique_ptr<SinkFunction<T>> {
    return std::make_unique<internal::PrintSink<T, Format>>(format, prefix);
  };
  return def;
}

/// Returns a sink that drops every record (it only counts them).
template <typename T>
SinkDef<T> discard() {
  SinkDef<T> def;
  def.name = "Discard";
  def.factory = []() -> std::unique_ptr<SinkFunction<T>> {
    return std::make_unique<internal::DiscardSink<T>>();
  };
  return def;
}

}  // namespace eddy::connectors
