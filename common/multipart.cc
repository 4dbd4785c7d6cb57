#include "common/multipart.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/ids.h"

namespace eddy {
namespace {

/// Returns the value of `param` ("name", "filename", "boundary") in a header value.
std::string HeaderParam(std::string_view header, std::string_view param) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t semi = header.find(';', pos);
    std::string_view piece = header.substr(pos, semi == std::string_view::npos ? header.npos : semi - pos);
    while (!piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
    if (piece.size() > param.size() && piece.substr(0, param.size()) == param &&
        piece[param.size()] == '=') {
      std::string_view value = piece.substr(param.size() + 1);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return std::string(value);
    }
    if (semi == std::string_view::npos) break;
    pos = semi + 1;
  }
  return "";
}

}  // namespace

absl::StatusOr<std::vector<FormPart>> ParseMultipart(std::string_view content_type,
                                                     std::string_view body) {
  if (content_type.find("multipart/form-data") == std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected a multipart/form-data upload; got Content-Type '", std::string(content_type), "'"));
  }
  std::string boundary = HeaderParam(content_type, "boundary");
  if (boundary.empty()) return absl::InvalidArgumentError("multipart upload without a boundary");
  const std::string delimiter = "--" + boundary;
  std::vector<FormPart> parts;
  size_t pos = body.find(delimiter);
  if (pos == std::string_view::npos) {
    return absl::InvalidArgumentError("multipart body does not contain its boundary");
  }
  while (true) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") break;  // closing delimiter
    if (body.substr(pos, 2) != "\r\n") return absl::InvalidArgumentError("malformed multipart delimiter");
    pos += 2;
    size_t headers_end = body.find("\r\n\r\n", pos);
    if (headers_end == std::string_view::npos) {
      return absl::InvalidArgumentError("multipart part without the end of its headers");
    }
    FormPart part;
    std::string_view headers = body.substr(pos, headers_end - pos);
    size_t line_start = 0;
    while (line_start <= headers.size()) {
      size_t line_end = headers.find("\r\n", line_start);
      std::string_view line = headers.substr(line_start, line_end == std::string_view::npos ? headers.npos : line_end - line_start);
      size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string name = absl::AsciiStrToLower(std::string(line.substr(0, colon)));
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (name == "content-disposition") {
          part.name = HeaderParam(value, "name");
          part.filename = HeaderParam(value, "filename");
        } else if (name == "content-type") {
          part.content_type = std::string(value);
        }
      }
      if (line_end == std::string_view::npos) break;
      line_start = line_end + 2;
    }
    size_t content_start = headers_end + 4;
    size_t next = body.find("\r\n" + delimiter, content_start);
    if (next == std::string_view::npos) {
      return absl::InvalidArgumentError("multipart body is truncated: no closing boundary");
    }
    part.body = body.substr(content_start, next - content_start);
    parts.push_back(std::move(part));
    pos = next + 2;
  }
  return parts;
}

std::pair<std::string, std::string> BuildMultipartFile(const std::string& field,
                                                      const std::string& filename,
                                                      std::string_view content) {
  std::string boundary = "eddy-" + RandomHexId(12);
  std::string body = absl::StrCat("--", boundary, "\r\n",
                                  "Content-Disposition: form-data; name=\"", field,
                                  "\"; filename=\"", filename, "\"\r\n",
                                  "Content-Type: application/octet-stream\r\n\r\n");
  body.append(content);
  absl::StrAppend(&body, "\r\n--", boundary, "--\r\n");
  return {"multipart/form-data; boundary=" + boundary, body};
}

}  // namespace eddy
