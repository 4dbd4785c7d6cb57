#include "common/fs/aws_credentials.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/fs/s3_file_system.h"
#include "common/http_client.h"
#include "common/logging.h"

namespace eddy::fs {
namespace {

using Clock = std::chrono::system_clock;

// Debian's Abseil has its own absl::string_view, distinct from std::string_view.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string Trimmed(std::string_view s) { return std::string(absl::StripAsciiWhitespace(Av(s))); }

absl::Status NotConfigured(std::string why) { return absl::NotFoundError(std::move(why)); }

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read ", Av(what), " ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Both halves of a key pair or neither; InvalidArgument naming the missing one.
absl::Status CheckPair(const std::string& access, const std::string& secret,
                       std::string_view access_name, std::string_view secret_name) {
  if (access.empty() == secret.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(Av(access.empty() ? secret_name : access_name),
                                                 " is set but ",
                                                 Av(access.empty() ? access_name : secret_name),
                                                 " is not"));
}

// Credentials from the JSON the container endpoint and IMDS answer with.
absl::StatusOr<AwsCredentials> FromCredentialsJson(const std::string& body, std::string provider,
                                                   std::string_view from) {
  nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) {
    return absl::UnavailableError(absl::StrCat(Av(from), " did not answer JSON credentials"));
  }
  if (json.contains("Code") && json["Code"].is_string() && json["Code"] != "Success") {
    return absl::UnavailableError(absl::StrCat(Av(from), " answered Code ",
                                               json["Code"].get<std::string>(), ": ",
                                               json.value("Message", std::string())));
  }
  AwsCredentials c;
  c.provider = std::move(provider);
  auto text = [&json](const char* key) {
    return json.contains(key) && json[key].is_string() ? json[key].get<std::string>() : "";
  };
  c.access_key = text("AccessKeyId");
  c.secret_key = text("SecretAccessKey");
  c.session_token = text("Token");
  if (c.access_key.empty() || c.secret_key.empty()) {
    return absl::UnavailableError(
        absl::StrCat(Av(from), " answered without AccessKeyId and SecretAccessKey"));
  }
  if (const std::string expiration = text("Expiration"); !expiration.empty()) {
    c.expiration = internal::ParseAwsTime(expiration);
    if (!c.expiration) {
      return absl::UnavailableError(
          absl::StrCat(Av(from), " answered an unreadable Expiration '", expiration, "'"));
    }
  }
  return c;
}

absl::Status HttpFailure(std::string_view what, const std::string& url,
                         const absl::StatusOr<HttpResponse>& response) {
  if (!response.ok()) {
    return absl::UnavailableError(
        absl::StrCat(Av(what), " ", url, ": ", response.status().message()));
  }
  std::string body = response->body.substr(0, 300);
  return absl::UnavailableError(
      absl::StrCat(Av(what), " ", url, " answered ", response->status, ": ", body));
}

// ---------------------------------------------------------------------------------------
// The providers

AwsCredentialsProvider::Source ConfigKeys(const AwsCredentialSources& s) {
  return {"config keys (s3.access-key, s3.secret-key)",
          [access = s.config_access_key, secret = s.config_secret_key]()
              -> absl::StatusOr<AwsCredentials> {
            if (access.empty()) return NotConfigured("not set");
            return AwsCredentials{access, secret, "", std::nullopt, "config keys"};
          }};
}

AwsCredentialsProvider::Source Environment(const AwsCredentialSources& s) {
  return {"environment (AWS_ACCESS_KEY_ID)", [env = s.env]() -> absl::StatusOr<AwsCredentials> {
            const std::string access = env("AWS_ACCESS_KEY_ID");
            if (access.empty()) return NotConfigured("AWS_ACCESS_KEY_ID is not set");
            return AwsCredentials{access, env("AWS_SECRET_ACCESS_KEY"),
                                  env("AWS_SESSION_TOKEN"), std::nullopt, "environment"};
          }};
}

AwsCredentialsProvider::Source WebIdentity(const AwsCredentialSources& s) {
  return {"web identity (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE)",
          [env = s.env, region = s.region,
           timeout = s.http_timeout]() -> absl::StatusOr<AwsCredentials> {
            const std::string role = env("AWS_ROLE_ARN");
            const std::string token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
            if (role.empty() || token_file.empty()) {
              return NotConfigured(role.empty() ? "AWS_ROLE_ARN is not set"
                                                : "AWS_WEB_IDENTITY_TOKEN_FILE is not set");
            }
            // Read every time: Kubernetes rotates the projected token file.
            absl::StatusOr<std::string> token = ReadWholeFile(token_file, "web identity token");
            if (!token.ok()) return token.status();
            std::string endpoint = env("AWS_ENDPOINT_URL_STS");
            if (endpoint.empty()) endpoint = absl::StrCat("https://sts.", region, ".amazonaws.com");
            while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
            std::string session = env("AWS_ROLE_SESSION_NAME");
            if (session.empty()) session = absl::StrCat("eddy-", getpid());
            // The STS query API takes GET with the parameters in the query string.
            const std::string url = absl::StrCat(
                endpoint, "/?Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=",
                internal::S3UriEncode(role, false),
                "&RoleSessionName=", internal::S3UriEncode(session, false),
                "&WebIdentityToken=", internal::S3UriEncode(Trimmed(*token), false));
            const std::string shown = absl::StrCat(endpoint, "/ AssumeRoleWithWebIdentity");
            auto response = HttpRequest("GET", url, "", "application/json", timeout);
            if (!response.ok() || response->status != 200) {
              return HttpFailure("STS", shown, response);
            }
            auto text = [&](std::string_view tag) {
              std::vector<std::string> found = internal::XmlElementTexts(response->body, tag);
              return found.empty() ? std::string() : found.front();
            };
            AwsCredentials c{text("AccessKeyId"), text("SecretAccessKey"), text("SessionToken"),
                             internal::ParseAwsTime(text("Expiration")),
                             absl::StrCat("web identity (", role, ")")};
            if (c.access_key.empty() || c.secret_key.empty() || !c.expiration) {
              return absl::UnavailableError(
                  absl::StrCat("STS ", shown, " answered without credentials and expiration"));
            }
            return c;
          }};
}

// A full container-credentials URI must be https, or http to a loopback or the link-local
// addresses ECS and EKS Pod Identity use (the AWS SDKs' rule: the token must not leak).
bool AllowedContainerUri(const std::string& uri) {
  if (absl::StartsWithIgnoreCase(Av(uri), "https://")) return true;
  absl::StatusOr<ParsedUrl> parsed = ParseHttpUrl(uri);
  if (!parsed.ok() || parsed->https) return false;
  const std::string& h = parsed->host;
  return h == "localhost" || absl::StartsWith(h, "127.") || h == "::1" ||
         h == "169.254.170.2" || h == "169.254.170.23" || h == "fd00:ec2::23";
}

AwsCredentialsProvider::Source Container(const AwsCredentialSources& s) {
  return {"container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI)",
          [env = s.env, timeout = s.http_timeout]() -> absl::StatusOr<AwsCredentials> {
            std::string uri = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
            if (uri.empty()) {
              const std::string relative = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
              if (relative.empty()) {
                return NotConfigured(
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI and _RELATIVE_URI are not set");
              }
              uri = absl::StrCat("http://169.254.170.2", relative);
            }
            if (!AllowedContainerUri(uri)) {
              return absl::InvalidArgumentError(absl::StrCat(
                  "AWS_CONTAINER_CREDENTIALS_FULL_URI ", uri,
                  " must be https, or http to a loopback or the container link-local address"));
            }
            std::string token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
            if (const std::string file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
                !file.empty()) {
              absl::StatusOr<std::string> read = ReadWholeFile(file, "container token file");
              if (!read.ok()) return read.status();
              token = Trimmed(*read);
            }
            HttpHeaders headers;
            if (!token.empty()) headers.emplace_back("Authorization", token);
            auto response = HttpRequest("GET", uri, "", "application/json", timeout, headers);
            if (!response.ok() || response->status != 200) {
              return HttpFailure("the container credentials endpoint", uri, response);
            }
            return FromCredentialsJson(response->body, "container credentials", uri);
          }};
}

AwsCredentialsProvider::Source SharedFile(const AwsCredentialSources& s) {
  return {"shared credentials file", [env = s.env]() -> absl::StatusOr<AwsCredentials> {
            std::string path = env("AWS_SHARED_CREDENTIALS_FILE");
            if (path.empty()) {
              const std::string home = env("HOME");
              if (home.empty()) return NotConfigured("HOME is not set");
              path = home + "/.aws/credentials";
            }
            std::string profile = env("AWS_PROFILE");
            if (profile.empty()) profile = "default";
            std::ifstream in(path, std::ios::binary);
            if (!in) return NotConfigured(absl::StrCat(path, " does not exist"));
            std::stringstream text;
            text << in.rdbuf();
            absl::StatusOr<AwsCredentials> c =
                internal::ParseSharedCredentials(text.str(), profile);
            if (!c.ok()) {
              return absl::Status(c.status().code(),
                                  absl::StrCat(path, ": ", c.status().message()));
            }
            c->provider = absl::StrCat("shared credentials file ", path, " [", profile, "]");
            return c;
          }};
}

AwsCredentialsProvider::Source InstanceMetadata(const AwsCredentialSources& s) {
  return {"EC2 instance metadata (IMDSv2)", [env = s.env]() -> absl::StatusOr<AwsCredentials> {
            if (absl::EqualsIgnoreCase(env("AWS_EC2_METADATA_DISABLED"), "true")) {
              return NotConfigured("AWS_EC2_METADATA_DISABLED is true");
            }
            std::string endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
            if (endpoint.empty()) endpoint = "http://169.254.169.254";
            while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
            // Off EC2 nothing answers there: a short deadline keeps the chain quick.
            constexpr std::chrono::seconds kImdsTimeout(2);
            const std::string token_url = endpoint + "/latest/api/token";
            auto token = HttpRequest("PUT", token_url, "", "text/plain", kImdsTimeout,
                                     {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}});
            if (!token.ok() || token->status != 200 || token->body.empty()) {
              return HttpFailure("IMDSv2 token request to", token_url, token);
            }
            const HttpHeaders with_token = {{"X-aws-ec2-metadata-token", Trimmed(token->body)}};
            const std::string roles_url = endpoint + "/latest/meta-data/iam/security-credentials/";
            auto roles = HttpRequest("GET", roles_url, "", "text/plain", kImdsTimeout, with_token);
            if (!roles.ok() || roles->status != 200) {
              return HttpFailure("the instance's role list at", roles_url, roles);
            }
            std::vector<std::string> names =
                absl::StrSplit(roles->body, absl::ByAnyChar("\r\n"), absl::SkipWhitespace());
            if (names.empty()) {
              return absl::FailedPreconditionError(
                  "the instance has no IAM role (attach an instance profile)");
            }
            const std::string role_url = roles_url + Trimmed(names.front());
            auto role = HttpRequest("GET", role_url, "", "text/plain", kImdsTimeout, with_token);
            if (!role.ok() || role->status != 200) {
              return HttpFailure("the role's credentials at", role_url, role);
            }
            return FromCredentialsJson(role->body,
                                       absl::StrCat("EC2 instance profile ", Trimmed(names.front())),
                                       role_url);
          }};
}

}  // namespace

