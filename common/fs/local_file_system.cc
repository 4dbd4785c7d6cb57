#include "common/fs/local_file_system.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <random>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"

namespace eddy::fs {
namespace {

namespace stdfs = std::filesystem;

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

absl::Status ErrnoError(std::string_view what, std::string_view path, int err) {
  std::string message = absl::StrCat("cannot ", Av(what), " ", Av(path), ": ", ErrnoText(err));
  if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(message);
  return absl::InternalError(message);
}

constexpr std::string_view kTmpInfix = ".tmp.";
constexpr std::string_view kInProgressInfix = ".inprogress.";

/// A random name for a hidden sibling of `path`: `<dir>/.<name><infix><16 hex digits>`.
std::string HiddenSibling(const std::string& path, std::string_view infix) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  const stdfs::path p(path);
  return (p.parent_path() / absl::StrCat(".", p.filename().string(), Av(infix),
                                         absl::Hex(random(), absl::kZeroPad16)))
      .string();
}

/// Whether `name` is a file that a write in progress uses (WriteAtomically, Create,
/// CreateForCommit): List() does not show them.
bool IsInProgressName(const std::string& name) {
  if (name.empty() || name.front() != '.') return false;
  return name.find(kTmpInfix) != std::string::npos ||
         name.find(kInProgressInfix) != std::string::npos;
}

absl::Status CreateParentDirectories(const std::string& path) {
  const stdfs::path parent = stdfs::path(path).parent_path();
  if (parent.empty()) return absl::OkStatus();
  std::error_code ec;
  stdfs::create_directories(parent, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create directory ", parent.string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

/// Makes a rename (or unlink) in the directory of `path` durable.
absl::Status SyncParentDirectory(const std::string& path) {
  stdfs::path parent = stdfs::path(path).parent_path();
  if (parent.empty()) parent = ".";
  int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open directory", parent.string(), errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoError("sync directory", parent.string(), err);
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, std::string_view bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

/// A file being written under a hidden name next to its target. Finish() syncs and closes
/// it; Discard() closes and removes it.
class HiddenFile {
 public:
  HiddenFile(std::string target, std::string path, int fd)
      : target_(std::move(target)), path_(std::move(path)), fd_(fd) {}
  ~HiddenFile() { Discard(); }
  HiddenFile(const HiddenFile&) = delete;
  HiddenFile& operator=(const HiddenFile&) = delete;

  static absl::StatusOr<std::unique_ptr<HiddenFile>> Open(const std::string& target,
                                                          std::string_view infix) {
    EDDY_RETURN_IF_ERROR(CreateParentDirectories(target));
    std::string path = HiddenSibling(target, infix);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError("create", path, errno);
    return std::make_unique<HiddenFile>(target, std::move(path), fd);
  }

  absl::Status Write(std::string_view bytes) {
    if (fd_ < 0) {
      return absl::FailedPreconditionError(absl::StrCat("write to ", target_, " after it ended"));
    }
    absl::Status status = WriteAll(fd_, bytes, path_);
    if (status.ok()) size_ += bytes.size();
    return status;
  }

  /// Syncs and closes the file; it stays under its hidden name.
  absl::Status Finish() {
    if (fd_ < 0) {
      return absl::FailedPreconditionError(absl::StrCat(target_, " was closed already"));
    }
    if (::fsync(fd_) != 0) return ErrnoError("sync", path_, errno);
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return ErrnoError("close", path_, errno);
    return absl::OkStatus();
  }

  /// Renames the finished file to its target.
  absl::Status Publish() {
    if (::rename(path_.c_str(), target_.c_str()) != 0) {
      return ErrnoError("rename into", target_, errno);
    }
    published_ = true;
    return SyncParentDirectory(target_);
  }

  void Discard() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!published_ && !kept_) ::unlink(path_.c_str());
  }
  /// Leaves the file in place when this object goes (a staged file waiting for Commit()).
  void Keep() { kept_ = true; }

  const std::string& path() const { return path_; }
  const std::string& target() const { return target_; }
  uint64_t size() const { return size_; }
  bool open() const { return fd_ >= 0; }

 private:
  std::string target_;
  std::string path_;
  int fd_;
  uint64_t size_ = 0;
  bool published_ = false;
  bool kept_ = false;
};

class LocalWriteStream final : public WriteStream {
 public:
  explicit LocalWriteStream(std::unique_ptr<HiddenFile> file) : file_(std::move(file)) {}

  absl::Status Write(std::string_view bytes) override { return file_->Write(bytes); }
  absl::Status Close() override {
    absl::Status status = file_->Finish();
    if (status.ok()) status = file_->Publish();
    if (!status.ok()) file_->Discard();
    return status;
  }
  void Abort() override { file_->Discard(); }
  uint64_t bytes_written() const override { return file_->size(); }

 private:
  std::unique_ptr<HiddenFile> file_;
};

class LocalCommitStream final : public CommitStream {
 public:
  LocalCommitStream(std::string uri, std::unique_ptr<HiddenFile> file)
      : uri_(std::move(uri)), file_(std::move(file)) {}

  absl::Status Write(std::string_view bytes) override { return file_->Write(bytes); }
  absl::StatusOr<CommitHandle> CloseForCommit() override {
    absl::Status status = file_->Finish();
    if (status.ok()) status = SyncParentDirectory(file_->path());
    if (!status.ok()) {
      file_->Discard();
      return status;
    }
    file_->Keep();
    CommitHandle handle;
    handle.target = uri_;
    handle.staged = file_->path();
    handle.size = file_->size();
    return handle;
  }
  void Abort() override { file_->Discard(); }
  uint64_t bytes_written() const override { return file_->size(); }

 private:
  std::string uri_;
  std::unique_ptr<HiddenFile> file_;
};

}  // namespace

absl::StatusOr<std::string> LocalPathOf(std::string_view uri) {
  std::string_view path = uri;
  if (path.substr(0, 7) == "file://") {
    path.remove_prefix(7);
    const size_t slash = path.find('/');
    const std::string_view host = path.substr(0, slash);
    if (!host.empty() && host != "localhost") {
      return absl::InvalidArgumentError(absl::StrCat(
          "file URI '", Av(uri), "' names host '", Av(host), "'; only local files are supported"));
    }
    path = slash == std::string_view::npos ? "" : path.substr(slash);
  } else if (path.substr(0, 5) == "file:") {
    path.remove_prefix(5);  // file:/abs/path
  }
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("empty path in '", Av(uri), "'"));
  }
  return std::string(path);
}

