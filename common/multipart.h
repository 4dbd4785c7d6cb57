// Parses multipart/form-data request bodies (RFC 7578), as sent by `eddy run` and curl -F
// for POST /jars/upload. Stateless; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace eddy {

struct FormPart {
  std::string name;      // the form field name
  std::string filename;  // empty for plain fields
  std::string content_type;
  std::string_view body;  // points into the parsed body
};

/// Splits `body` into its parts; `content_type` is the request's Content-Type header, which
/// carries the boundary. Errors say what is malformed.
absl::StatusOr<std::vector<FormPart>> ParseMultipart(std::string_view content_type,
                                                     std::string_view body);

/// Builds a multipart/form-data body with one file part; returns {content type, body}.
std::pair<std::string, std::string> BuildMultipartFile(const std::string& field,
                                                      const std::string& filename,
                                                      std::string_view content);

}  // namespace eddy