std::function<std::string(const char*)> AwsCredentialSources::ProcessEnv() {
  return [](const char* name) {
    const char* value = std::getenv(name);
    return std::string(value == nullptr ? "" : value);
  };
}

absl::StatusOr<std::shared_ptr<AwsCredentialsProvider>> AwsCredentialsProvider::DefaultChain(
    AwsCredentialSources sources) {
  if (!sources.env) sources.env = AwsCredentialSources::ProcessEnv();
  if (auto s = CheckPair(sources.config_access_key, sources.config_secret_key, "s3.access-key",
                         "s3.secret-key");
      !s.ok()) {
    return s;
  }
  if (auto s = CheckPair(sources.env("AWS_ACCESS_KEY_ID"), sources.env("AWS_SECRET_ACCESS_KEY"),
                         "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY");
      !s.ok()) {
    return s;
  }
  std::vector<Source> chain = {ConfigKeys(sources), Environment(sources), WebIdentity(sources),
                               Container(sources),  SharedFile(sources),  InstanceMetadata(sources)};
  return std::shared_ptr<AwsCredentialsProvider>(
      new AwsCredentialsProvider(std::move(chain), sources.refresh_margin));
}

std::shared_ptr<AwsCredentialsProvider> AwsCredentialsProvider::Static(AwsCredentials credentials) {
  std::vector<Source> one = {
      {credentials.provider.empty() ? "static" : credentials.provider,
       [credentials]() -> absl::StatusOr<AwsCredentials> { return credentials; }}};
  return std::shared_ptr<AwsCredentialsProvider>(
      new AwsCredentialsProvider(std::move(one), std::chrono::seconds(0)));
}

