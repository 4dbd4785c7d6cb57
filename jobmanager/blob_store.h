// The JobManager's blob store: uploaded job libraries kept on disk under their SHA-256, so
// TaskManagers fetch them by hash, piece by piece (the FetchBlob RPC). Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
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

  /// Finds the libraries an earlier run of the JobManager stored in the directory (each
  /// "<sha256>.so" with its "<sha256>.json": name and upload time), so uploads survive a
  /// restart; a library without its description, or a description without its library, is
  /// removed (a crash between the two writes). Returns how many were found.
  absl::StatusOr<size_t> Load();
  /// Deletes a library by jar id (DELETE /jars/{id}); NotFound if there is none.
  absl::Status Delete(const std::string& id);

  /// Stores `bytes` (idempotent for equal content) and returns its description.
  absl::StatusOr<BlobInfo> Put(const std::string& name, std::string_view bytes);
  /// Finds a blob by jar id or by SHA-256.
  std::optional<BlobInfo> Find(const std::string& id_or_sha) const;
  /// Reads up to `max_bytes` of a blob from `offset` (empty at or past its end) into
  /// `*data`; returns the blob's whole size.
  absl::StatusOr<uint64_t> ReadRange(const std::string& id_or_sha, uint64_t offset,
                                     size_t max_bytes, std::string* data) const;
  std::vector<BlobInfo> List() const;

 private:
  std::string dir_;
  mutable std::mutex mu_;
  std::map<std::string, BlobInfo> blobs_;  // by id; guarded by mu_
};

}  // namespace eddy
