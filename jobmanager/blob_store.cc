#include "jobmanager/blob_store.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

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

absl::StatusOr<BlobInfo> BlobStore::Put(const std::string& name, std::string_view bytes) {
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
  // The description last: a library is only known once both are on disk.
  nlohmann::json description = {{"name", info.name}, {"uploaded", info.uploaded_ms}};
  stored = WriteFileAtomically(absl::StrCat(dir_, "/", info.sha256, ".json"), description.dump());
  if (!stored.ok()) return stored;
  std::lock_guard<std::mutex> lock(mu_);
  blobs_[info.id] = info;
  return info;
}

absl::StatusOr<size_t> BlobStore::Load() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot make blob directory ", dir_, ": ", ec.message()));
  std::map<std::string, BlobInfo> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::filesystem::path path = entry.path();
    const std::string file = path.filename().string();
    if (entry.is_regular_file() && file.front() == '.' && path.extension() == ".tmp") {
      std::filesystem::remove(path, ec);  // a write a stopped JobManager did not finish
      continue;
    }
    const std::string sha = path.stem().string();
    const bool hashed = IsSha256Hex(sha);
    if (!entry.is_regular_file() || !hashed) continue;
    const std::string library = absl::StrCat(dir_, "/", sha, ".so");
    const std::string description = absl::StrCat(dir_, "/", sha, ".json");
    if (path.extension() == ".so" && !std::filesystem::exists(description)) {
      std::filesystem::remove(library, ec);  // stored, never described: a crash in Put
      continue;
    }
    if (path.extension() != ".json") continue;
    std::ifstream in(description);
    nlohmann::json meta = nlohmann::json::parse(in, nullptr, false);
    std::error_code size_ec;
    const auto size = std::filesystem::file_size(library, size_ec);
    if (size_ec || !meta.is_object() || !meta.contains("name") || !meta["name"].is_string()) {
      std::filesystem::remove(description, ec);
      std::filesystem::remove(library, ec);
      continue;
    }
    BlobInfo info;
    info.sha256 = sha;
    info.name = SafeName(meta["name"].get<std::string>());
    info.id = absl::StrCat(sha.substr(0, 16), "_", info.name);
    info.size = size;
    info.uploaded_ms = meta.value("uploaded", int64_t{0});
    info.path = library;
    found[info.id] = info;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, info] : found) blobs_[id] = std::move(info);
  return found.size();
}

absl::Status BlobStore::Delete(const std::string& id) {
  BlobInfo info;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blobs_.find(id);
    if (it == blobs_.end()) return absl::NotFoundError(absl::StrCat("no uploaded job library with id '", id, "'"));
    info = std::move(it->second);
    blobs_.erase(it);
    // Another id may name the same content (same bytes, other file name): keep the file.
    for (const auto& [other, b] : blobs_) {
      if (b.sha256 == info.sha256) return absl::OkStatus();
    }
  }
  std::error_code ec;
  std::filesystem::remove(absl::StrCat(dir_, "/", info.sha256, ".json"), ec);
  std::filesystem::remove(info.path, ec);
  return absl::OkStatus();
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

absl::StatusOr<uint64_t> BlobStore::ReadRange(const std::string& id_or_sha, uint64_t offset,
                                               size_t max_bytes, std::string* data) const {
  auto info = Find(id_or_sha);
  if (!info) return absl::NotFoundError(absl::StrCat("no blob '", id_or_sha, "'"));
  std::ifstream in(info->path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("blob file ", info->path, " is gone"));
  data->clear();
  if (offset >= info->size) return info->size;
  data->resize(static_cast<size_t>(std::min<uint64_t>(max_bytes, info->size - offset)));
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(data->data(), static_cast<std::streamsize>(data->size()));
  if (static_cast<size_t>(in.gcount()) != data->size()) {
    return absl::DataLossError(absl::StrCat("blob file ", info->path, " is shorter than ",
                                            info->size, " bytes"));
  }
  return info->size;
}

std::vector<BlobInfo> BlobStore::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<BlobInfo> out;
  for (const auto& [id, info] : blobs_) out.push_back(info);
  return out;
}

}  // namespace eddy