absl::StatusOr<AwsCredentials> AwsCredentialsProvider::Resolve() {
  std::vector<std::string> tried;
  for (const Source& source : sources_) {
    absl::StatusOr<AwsCredentials> c = source.fetch();
    if (c.ok()) {
      if (c->expiration && *c->expiration <= Clock::now()) {
        tried.push_back(absl::StrCat(source.name, ": its credentials expired at ",
                                     absl::FormatTime(absl::FromChrono(*c->expiration))));
        continue;
      }
      return c;
    }
    tried.push_back(absl::StrCat(source.name, ": ", c.status().message()));
  }
  return absl::UnauthenticatedError(
      absl::StrCat("no AWS credentials; tried, in order: ", absl::StrJoin(tried, "; ")));
}

absl::StatusOr<AwsCredentials> AwsCredentialsProvider::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = Clock::now();
  if (cached_ && (!cached_->expiration || *cached_->expiration - refresh_margin_ > now)) {
    return *cached_;
  }
  absl::StatusOr<AwsCredentials> fresh = Resolve();
  if (fresh.ok()) {
    if (cached_ && cached_->access_key != fresh->access_key) {
      EDDY_LOG(INFO) << "AWS credentials renewed from " << fresh->provider;
    }
    cached_ = *fresh;
    return fresh;
  }
  if (cached_ && cached_->expiration && *cached_->expiration > now) {
    EDDY_LOG(WARN) << "cannot renew the AWS credentials from " << cached_->provider
                   << " (they expire at " << absl::FormatTime(absl::FromChrono(*cached_->expiration))
                   << "): " << fresh.status().message();
    return *cached_;
  }
  if (cached_) {
    return absl::UnauthenticatedError(
        absl::StrCat("the AWS credentials from ", cached_->provider,
                     " expired and could not be renewed: ", fresh.status().message()));
  }
  return fresh.status();
}

