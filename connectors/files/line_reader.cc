#include "connectors/files/line_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace eddy::connectors::files {

SplitLineReader::SplitLineReader(size_t buffer_size)
    : max_buffer_size_(std::max<size_t>(buffer_size, 1)) {}

SplitLineReader::~SplitLineReader() { CloseFile(); }

void SplitLineReader::CloseFile() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void SplitLineReader::Fail(const std::string& what, int err) {
  status_ = absl::UnavailableError(what + " '" + split_.path + "': " + std::strerror(err));
  done_ = true;
  CloseFile();
}

void SplitLineReader::Open(const FileSplit& split) {
  CloseFile();
  split_ = split;
  status_ = absl::OkStatus();
  pos_ = lim_ = 0;
  carry_.clear();
  last_line_start_ = 1;
  done_ = split_.begin >= split_.end;
  if (done_) return;
  // A small split needs no 1 MiB buffer (a line running past it just takes more reads).
  const uint64_t want = std::min<uint64_t>(
      max_buffer_size_, std::max<uint64_t>(split_.end - split_.begin + 1, kMinBufferSize));
  if (buffer_ == nullptr || buffer_size_ < want) {
    buffer_size_ = static_cast<size_t>(want);
    buffer_ = std::make_unique_for_overwrite<char[]>(buffer_size_);
  }
  fd_ = ::open(split_.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return Fail("cannot open", errno);
  if (split_.begin == 0) {
    line_start_ = 0;
    return;
  }
  done_ = !SkipPartialLine();
}

bool SplitLineReader::Fill() {
  while (true) {
    ssize_t n = ::read(fd_, buffer_.get(), buffer_size_);
    if (n >= 0) {
      pos_ = 0;
      lim_ = static_cast<size_t>(n);
      return true;
    }
    if (errno != EINTR) {
      Fail("cannot read", errno);
      return false;
    }
  }
}

bool SplitLineReader::SkipPartialLine() {
  uint64_t offset = split_.begin - 1;
  if (::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0) {
    Fail("cannot seek in", errno);
    return false;
  }
  while (true) {
    if (!Fill()) return false;
    if (lim_ == 0) return false;  // no line starts in this split
    const char* nl = static_cast<const char*>(std::memchr(buffer_.get(), '\n', lim_));
    if (nl != nullptr) {
      pos_ = static_cast<size_t>(nl - buffer_.get()) + 1;
      line_start_ = offset + pos_;
      return true;
    }
    offset += lim_;
  }
}

bool SplitLineReader::Next(std::string_view* line) {
  if (done_) return false;
  if (line_start_ >= split_.end) {
    done_ = true;
    CloseFile();
    return false;
  }
  carry_.clear();
  bool spans = false;  // part of the line is in carry_
  while (true) {
    if (pos_ == lim_) {
      if (!Fill()) return false;
      if (lim_ == 0) {  // EOF: a last line without '\n', if any
        done_ = true;
        CloseFile();
        if (!spans) return false;
        last_line_start_ = line_start_;
        line_start_ += carry_.size();
        *line = carry_;
        break;
      }
    }
    const char* begin = buffer_.get() + pos_;
    const size_t avail = lim_ - pos_;
    const char* nl = static_cast<const char*>(std::memchr(begin, '\n', avail));
    if (nl == nullptr) {
      carry_.append(begin, avail);
      spans = true;
      pos_ = lim_;
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
