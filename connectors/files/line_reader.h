// Reads the lines one FileSplit owns through fs::FileSystem (a local file or an S3 object),
// with ranged reads of large chunks (no per-character I/O, few requests). Used by one task
// thread; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/fs/file_system.h"
#include "connectors/files/file_splits.h"

namespace eddy::connectors::files {

/// Iterates over the lines that start in a split's byte range, Hadoop-style: a split that
/// starts at offset b > 0 skips to just after the first '\n' at or after b-1 (the line
/// before belongs to the previous split); it reads every line that starts before its end,
/// including the one running past it. Lines come without their '\n' and a trailing '\r'.
/// Like a RocksDB iterator, Next() returns false at the end or on error; check status().
class SplitLineReader {
 public:
  /// Bytes asked for per read (one S3 GET with a Range; local reads are pread).
  static constexpr size_t kDefaultChunkSize = size_t{4} << 20;
  /// Bytes read past the split's end with its last chunk, so that the line running past
  /// the end usually needs no read of its own.
  static constexpr size_t kReadPastEnd = size_t{64} << 10;

  /// Reads `file_system`'s files in reads of up to `chunk_size` bytes (less near the end of
  /// a split).
  explicit SplitLineReader(std::shared_ptr<fs::FileSystem> file_system,
                           size_t chunk_size = kDefaultChunkSize);
  SplitLineReader(const SplitLineReader&) = delete;
  SplitLineReader& operator=(const SplitLineReader&) = delete;

  /// Starts reading `split`; any previous split is dropped. Errors show in status().
  void Open(const FileSplit& split);

  /// Sets *line to the next line of the split; it stays valid until the next call.
  /// Returns false at the end of the split or on error.
  bool Next(std::string_view* line);

  /// Returns true if the last line returned is the first line of its file.
  bool at_file_start() const { return last_line_start_ == 0; }
  const absl::Status& status() const { return status_; }

 private:
  /// Reads the next chunk into chunk_; returns false on error (status_ set). An empty
  /// chunk_ means the end of the file.
  bool Fill();
  /// Moves to the first line start >= split_.begin; returns false if there is none.
  bool SkipPartialLine();

  std::shared_ptr<fs::FileSystem> file_system_;
  size_t chunk_size_;
  FileSplit split_;
  std::string chunk_;         // the bytes of the file from read_offset_ - chunk_.size()
  size_t pos_ = 0;            // next unread byte in chunk_
  uint64_t read_offset_ = 0;  // file offset of the next byte to read
  bool eof_ = false;          // a read came back short: nothing more to read
  uint64_t line_start_ = 0;   // file offset of chunk_[pos_] when at a line boundary
  uint64_t last_line_start_ = 1;
  bool done_ = true;
  std::string carry_;  // a line that spans chunks
  absl::Status status_;
};

}  // namespace eddy::connectors::files
