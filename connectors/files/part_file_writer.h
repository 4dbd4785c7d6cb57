// Writes one sink subtask's part file through a large buffer. The file is written hidden
// as <dir>/.part-<subtask>.inprogress.<attempt> and renamed to <dir>/part-<subtask> by
// Commit() when the subtask finishes, so a restarted job leaves exactly one clean copy: a
// new attempt removes the in-progress files older attempts of its subtask left behind, and
// an attempt that is cancelled or fails never becomes visible.
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
  /// Closes and removes an uncommitted file without reporting errors.
  ~PartFileWriter();
  PartFileWriter(const PartFileWriter&) = delete;
  PartFileWriter& operator=(const PartFileWriter&) = delete;

  /// Creates `dir` (and its parents) if missing, removes in-progress files of other
  /// attempts of `subtask`, and creates or truncates this attempt's in-progress file. It is
  /// committed as <dir>/part-<subtask>, or <dir>/part-<subtask>-<part> when part >= 0.
  absl::Status Open(const std::string& dir, int subtask, int attempt = 0, int part = -1);
  /// Appends `line` and '\n'; writes the buffer out when it is full.
  absl::Status AppendLine(std::string_view line);
  /// Writes the buffer out.
  absl::Status Flush();
  /// Flushes and closes the file and renames it to <dir>/part-<subtask> (replacing an
  /// older one). A no-op if it is not open.
  absl::Status Commit();
  /// Closes the file without committing it and removes it (a cancelled or failed
  /// attempt); a no-op if it is not open (e.g. after Commit()).
  absl::Status Close();

  bool is_open() const { return fd_ >= 0; }
  /// Returns true if a line was appended since Open().
  bool has_data() const { return has_data_; }
  /// Returns the path being written (the in-progress file).
  const std::string& path() const { return path_; }
  /// Returns the path the file gets on Commit().
  const std::string& final_path() const { return final_path_; }

 private:
  absl::Status Error(const std::string& what, int err) const;

  std::string path_;
  std::string final_path_;
  int fd_ = -1;
  bool has_data_ = false;
  std::string buffer_;
};

}  // namespace eddy::connectors::files
