// SHA-256 digests (OpenSSL) for content-addressed blobs such as job libraries.
// Stateless; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace eddy {

/// Returns the lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
/// Returns the lower-case hex SHA-256 of the file at `path`.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path);

}  // namespace eddy
