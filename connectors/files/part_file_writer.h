// Writes one sink subtask's part file, <dir>/part-<subtask>, through a large buffer.
// Used by one task thread; not thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace eddy::connectors::files {

class PartFileWriter {
 public:
  static constexpr size_t kBufferSize = size_t{1} << 20;

  PartFileWriter() = default;
  /// Closes the file without reporting errors; call Close() to see them.
  ~PartFileWriter();
  PartFileWriter(const PartFileWriter&) = delete;
  PartFileWriter& operator=(const PartFileWriter&) = delete;

  /// Creates `dir` (and its parents) if missing and creates or truncates <dir>/part-<subtask>.
  absl::Status Open(const std::string& dir, int subtask);
  /// Appends `line` and '\n'; writes the buffer out when it is full.
  absl::Status AppendLine(std::string_view line);
  /// Writes the buffer out.
  absl::Status Flush();
  /// Flushes and closes the file; a no-op if it is not open.
  absl::Status Close();

  bool is_open() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

 private:
  absl::Status Error(const std::string& what, int err) const;

  std::string path_;
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace eddy::connectors::files
