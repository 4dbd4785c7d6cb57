// File sources: text lines and CSV rows of a file or a directory of files, local or on S3
// (through fs::FileSystem). Bounded: split across subtasks by byte ranges (see
// file_splits.h and line_reader.h). Continuous: the directory is watched for new files.
// Optionally rate limited. A reader is driven by one task thread; the defs and factories
// are copyable values.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "api/job_builder.h"
#include "api/operator.h"
#include "api/source.h"

namespace eddy::connectors::files {

struct FileSourceOptions {
  /// Records per second per subtask (for demos and tests); 0 = as fast as possible.
  double records_per_second = 0;
  /// > 0: continuous mode: keep watching the directory and read files that appear in it
  /// (each new file whole, by one subtask); the source is unbounded. Files must appear
  /// complete (write elsewhere, then rename into the directory).
  std::chrono::milliseconds monitor_interval{0};
  /// Operator name; empty: "TextLines" / "CsvRows".
  std::string name;
};

/// Returns a bounded source of the lines (without "\n" / "\r\n") of `path`: a file, or every
/// non-hidden regular file directly in a directory, in name order. `path` may be a plain
/// path, a file:// URI or s3://bucket/prefix (configured by the TaskManager's s3.* keys).
/// Over all subtasks each line is emitted exactly once; subtask i's lines are those starting
/// in its byte range. The input must not change while the job runs. A missing path fails the
/// task with a message naming it.
SourceDef<std::string> text_lines(std::string path, FileSourceOptions opts = {});

/// Returns a bounded source of the CSV rows of `path`, split like text_lines: one row per
/// line (fields must not contain newlines), RFC 4180 quoting, blank lines skipped. With
/// `skip_header` the first line of every file is dropped.
SourceDef<std::vector<std::string>> csv_rows(std::string path, char delimiter = ',',
                                             bool skip_header = false,
                                             FileSourceOptions opts = {});

/// Splits one CSV line into *fields (cleared first). A field that starts with '"' is quoted:
/// it runs to the next lone '"', "" stands for '"', and the delimiter is literal inside it.
/// Lenient on malformed input: text after a closing quote is appended to the field, and an
/// unterminated quote runs to the end of the line.
void ParseCsvLine(std::string_view line, char delimiter, std::vector<std::string>* fields);

}  // namespace eddy::connectors::files