std::shared_ptr<LocalFileSystem> LocalFileSystem::Instance() {
  static const auto* const instance =
      new std::shared_ptr<LocalFileSystem>(std::make_shared<LocalFileSystem>());
  return *instance;
}

absl::StatusOr<std::string> LocalFileSystem::Read(std::string_view uri, uint64_t offset,
                                                  uint64_t length) {
  EDDY_ASSIGN_OR_RETURN(const std::string path, LocalPathOf(uri));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open", path, errno);
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoError("stat", path, errno);
  if (S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read ", path, ": a directory"));
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  std::string out;
  if (offset < size) out.reserve(static_cast<size_t>(std::min(length, size - offset)));
  char buffer[64 * 1024];
  uint64_t position = offset;
  while (out.size() < length) {
    const size_t want =
        static_cast<size_t>(std::min<uint64_t>(sizeof(buffer), length - out.size()));
    const ssize_t n = ::pread(fd, buffer, want, static_cast<off_t>(position));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", path, errno);
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
    position += static_cast<uint64_t>(n);
  }
  return out;
}

absl::StatusOr<FileStatus> LocalFileSystem::Stat(std::string_view uri) {
  EDDY_ASSIGN_OR_RETURN(const std::string path, LocalPathOf(uri));
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoError("stat", path, errno);
  if (S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat(path, " is a directory, not a file"));
  }
  return FileStatus{std::string(uri), static_cast<uint64_t>(st.st_size)};
}

