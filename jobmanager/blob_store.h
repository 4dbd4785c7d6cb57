// The JobManager's blob store: uploaded job libraries kept on disk under their SHA-256, so
// TaskManagers fetch them by hash (GET /blobs/{sha256}). Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace eddy {

struct BlobInfo {
  std::string id;        // "<sha256>_<original name>", the jar id of the REST API
  std::string sha256;
  std::string name;      // original file name
  uint64_t size = 0;
  int64_t uploaded_ms = 0;
  std::string path;      // on disk
};

class BlobStore {
 public:
  explicit BlobStore(std::string dir) : dir_(std::move(dir)) {}

  /// Stores `bytes` (idempotent for equal content) and returns its description.
  absl::StatusOr<BlobInfo> Put(const std::string& name, const std::string& bytes);
  /// Finds a blob by jar id or by SHA-256.
  std::optional<BlobInfo> Find(const std::string& id_or_sha) const;
  /// Reads a blob's bytes.
  absl::StatusOr<std::string> Read(const std::string& id_or_sha) const;
  std::vector<BlobInfo> List() const;

 private:
  std::string dir_;
  mutable std::mutex mu_;
  std::map<std::string, BlobInfo> blobs_;  // by id; guarded by mu_
};

}  // namespace eddy
