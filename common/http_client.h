// A small blocking HTTP/1.1 client (Boost.Beast) for the CLI and the tests: one request per
// connection, with a deadline covering connect, write and read. Thread-safe: no shared
// state between calls.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace eddy {

struct HttpResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

struct ParsedUrl {
  std::string host;
  uint16_t port = 80;
  std::string target = "/";  // path and query
};

/// Parses "http://host:port/path?query" (scheme optional, port default 80). Errors name the
/// URL and say what is wrong with it.
absl::StatusOr<ParsedUrl> ParseHttpUrl(std::string_view url);

/// Percent-encodes `segment` for one path segment of a URL: everything but A-Z a-z 0-9
/// '-' '.' '_' '~' is %XX (so "/", "?", "#", "%" and ".." cannot change the path).
std::string UrlEncodePathSegment(std::string_view segment);

/// Extra request header fields, e.g. {"Authorization", "Bearer ..."}.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

/// Sends one request and returns the response of any status code; an error status only when
/// no HTTP response was had (refused, timed out, malformed).
absl::StatusOr<HttpResponse> HttpRequest(std::string_view method, std::string_view url,
                                         std::string_view body = "",
                                         std::string_view content_type = "application/json",
                                         std::chrono::milliseconds timeout =
                                             std::chrono::seconds(10),
                                         const HttpHeaders& headers = {});

}  // namespace eddy
