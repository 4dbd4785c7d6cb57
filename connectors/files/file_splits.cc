#include "connectors/files/file_splits.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace eddy::connectors::files {

namespace fs = std::filesystem;

absl::StatusOr<std::vector<InputFile>> ListInputFiles(const std::string& path) {
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory) {
      return absl::UnavailableError("cannot read input path '" + path + "': " + ec.message());
    }
    return absl::NotFoundError("input path '" + path + "' does not exist");
  }
  std::vector<InputFile> files;
  if (fs::is_regular_file(status)) {
    uint64_t size = fs::file_size(path, ec);
    if (ec) return absl::UnavailableError("cannot stat '" + path + "': " + ec.message());
    files.push_back({path, size});
    return files;
  }
  if (!fs::is_directory(status)) {
    return absl::InvalidArgumentError("input path '" + path +
                                      "' is neither a regular file nor a directory");
  }
  fs::directory_iterator it(path, ec);
  if (ec) return absl::UnavailableError("cannot list '" + path + "': " + ec.message());
  for (const fs::directory_entry& entry : it) {
    std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || name[0] == '_') continue;
    if (!entry.is_regular_file(ec) || ec) continue;
    uint64_t size = entry.file_size(ec);
    if (ec) {
      return absl::UnavailableError("cannot stat '" + entry.path().string() + "': " +
                                    ec.message());
    }
    files.push_back({entry.path().string(), size});
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
