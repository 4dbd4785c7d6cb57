// A small blocking HTTP/1.1 and HTTPS client (Boost.Beast, OpenSSL) for the CLI and the tests: one request per
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
  bool https = false;
  uint16_t port = 80;  // 443 for https
  std::string target = "/";  // path and query
};

/// Parses "http://host:port/path?query" or "https://..." (scheme optional: http; port
/// default 80, or 443 for https). Errors name the
/// URL and say what is wrong with it.
absl::StatusOr<ParsedUrl> ParseHttpUrl(std::string_view url);

/// Percent-encodes `segment` for one path segment of a URL: everything but A-Z a-z 0-9
/// '-' '.' '_' '~' is %XX (so "/", "?", "#", "%" and ".." cannot change the path).
std::string UrlEncodePathSegment(std::string_view segment);

/// Extra request header fields, e.g. {"Authorization", "Bearer ..."}.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

/// Sends one request and returns the response of any status code; an error status only when
/// no HTTP response was had (refused, timed out, malformed, TLS refused). For https the
/// server's certificate must chain to `ca_file` (PEM; empty: the system's trusted CAs) and
/// name the URL's host.
absl::StatusOr<HttpResponse> HttpRequest(std::string_view method, std::string_view url,
                                         std::string_view body = "",
                                         std::string_view content_type = "application/json",
                                         std::chrono::milliseconds timeout =
                                             std::chrono::seconds(10),
                                         const HttpHeaders& headers = {},
                                         const std::string& ca_file = "");

}  // namespace eddy
