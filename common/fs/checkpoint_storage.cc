#include "common/fs/checkpoint_storage.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/sha256.h"
#include "common/status.h"

namespace eddy::fs {
namespace {

// `_metadata` := magic(8) version(4, big-endian) length(8, big-endian) sha256-hex(64) payload
constexpr char kMagic[] = "EDDYMETA";
constexpr size_t kMagicSize = 8;
constexpr size_t kHeaderSize = kMagicSize + 4 + 8 + 64;

void PutBigEndian(std::string* out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}
uint64_t GetBigEndian(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(in[at + static_cast<size_t>(i)]);
  return v;
}

std::string MetadataFileUri(std::string_view uri) {
  std::string_view name = kMetadataFile;
  if (uri.size() >= name.size() && uri.substr(uri.size() - name.size()) == name) {
    return std::string(uri);
  }
  return JoinUri(uri, name);
}

}  // namespace

std::string JobCheckpointsUri(std::string_view base, std::string_view job_id) {
  return JoinUri(base, job_id);
}

std::string CheckpointUri(std::string_view base, std::string_view job_id, int64_t n) {
  return JoinUri(JobCheckpointsUri(base, job_id), absl::StrCat("chk-", n));
}

std::string SharedStateUri(std::string_view base, std::string_view job_id) {
  return JoinUri(JobCheckpointsUri(base, job_id), "shared");
}

absl::StatusOr<checkpoint::KeyedStateHandle> WriteKeyedState(
    FileSystem& fs, std::string_view checkpoint_uri, std::string_view file_name,
    int32_t first_key_group, int32_t last_key_group, std::string&& snapshot,
    size_t inline_threshold) {
  checkpoint::KeyedStateHandle handle;
  handle.set_first_key_group(first_key_group);
  handle.set_last_key_group(last_key_group);
  handle.set_size(snapshot.size());
  if (snapshot.size() <= inline_threshold) {
    handle.set_inline_data(std::move(snapshot));
    return handle;
  }
  EDDY_RETURN_IF_ERROR(fs.WriteAtomically(JoinUri(checkpoint_uri, file_name), snapshot));
  handle.set_uri(std::string(file_name));
  return handle;
}

std::string StateFileUri(std::string_view checkpoint_uri,
                         const checkpoint::KeyedStateHandle& handle) {
  const std::string& uri = handle.uri();
  if (uri.empty() || uri.front() == '/' || uri.find("://") != std::string::npos) return uri;
  return JoinUri(checkpoint_uri, uri);
}

absl::StatusOr<std::string> ReadKeyedState(FileSystem& fs, std::string_view checkpoint_uri,
                                           const checkpoint::KeyedStateHandle& handle) {
  if (handle.uri().empty()) return handle.inline_data();
  const std::string uri = StateFileUri(checkpoint_uri, handle);
  EDDY_ASSIGN_OR_RETURN(std::string bytes, fs.Read(uri));
  if (bytes.size() != handle.size()) {
    return absl::DataLossError(absl::StrCat("state file ", uri, " has ", bytes.size(),
                                            " bytes, the checkpoint recorded ", handle.size()));
  }
  return bytes;
}

absl::Status WriteMetadata(FileSystem& fs, std::string_view checkpoint_uri,
                           const checkpoint::CheckpointMetadata& metadata) {
  std::string payload;
  if (!metadata.SerializeToString(&payload)) {
    return absl::InternalError("cannot serialize checkpoint metadata");
  }
  std::string file(kMagic, kMagicSize);
  PutBigEndian(&file, kMetadataVersion, 4);
  PutBigEndian(&file, payload.size(), 8);
  file += Sha256Hex(payload);
  file += payload;
  return fs.WriteAtomically(MetadataFileUri(checkpoint_uri), file);
}

absl::StatusOr<checkpoint::CheckpointMetadata> ReadMetadata(FileSystem& fs,
                                                            std::string_view uri) {
  const std::string file_uri = MetadataFileUri(uri);
  EDDY_ASSIGN_OR_RETURN(std::string file, fs.Read(file_uri));
  auto corrupt = [&](const std::string& what) {
    return absl::DataLossError(absl::StrCat("checkpoint metadata ", file_uri, " is ", what));
  };
  if (file.size() < kHeaderSize) {
    return corrupt(absl::StrCat("truncated (", file.size(), " bytes)"));
  }
  if (std::memcmp(file.data(), kMagic, kMagicSize) != 0) return corrupt("not an Eddy _metadata file");
  const uint64_t version = GetBigEndian(file, kMagicSize, 4);
  if (version != kMetadataVersion) {
    return corrupt(absl::StrCat("of format version ", version, "; this build reads version ",
                                kMetadataVersion));
  }
  const uint64_t length = GetBigEndian(file, kMagicSize + 4, 8);
  if (length != file.size() - kHeaderSize) {
    return corrupt(absl::StrCat("truncated: ", file.size() - kHeaderSize, " of ", length,
                                " payload bytes"));
  }
  std::string_view payload = std::string_view(file).substr(kHeaderSize);
  if (Sha256Hex(payload) != std::string_view(file).substr(kMagicSize + 12, 64)) {
    return corrupt("corrupt: its checksum does not match");
  }
  checkpoint::CheckpointMetadata metadata;
  if (!metadata.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return corrupt("corrupt: it does not parse");
  }
  return metadata;
}

absl::StatusOr<std::pair<checkpoint::CheckpointMetadata, std::string>> ResolveRestorePoint(
    FileSystem& fs, std::string_view uri, std::vector<std::string>* skipped) {
  auto direct = ReadMetadata(fs, uri);
  if (direct.ok()) {
    std::string dir(uri);
    const std::string_view name = kMetadataFile;
    if (dir.size() > name.size() && dir.substr(dir.size() - name.size()) == name) {
      dir.resize(dir.size() - name.size() - 1);
    }
    return std::make_pair(std::move(*direct), dir);
  }
  if (!absl::IsNotFound(direct.status())) return direct.status();
  // A job's checkpoint directory: its chk-<n>/_metadata files, newest first.
  EDDY_ASSIGN_OR_RETURN(std::vector<FileStatus> files, fs.List(uri));
  std::vector<std::pair<int64_t, std::string>> checkpoints;
  for (const FileStatus& f : files) {
    const std::string suffix = std::string("/") + kMetadataFile;
    if (f.uri.size() <= suffix.size() || f.uri.substr(f.uri.size() - suffix.size()) != suffix) continue;
    const std::string dir = f.uri.substr(0, f.uri.size() - suffix.size());
    const size_t slash = dir.rfind('/');
    const std::string base = slash == std::string::npos ? dir : dir.substr(slash + 1);
    int64_t n = 0;
    if (base.rfind("chk-", 0) != 0 || !absl::SimpleAtoi(base.substr(4), &n)) continue;
    checkpoints.emplace_back(n, dir);
  }
  std::sort(checkpoints.rbegin(), checkpoints.rend());
  for (const auto& [n, dir] : checkpoints) {
    auto metadata = ReadMetadata(fs, dir);
    if (metadata.ok()) return std::make_pair(std::move(*metadata), dir);
    if (skipped != nullptr) skipped->push_back(std::string(metadata.status().message()));
  }
  if (skipped != nullptr && !skipped->empty()) {
    return absl::DataLossError(absl::StrCat("no complete checkpoint under ", std::string(uri), ": ",
                                            absl::StrJoin(*skipped, "; ")));
  }
  return direct.status();
}

uint64_t StateSize(const checkpoint::SubtaskState& state) {
  uint64_t size = 0;
  for (const auto& op : state.operators()) {
    for (const auto& h : op.keyed()) size += h.size();
    for (const auto& e : op.operator_state()) size += e.size();
    for (const auto& e : op.union_state()) size += e.size();
  }
  return size;
}

}  // namespace eddy::fs
