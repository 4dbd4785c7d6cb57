#include "taskmanager/keyed_state_upload.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/fs/checkpoint_storage.h"
#include "common/ids.h"
#include "common/local_file.h"
#include "common/status.h"

namespace eddy {
namespace {

constexpr size_t kUploadChunk = 8 << 20;

// A RocksDB checkpoint's own files (MANIFEST, CURRENT, OPTIONS) are small.
constexpr size_t kMaxPrivateFileBytes = 256 << 20;

/// A downloaded file (not synced: a failed restore is simply done again).
absl::Status WriteLocalFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write '", path, "'"));
  return absl::OkStatus();
}

}  // namespace

absl::Status KeyedStateUploader::WriteFull(std::string bytes) {
  const uint64_t size = bytes.size();
  EDDY_ASSIGN_OR_RETURN(
      checkpoint::KeyedStateHandle handle,
      fs::WriteKeyedState(fs_, target_.checkpoint_uri,
                          absl::StrCat(target_.file_prefix, ".state"), target_.key_groups.start,
                          target_.key_groups.end, std::move(bytes), target_.inline_threshold));
  checkpointed_bytes_ += size;
  handles_.push_back(std::move(handle));
  return absl::OkStatus();
}

absl::Status KeyedStateUploader::Upload(const std::string& path, const std::string& uri) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open '", path, "' to upload it"));
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<fs::WriteStream> out, fs_.Create(uri));
  std::string chunk(kUploadChunk, '\0');
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto got = static_cast<size_t>(in.gcount());
    if (got == 0) break;
    absl::Status s = out->Write(std::string_view(chunk.data(), got));
    if (!s.ok()) {
      out->Abort();
      return s;
    }
  }
  if (in.bad()) {
    out->Abort();
    return absl::DataLossError(absl::StrCat("cannot read '", path, "' to upload it"));
  }
  return out->Close();
}

absl::StatusOr<SharedFiles> KeyedStateUploader::WriteNative(const NativeSnapshot& snapshot,
                                                            const SharedFiles& reuse) {
  checkpoint::KeyedStateHandle handle;
  handle.set_first_key_group(target_.key_groups.start);
  handle.set_last_key_group(target_.key_groups.end);
  checkpoint::NativeKeyedState* native = handle.mutable_native();
  native->set_backend(snapshot.backend);
  native->set_meta(snapshot.meta);
  uint64_t total = snapshot.meta.size();
  uint64_t written = snapshot.meta.size();
  SharedFiles stored;
  const std::string run = RandomHexId(6);  // a failed attempt's files never collide
  // Without a shared directory (a savepoint) every file is the checkpoint's own.
  std::vector<std::string> own = snapshot.private_files;
  if (target_.shared_uri.empty()) {
    own.insert(own.end(), snapshot.shared_files.begin(), snapshot.shared_files.end());
  }
  std::vector<std::string> uploaded;  // deleted again if the snapshot cannot be stored
  auto fail = [&](absl::Status status) {
    for (const std::string& uri : uploaded) (void)fs_.Delete(uri);
    return status;
  };
  for (const std::string& name : target_.shared_uri.empty() ? std::vector<std::string>()
                                                             : snapshot.shared_files) {
    const std::string path = (std::filesystem::path(snapshot.dir) / name).string();
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) {
      return fail(absl::NotFoundError(absl::StrCat("cannot stat '", path, "': ", ec.message())));
    }
    checkpoint::StateFile* file = native->add_shared();
    file->set_name(name);
    file->set_size(size);
    auto previous = reuse.find(name);
    if (previous != reuse.end() && previous->second.size == size) {
      file->set_uri(previous->second.uri);
    } else {
      const std::string uri =
          fs::JoinUri(target_.shared_uri, absl::StrCat(target_.file_prefix, "-", run, "-", name));
      if (absl::Status s = Upload(path, uri); !s.ok()) return fail(s);
      uploaded.push_back(uri);
      file->set_uri(uri);
      file->set_uploaded(true);
      written += size;
    }
    total += size;
    stored[name] = SharedFileRef{file->uri(), size};
  }
  for (const std::string& name : own) {
    const std::string path = (std::filesystem::path(snapshot.dir) / name).string();
    auto bytes = ReadWholeFile(path, kMaxPrivateFileBytes);
    if (!bytes.ok()) return fail(bytes.status());
    checkpoint::StateFile* file = native->add_private_files();
    file->set_name(name);
    file->set_size(bytes->size());
    file->set_uploaded(true);
    total += bytes->size();
    written += bytes->size();
    if (bytes->size() <= target_.inline_threshold) {
      file->set_inline_data(std::move(*bytes));
      continue;
    }
    const std::string relative = absl::StrCat(target_.file_prefix, "-", name);
    const std::string uri = fs::JoinUri(target_.checkpoint_uri, relative);
    if (absl::Status s = fs_.WriteAtomically(uri, *bytes); !s.ok()) return fail(s);
    uploaded.push_back(uri);
    file->set_uri(relative);
  }
  handle.set_size(total);
  checkpointed_bytes_ += written;
  handles_.push_back(std::move(handle));
  return stored;
}

absl::StatusOr<NativeRestore> DownloadNativeState(fs::FileSystem& fs,
                                                  const std::string& checkpoint_uri,
                                                  const checkpoint::KeyedStateHandle& handle,
                                                  const std::string& local_root,
                                                  const std::string& name,
                                                  bool share_files) {
  const checkpoint::NativeKeyedState& native = handle.native();
  NativeRestore restore;
  restore.backend = native.backend();
  restore.key_groups = KeyGroupRange{handle.first_key_group(), handle.last_key_group()};
  restore.meta = native.meta();
  std::filesystem::path root = local_root;
  std::error_code ec;
  if (root.empty()) root = std::filesystem::temp_directory_path(ec);
  const std::filesystem::path dir = root / absl::StrCat("eddy-restore-", name, "-", RandomHexId(4));
  if (!std::filesystem::create_directories(dir, ec) || ec) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create the restore directory '", dir.string(), "': ",
        ec ? ec.message() : "it already exists"));
  }
  restore.dir = dir.string();
  // Shared files are named by their full URI, the checkpoint's own relative to it.
  auto fetch = [&](const checkpoint::StateFile& file, bool shared) -> absl::Status {
    const std::string local = (dir / file.name()).string();
    if (file.uri().empty()) return WriteLocalFile(local, file.inline_data());
    const std::string uri = shared ? file.uri() : fs::JoinUri(checkpoint_uri, file.uri());
    EDDY_ASSIGN_OR_RETURN(std::string bytes, fs.Read(uri));
    if (bytes.size() != file.size()) {
      return absl::DataLossError(absl::StrCat("state file ", uri, " has ", bytes.size(),
                                              " bytes, the checkpoint recorded ", file.size()));
    }
    return WriteLocalFile(local, bytes);
  };
  absl::Status status;
  for (const auto& file : native.shared()) {
    if (status.ok()) status = fetch(file, true);
    if (share_files) restore.shared[file.name()] = SharedFileRef{file.uri(), file.size()};
  }
  for (const auto& file : native.private_files()) {
    if (status.ok()) status = fetch(file, false);
  }
  if (!status.ok()) {
    std::filesystem::remove_all(dir, ec);
    return status;
  }
  return restore;
}

}  // namespace eddy
