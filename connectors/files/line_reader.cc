#include "connectors/files/line_reader.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace eddy::connectors::files {

SplitLineReader::SplitLineReader(std::shared_ptr<fs::FileSystem> file_system, size_t chunk_size)
    : file_system_(std::move(file_system)), chunk_size_(std::max<size_t>(chunk_size, 1)) {}

void SplitLineReader::Open(const FileSplit& split) {
  split_ = split;
  status_ = absl::OkStatus();
  chunk_.clear();
  pos_ = 0;
  eof_ = false;
  carry_.clear();
  last_line_start_ = 1;
  done_ = split_.begin >= split_.end;
  if (done_) return;
  if (split_.begin == 0) {
    read_offset_ = line_start_ = 0;
    return;
  }
  read_offset_ = split_.begin - 1;
  done_ = !SkipPartialLine();
}

bool SplitLineReader::Fill() {
  pos_ = 0;
  if (eof_) {
    chunk_.clear();
    return true;
  }
  // Up to the split's end and a little past it, at most a chunk.
  const uint64_t to_end = split_.end > read_offset_ ? split_.end - read_offset_ : 0;
  const uint64_t want = std::min<uint64_t>(chunk_size_, to_end + kReadPastEnd);
  absl::StatusOr<std::string> read = file_system_->Read(split_.path, read_offset_, want);
  if (!read.ok()) {
    status_ = absl::Status(read.status().code(),
                           absl::StrCat("cannot read '", split_.path, "' at byte ", read_offset_,
                                        ": ", read.status().message()));
    done_ = true;
    chunk_.clear();
    return false;
  }
  chunk_ = *std::move(read);
  read_offset_ += chunk_.size();
  eof_ = chunk_.size() < want;
  return true;
}

bool SplitLineReader::SkipPartialLine() {
  // A line starts in the split after a '\n' at one of [begin - 1, end - 1).
  while (true) {
    const uint64_t chunk_offset = read_offset_;
    if (chunk_offset + 1 >= split_.end) return false;
    if (!Fill()) return false;
    if (chunk_.empty()) return false;  // the file ends first
    const char* nl = static_cast<const char*>(std::memchr(chunk_.data(), '\n', chunk_.size()));
    if (nl != nullptr) {
      pos_ = static_cast<size_t>(nl - chunk_.data()) + 1;
      line_start_ = chunk_offset + pos_;
      return true;
    }
  }
}

bool SplitLineReader::Next(std::string_view* line) {
  if (done_) return false;
  if (line_start_ >= split_.end) {
    done_ = true;
    return false;
  }
  carry_.clear();
  bool spans = false;  // part of the line is in carry_
  while (true) {
    if (pos_ == chunk_.size()) {
      if (!Fill()) return false;
      if (chunk_.empty()) {  // EOF: a last line without '\n', if any
        done_ = true;
        if (!spans) return false;
        last_line_start_ = line_start_;
        line_start_ += carry_.size();
        *line = carry_;
        break;
      }
    }
    const char* begin = chunk_.data() + pos_;
    const size_t avail = chunk_.size() - pos_;
    const char* nl = static_cast<const char*>(std::memchr(begin, '\n', avail));
    if (nl == nullptr) {
      carry_.append(begin, avail);
      spans = true;
      pos_ = chunk_.size();
      continue;
    }
    const size_t len = static_cast<size_t>(nl - begin);
    last_line_start_ = line_start_;
    if (spans) {
      carry_.append(begin, len);
      *line = carry_;
    } else {
      *line = std::string_view(begin, len);
    }
    line_start_ += line->size() + 1;
    pos_ += len + 1;
    break;
  }
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  return true;
}

}  // namespace eddy::connectors::files
