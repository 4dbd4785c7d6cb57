#include "jobmanager/rest_auth.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "common/sha256.h"
#include "jobmanager/rest_server.h"

namespace eddy {
namespace {

bool ChangesState(const std::string& method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

std::string HeaderOf(const RestRequest& request, const std::string& name) {
  auto it = request.headers.find(name);
  return it == request.headers.end() ? "" : it->second;
}

/// The media type of a Content-Type value, lower-cased, without parameters.
std::string MediaType(const std::string& content_type) {
  std::string type = content_type.substr(0, content_type.find(';'));
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(type));
}

std::optional<RestRole> ParseRole(absl::string_view name) {
  if (name == "viewer") return RestRole::kViewer;
  if (name == "submitter") return RestRole::kSubmitter;
  if (name == "admin") return RestRole::kAdmin;
  return std::nullopt;
}

}  // namespace

const char* RestRoleName(RestRole role) {
  switch (role) {
    case RestRole::kInternal: return "internal";
    case RestRole::kViewer: return "viewer";
    case RestRole::kSubmitter: return "submitter";
    case RestRole::kAdmin: return "admin";
  }
  return "?";
}

RestRole DefaultRole(const std::string& method) {
  return method == "GET" || method == "HEAD" ? RestRole::kViewer : RestRole::kSubmitter;
}

absl::StatusOr<std::map<std::string, RestCaller>> RestAccessPolicy::ParseTokens(
    const std::string& text, const std::string& file) {
  std::map<std::string, RestCaller> tokens;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = line.substr(0, line.find('#'));
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) continue;
    const std::string where = absl::StrCat(file, ":", line_number);
    if (fields.size() < 2 || fields.size() > 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected 'TOKEN ROLE [NAME]', found ", fields.size(), " fields"));
    }
    auto role = ParseRole(fields[1]);
    if (!role) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": unknown role '", absl::CHexEscape(std::string(fields[1])),
                       "' (roles: viewer, submitter, admin)"));
    }
    if (fields[0].size() < 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": the token is ", fields[0].size(),
          " characters; tokens need at least 16 (e.g. openssl rand -hex 32)"));
    }
    std::string hash = Sha256Hex(std::string_view(fields[0].data(), fields[0].size()));
    RestCaller caller;
    caller.role = *role;
    caller.principal =
        fields.size() == 3 ? std::string(fields[2]) : absl::StrCat("token-", hash.substr(0, 12));
    if (!tokens.emplace(hash, std::move(caller)).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": the same token appears twice"));
    }
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(file, " holds no token"));
  }
  return tokens;
}

absl::StatusOr<RestAccessPolicy> RestAccessPolicy::Load(Options options) {
  RestAccessPolicy policy;
  if (!options.tokens_file.empty()) {
    std::ifstream in(options.tokens_file);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("cannot read rest.auth.tokens-file ", options.tokens_file));
    }
    std::stringstream text;
    text << in.rdbuf();
    auto tokens = ParseTokens(text.str(), options.tokens_file);
    if (!tokens.ok()) return tokens.status();
    policy.tokens_ = std::move(*tokens);
  }
  policy.options_ = std::move(options);
  return policy;
}

bool RestAccessPolicy::OriginAllowed(const std::string& origin) const {
  for (const auto& allowed : options_.allowed_origins) {
    if (allowed == "*" || allowed == origin) return true;
  }
  return false;
}

bool RestAccessPolicy::IsOpen(const std::string& path) const {
  for (const auto& open : options_.open_paths) {
    if (open == path) return true;
  }
  return false;
}

std::optional<RestResponse> RestAccessPolicy::CheckRequest(const RestRequest& request) const {
  if (!ChangesState(request.method)) return std::nullopt;
  const std::string origin = HeaderOf(request, "origin");
  if (!origin.empty() && !OriginAllowed(origin)) {
    return RestResponse::Error(
        403, absl::StrCat(request.method, " ", request.path, " from origin '",
                          absl::CHexEscape(origin),
                          "' refused: cross-origin requests that change state need the origin "
                          "in web.access-control-allow-origin"));
  }
  const std::string type = MediaType(HeaderOf(request, "content-type"));
  if (type == "text/plain" || type == "application/x-www-form-urlencoded" ||
      (type.empty() && !request.body.empty())) {
    return RestResponse::Error(
        415, absl::StrCat(request.method, " ", request.path, " with content type '",
                          absl::CHexEscape(type.empty() ? "(none)" : type),
                          "' refused: send application/json (uploads: multipart/form-data)"));
  }
  return std::nullopt;
}

RestResponse RestAccessPolicy::Preflight(const RestRequest& request) const {
  const std::string origin = HeaderOf(request, "origin");
  if (origin.empty() || !OriginAllowed(origin)) {
    return RestResponse::Error(
        403, absl::StrCat("CORS preflight from origin '", absl::CHexEscape(origin),
                          "' refused: it is not in web.access-control-allow-origin"));
  }
  RestResponse response;
  response.status = 204;
  response.content_type = "text/plain";
  response.headers.emplace_back("Access-Control-Allow-Methods", "GET, HEAD, POST, PATCH, DELETE");
  response.headers.emplace_back("Access-Control-Allow-Headers", "Authorization, Content-Type");
  response.headers.emplace_back("Access-Control-Max-Age", "600");
  AddCorsHeaders(request, &response);
  return response;
}

void RestAccessPolicy::AddCorsHeaders(const RestRequest& request, RestResponse* response) const {
  if (options_.allowed_origins.empty()) return;
  const std::string origin = HeaderOf(request, "origin");
  if (origin.empty() || !OriginAllowed(origin)) return;
  response->headers.emplace_back("Access-Control-Allow-Origin", origin);
  response->headers.emplace_back("Vary", "Origin");
}

absl::StatusOr<RestCaller> RestAccessPolicy::Authenticate(
    const RestRequest& request, RestRole required, std::optional<RestResponse>* refusal) const {
  if (!authentication_enabled() || IsOpen(request.path) || required == RestRole::kInternal) {
    return RestCaller{};
  }
  const std::string header = HeaderOf(request, "authorization");
  const std::string kBearer = "Bearer ";
  auto unauthorized = [&](const std::string& why) {
    RestResponse response = RestResponse::Error(401, why);
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"eddy\"");
    *refusal = std::move(response);
    return absl::UnauthenticatedError(why);
  };
  if (header.empty()) {
    return unauthorized(absl::StrCat(request.method, " ", request.path,
                                     " needs a token: send 'Authorization: Bearer TOKEN' "
                                     "(eddy: --token or EDDY_TOKEN)"));
  }
  if (header.size() <= kBearer.size() || !absl::StartsWithIgnoreCase(header, kBearer)) {
    return unauthorized("the Authorization header is not 'Bearer TOKEN'");
  }
  auto it = tokens_.find(Sha256Hex(header.substr(kBearer.size())));
  if (it == tokens_.end()) {
    EDDY_LOG(WARN) << "REST " << request.method << " " << request.path
                   << ": refused an unknown token";
    return unauthorized("unknown token");
  }
  if (it->second.role < required) {
    std::string why = absl::StrCat(request.method, " ", request.path, " needs the role ",
                                   RestRoleName(required), "; ", it->second.principal, " is ",
                                   RestRoleName(it->second.role));
    EDDY_LOG(WARN) << "REST: refused " << why;
    *refusal = RestResponse::Error(403, why);
    return absl::PermissionDeniedError(why);
  }
  return it->second;
}

}  // namespace eddy
