// Access control of the REST endpoint: bearer tokens with roles, the CORS allow-list and
// the checks that keep a web page a user happens to open from driving the cluster.
//
// * Tokens (rest.auth.tokens-file): one "TOKEN ROLE [NAME]" per line; '#' starts a
//   comment. Roles: viewer (GET), submitter (also upload, run, and cancel / savepoint /
//   stop its own jobs), admin (everything, any job). Requests carry
//   "Authorization: Bearer TOKEN". Without a tokens file authentication is off and every
//   caller is an admin (the local default, bound to loopback).
// * Open paths (rest.auth.open-paths, default /healthz;/metrics) answer without a token, for
//   probes and scrapers.
// * State-changing requests (anything but GET, HEAD, OPTIONS) with a body must be JSON or
//   multipart: text/plain and form-urlencoded, which a browser sends cross-site without a
//   preflight, are refused (415); one carrying an Origin not in
//   web.access-control-allow-origin is refused (403), tokens or not.
// * CORS: no Access-Control-Allow-Origin header unless the request's Origin is listed.
// Immutable after Load(); thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace eddy {

struct RestRequest;
struct RestResponse;

/// kInternal: a route that checks its caller itself (the blob server, for TaskManagers with
/// the JobManager's blob token), not with REST tokens.
enum class RestRole { kInternal = 0, kViewer = 1, kSubmitter = 2, kAdmin = 3 };
const char* RestRoleName(RestRole role);

/// Who made a request, once authenticated.
struct RestCaller {
  RestRole role = RestRole::kAdmin;
  /// The token's NAME, or "token-" + the first 12 hex digits of its SHA-256; "anonymous"
  /// when authentication is off. Jobs remember who submitted them.
  std::string principal = "anonymous";
};

class RestAccessPolicy {
 public:
  struct Options {
    std::string tokens_file;                 // empty: authentication off
    std::vector<std::string> open_paths;     // exact paths answered without a token
    std::vector<std::string> allowed_origins;  // CORS and state-changing Origin allow-list
  };

  /// Everything allowed (no tokens, no origins): tests and in-process use.
  RestAccessPolicy() = default;
  /// Reads the tokens file. Errors name the file and line of what is wrong.
  static absl::StatusOr<RestAccessPolicy> Load(Options options);
  /// Parses the text of a tokens file: SHA-256 of each token -> its caller.
  static absl::StatusOr<std::map<std::string, RestCaller>> ParseTokens(const std::string& text,
                                                                       const std::string& file);

  bool authentication_enabled() const { return !tokens_.empty(); }

  /// Checks what does not depend on the route: method, content type, Origin. Returns the
  /// refusal, or nullopt to go on.
  std::optional<RestResponse> CheckRequest(const RestRequest& request) const;
  /// Answers a CORS preflight (OPTIONS).
  RestResponse Preflight(const RestRequest& request) const;
  /// Authenticates a request for a route that needs `required`: the caller, or the refusal
  /// (401 without a valid token, 403 when the role is too low).
  absl::StatusOr<RestCaller> Authenticate(const RestRequest& request, RestRole required,
                                          std::optional<RestResponse>* refusal) const;
  /// True if `path` is answered without a token.
  bool IsOpen(const std::string& path) const;
  /// Adds the CORS headers a response to `request` gets (none unless its Origin is listed).
  void AddCorsHeaders(const RestRequest& request, RestResponse* response) const;

 private:
  bool OriginAllowed(const std::string& origin) const;

  Options options_;
  std::map<std::string, RestCaller> tokens_;  // by SHA-256 of the token
};

/// The role a route needs by default: viewer for GET and HEAD, submitter otherwise.
RestRole DefaultRole(const std::string& method);

}  // namespace eddy