namespace internal {

std::optional<std::chrono::system_clock::time_point> ParseAwsTime(std::string_view text) {
  absl::Time time;
  std::string error;
  const std::string trimmed = Trimmed(text);
  if (trimmed.empty()) return std::nullopt;
  if (!absl::ParseTime(absl::RFC3339_full, trimmed, &time, &error)) return std::nullopt;
  return absl::ToChronoTime(time);
}

absl::StatusOr<AwsCredentials> ParseSharedCredentials(std::string_view text,
                                                      std::string_view profile) {
  bool in_profile = false, found = false;
  AwsCredentials c;
  for (absl::string_view raw : absl::StrSplit(Av(text), '\n')) {
    const std::string line = Trimmed(std::string_view(raw.data(), raw.size()));
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      std::string name = Trimmed(std::string_view(line).substr(1, line.size() - 2));
      if (absl::StartsWith(name, "profile ")) name = Trimmed(name.substr(8));
      in_profile = name == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = absl::AsciiStrToLower(Trimmed(std::string_view(line).substr(0, eq)));
    const std::string value = Trimmed(std::string_view(line).substr(eq + 1));
    if (key == "aws_access_key_id") c.access_key = value;
    if (key == "aws_secret_access_key") c.secret_key = value;
    if (key == "aws_session_token") c.session_token = value;
  }
  if (!found) return absl::NotFoundError(absl::StrCat("no profile [", Av(profile), "]"));
  if (c.access_key.empty() || c.secret_key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "profile [", Av(profile), "] lacks aws_access_key_id or aws_secret_access_key"));
  }
  return c;
}

}  // namespace internal
}  // namespace eddy::fs
