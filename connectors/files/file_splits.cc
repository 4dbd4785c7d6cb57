#include "connectors/files/file_splits.h"

#include <algorithm>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/fs/local_file_system.h"

namespace eddy::connectors::files {

namespace {

/// Whether `path` is an existing local directory. Only a local file system has directories
/// that can be empty; an S3 prefix with nothing under it does not exist.
bool IsLocalDirectory(fs::FileSystem& file_system, const std::string& path) {
  if (dynamic_cast<fs::LocalFileSystem*>(&file_system) == nullptr) return false;
  absl::StatusOr<std::string> local = fs::LocalPathOf(path);
  std::error_code ec;
  return local.ok() && std::filesystem::is_directory(*local, ec);
}

absl::Status NamingPath(const absl::Status& status, const std::string& path) {
  return absl::Status(status.code(),
                      absl::StrCat("cannot list input path '", path, "': ", status.message()));
}

}  // namespace

absl::StatusOr<std::vector<InputFile>> ListInputFiles(fs::FileSystem& file_system,
                                                       const std::string& path) {
  absl::StatusOr<std::vector<fs::FileStatus>> listed = file_system.List(path);
  if (!listed.ok()) return NamingPath(listed.status(), path);
  std::vector<InputFile> files;
  if (listed->empty()) {
    absl::StatusOr<fs::FileStatus> file = file_system.Stat(path);
    if (file.ok()) {
      files.push_back({path, file->size});
      return files;
    }
    if (!absl::IsNotFound(file.status())) return NamingPath(file.status(), path);
    if (IsLocalDirectory(file_system, path)) return files;
    return absl::NotFoundError("input path '" + path + "' does not exist");
  }
  // List() is recursive and names files base + '/' + relative name.
  const std::string base = fs::JoinUri(path, "");
  for (fs::FileStatus& entry : *listed) {
    if (entry.uri.compare(0, base.size(), base) != 0) continue;
    const std::string_view name = std::string_view(entry.uri).substr(base.size());
    if (name.empty() || name[0] == '.' || name[0] == '_') continue;
    if (name.find('/') != std::string_view::npos) continue;  // in a subdirectory
    files.push_back({std::move(entry.uri), entry.size});
  }
  std::sort(files.begin(), files.end(),
            [](const InputFile& a, const InputFile& b) { return a.path < b.path; });
  return files;
}

std::vector<FileSplit> AssignSplits(const std::vector<InputFile>& files, int subtask,
                                    int parallelism) {
  using U128 = unsigned __int128;
  parallelism = std::max(parallelism, 1);
  U128 total = 0;
  for (const InputFile& f : files) total += f.size;
  const U128 lo = total * static_cast<U128>(subtask) / static_cast<U128>(parallelism);
  const U128 hi = total * static_cast<U128>(subtask + 1) / static_cast<U128>(parallelism);
  std::vector<FileSplit> splits;
  U128 base = 0;  // offset of the current file in the concatenation
  for (const InputFile& f : files) {
    const U128 file_end = base + f.size;
    const U128 begin = std::max(lo, base);
    const U128 end = std::min(hi, file_end);
    if (begin < end) {
      splits.push_back({f.path, static_cast<uint64_t>(begin - base),
                        static_cast<uint64_t>(end - base)});
    }
    base = file_end;
  }
  return splits;
}

}  // namespace eddy::connectors::files
