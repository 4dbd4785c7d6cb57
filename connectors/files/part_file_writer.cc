#include "connectors/files/part_file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace eddy::connectors::files {

namespace fs = std::filesystem;

PartFileWriter::~PartFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
}

absl::Status PartFileWriter::Error(const std::string& what, int err) const {
  return absl::UnavailableError(what + " '" + path_ + "': " + std::strerror(err));
}

absl::Status PartFileWriter::Open(const std::string& dir, int subtask, int attempt, int part) {
  if (fd_ >= 0) return absl::FailedPreconditionError("part file '" + path_ + "' is already open");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::UnavailableError("cannot create directory '" + dir + "': " + ec.message());
  const std::string prefix = ".part-" + std::to_string(subtask) + ".inprogress.";
  const std::string mine = prefix + std::to_string(attempt);
  // Leftovers of earlier attempts of this subtask (a killed TaskManager cannot clean up).
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) == 0 && name != mine) fs::remove(it->path(), ec);
  }
  path_ = (fs::path(dir) / mine).string();
  std::string final_name = "part-" + std::to_string(subtask);
  if (part >= 0) final_name += "-" + std::to_string(part);
  final_path_ = (fs::path(dir) / final_name).string();
  has_data_ = false;
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) return Error("cannot open", errno);
  buffer_.clear();
  buffer_.reserve(kBufferSize);
  return absl::OkStatus();
}

absl::Status PartFileWriter::AppendLine(std::string_view line) {
  if (fd_ < 0) return absl::FailedPreconditionError("part file '" + path_ + "' is not open");
  buffer_.append(line.data(), line.size());
  buffer_.push_back('\n');
  has_data_ = true;
  if (buffer_.size() >= kBufferSize) return Flush();
  return absl::OkStatus();
}

absl::Status PartFileWriter::Flush() {
  size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      buffer_.clear();  // do not retry the same bytes on Close()
      return Error("cannot write", err);
    }
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
  return absl::OkStatus();
}

absl::Status PartFileWriter::Commit() {
  if (fd_ < 0) return absl::OkStatus();
  absl::Status status = Flush();
  if (::close(fd_) != 0 && status.ok()) status = Error("cannot close", errno);
  fd_ = -1;
  if (!status.ok()) {
    ::unlink(path_.c_str());
    return status;
  }
  if (std::rename(path_.c_str(), final_path_.c_str()) != 0) {
    int err = errno;
    ::unlink(path_.c_str());
    return absl::UnavailableError("cannot rename '" + path_ + "' to '" + final_path_ +
                                  "': " + std::strerror(err));
  }
  return absl::OkStatus();
}

absl::Status PartFileWriter::Close() {
  if (fd_ < 0) return absl::OkStatus();
  buffer_.clear();
  absl::Status status;
  if (::close(fd_) != 0) status = Error("cannot close", errno);
  fd_ = -1;
  ::unlink(path_.c_str());
  return status;
}

}  // namespace eddy::connectors::files
