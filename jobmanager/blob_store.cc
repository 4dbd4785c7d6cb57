#include "jobmanager/blob_store.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/local_file.h"
#include "common/sha256.h"

namespace eddy {
namespace {
std::string SafeName(const std::string& name) {
  std::string base = std::filesystem::path(name).filename().string();
  std::string out;
  for (char c : base) out.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ? c : '_');
  return out.empty() ? "job.so" : out;
}
}  // namespace

absl::StatusOr<BlobInfo> BlobStore::Put(const std::string& name, const std::string& bytes) {
  BlobInfo info;
  info.sha256 = Sha256Hex(bytes);
  info.name = SafeName(name);
  info.id = absl::StrCat(info.sha256.substr(0, 16), "_", info.name);
  info.size = bytes.size();
  info.uploaded_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  info.path = absl::StrCat(dir_, "/", info.sha256, ".so");
  absl::Status stored = WriteFileAtomically(info.path, bytes);
  if (!stored.ok()) return stored;
  std::lock_guard<std::mutex> lock(mu_);
  blobs_[info.id] = info;
  return info;
}

std::optional<BlobInfo> BlobStore::Find(const std::string& id_or_sha) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blobs_.find(id_or_sha);
  if (it != blobs_.end()) return it->second;
  for (const auto& [id, info] : blobs_) {
    if (info.sha256 == id_or_sha) return info;
  }
  return std::nullopt;
}

absl::StatusOr<std::string> BlobStore::Read(const std::string& id_or_sha) const {
  auto info = Find(id_or_sha);
  if (!info) return absl::NotFoundError(absl::StrCat("no blob '", id_or_sha, "'"));
  std::ifstream in(info->path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("blob file ", info->path, " is gone"));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<BlobInfo> BlobStore::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<BlobInfo> out;
  for (const auto& [id, info] : blobs_) out.push_back(info);
  return out;
}

}  // namespace eddy
