// SHA-256 digests (OpenSSL) for content-addressed blobs such as job libraries.
// Stateless; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace eddy {

/// An incremental SHA-256 for data that arrives in pieces.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view data);
  /// The lower-case hex digest of everything given; call once.
  std::string Hex();

 private:
  ::evp_md_ctx_st* ctx_;
};

/// True if `s` looks like what Sha256Hex returns: 64 lower-case hex digits (so it can name
/// a file or a URL path safely).
bool IsSha256Hex(std::string_view s);

/// Returns the lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
/// Returns the lower-case hex SHA-256 of the file at `path`.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path);

}  // namespace eddy