absl::StatusOr<std::vector<FileStatus>> LocalFileSystem::List(std::string_view prefix_uri) {
  EDDY_ASSIGN_OR_RETURN(const std::string root, LocalPathOf(prefix_uri));
  std::vector<FileStatus> out;
  std::error_code ec;
  if (!stdfs::is_directory(root, ec)) return out;  // nothing under a file or a missing path
  stdfs::recursive_directory_iterator it(root, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", root, ": ", ec.message()));
  for (; it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const stdfs::directory_entry& entry = *it;
    std::error_code type_ec;
    if (!entry.is_regular_file(type_ec)) continue;
    if (IsInProgressName(entry.path().filename().string())) continue;
    const uint64_t size = entry.file_size(type_ec);
    if (type_ec) continue;  // removed while listed
    const std::string relative = entry.path().lexically_relative(root).generic_string();
    out.push_back(FileStatus{JoinUri(prefix_uri, relative), size});
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", root, ": ", ec.message()));
  std::sort(out.begin(), out.end(),
            [](const FileStatus& a, const FileStatus& b) { return a.uri < b.uri; });
  return out;
}

absl::Status LocalFileSystem::WriteAtomically(std::string_view uri, std::string_view bytes) {
  EDDY_ASSIGN_OR_RETURN(const std::string path, LocalPathOf(uri));
  EDDY_ASSIGN_OR_RETURN(auto file, HiddenFile::Open(path, kTmpInfix));
  EDDY_RETURN_IF_ERROR(file->Write(bytes));
  EDDY_RETURN_IF_ERROR(file->Finish());
  return file->Publish();
}

absl::StatusOr<std::unique_ptr<WriteStream>> LocalFileSystem::Create(std::string_view uri) {
  EDDY_ASSIGN_OR_RETURN(const std::string path, LocalPathOf(uri));
  EDDY_ASSIGN_OR_RETURN(auto file, HiddenFile::Open(path, kTmpInfix));
  return std::unique_ptr<WriteStream>(std::make_unique<LocalWriteStream>(std::move(file)));
}

absl::StatusOr<std::unique_ptr<CommitStream>> LocalFileSystem::CreateForCommit(
    std::string_view uri) {
  EDDY_ASSIGN_OR_RETURN(const std::string path, LocalPathOf(uri));
  // Absolute, so that the handle still names the staged file in a process with another
  // working directory.
  std::error_code ec;
  const std::string absolute = stdfs::absolute(path, ec).string();
  if (ec) return absl::InternalError(absl::StrCat("cannot resolve ", path, ": ", ec.message()));
  EDDY_ASSIGN_OR_RETURN(auto file, HiddenFile::Open(absolute, kInProgressInfix));
  return std::unique_ptr<CommitStream>(
      std::make_unique<LocalCommitStream>(std::string(uri), std::move(file)));
}

absl::Status LocalFileSystem::Commit(const CommitHandle& handle) {
  EDDY_ASSIGN_OR_RETURN(const std::string target, LocalPathOf(handle.target));
  if (::rename(handle.staged.c_str(), target.c_str()) == 0) {
    return SyncParentDirectory(target);
  }
  const int err = errno;
  if (err == ENOENT) {
    struct stat st {};
    if (::stat(target.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      return absl::OkStatus();  // committed before
    }
    return absl::NotFoundError(absl::StrCat("cannot commit ", target, ": the staged file ",
                                            handle.staged, " is gone and ", target,
                                            " does not exist"));
  }
  return ErrnoError(absl::StrCat("rename ", handle.staged, " into"), target, err);
}

absl::Status LocalFileSystem::AbortCommit(const CommitHandle& handle) {
  if (::unlink(handle.staged.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError("remove staged file", handle.staged, errno);
  }
  return absl::OkStatus();
}

absl::Status LocalFileSystem::Delete(std::string_view uri) {
  EDDY_ASSIGN_OR_RETURN(const std::string path, LocalPathOf(uri));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError("delete", path, errno);
  return absl::OkStatus();
}

absl::Status LocalFileSystem::DeleteRecursive(std::string_view prefix_uri) {
  EDDY_ASSIGN_OR_RETURN(const std::string root, LocalPathOf(prefix_uri));
  std::error_code ec;
  if (!stdfs::is_directory(root, ec)) return absl::OkStatus();
  stdfs::remove_all(root, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot delete ", root, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace eddy::fs
