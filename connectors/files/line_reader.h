// Reads the lines one FileSplit owns, with a large buffer (no per-character I/O). Used by
// one task thread; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "connectors/files/file_splits.h"

namespace eddy::connectors::files {

/// Iterates over the lines that start in a split's byte range, Hadoop-style: a split that
/// starts at offset b > 0 skips to just after the first '\n' at or after b-1 (the line
/// before belongs to the previous split); it reads every line that starts before its end,
/// including the one running past it. Lines come without their '\n' and a trailing '\r'.
/// Like a RocksDB iterator, Next() returns false at the end or on error; check status().
class SplitLineReader {
 public:
  static constexpr size_t kDefaultBufferSize = size_t{1} << 20;
  /// Smallest buffer allocated for a split shorter than `buffer_size` (unless that is smaller).
  static constexpr size_t kMinBufferSize = size_t{64} << 10;

  /// Reads with a buffer of up to `buffer_size` bytes (less for splits that are shorter).
  explicit SplitLineReader(size_t buffer_size = kDefaultBufferSize);
  ~SplitLineReader();
  SplitLineReader(const SplitLineReader&) = delete;
  SplitLineReader& operator=(const SplitLineReader&) = delete;

  /// Starts reading `split`; any previous split is closed. Errors show in status().
  void Open(const FileSplit& split);

  /// Sets *line to the next line of the split; it stays valid until the next call.
  /// Returns false at the end of the split or on error.
  bool Next(std::string_view* line);

  /// Returns true if the last line returned is the first line of its file.
  bool at_file_start() const { return last_line_start_ == 0; }
  const absl::Status& status() const { return status_; }

 private:
  /// Refills the buffer from the file; returns false on error (status_ set). lim_ == 0 at EOF.
  bool Fill();
  /// Moves to the first line start >= split_.begin; returns false if there is none.
  bool SkipPartialLine();
  void CloseFile();
  void Fail(const std::string& what, int err);

  FileSplit split_;
  int fd_ = -1;
  std::unique_ptr<char[]> buffer_;  // allocated on first use, not zero-filled
  size_t max_buffer_size_;
  size_t buffer_size_ = 0;
  size_t pos_ = 0;             // next unread byte in buffer_
  size_t lim_ = 0;             // end of valid bytes in buffer_
  uint64_t line_start_ = 0;    // file offset of buffer_[pos_] when at a line boundary
  uint64_t last_line_start_ = 1;
  bool done_ = true;
  std::string carry_;          // a line that spans buffer refills
  absl::Status status_;
};

}  // namespace eddy::connectors::files
