// AWS credentials the way EC2, EKS and developers' machines hand them out: a chain of
// providers tried in the AWS SDKs' order, the first that yields credentials wins.
//
//   1. config keys      s3.access-key / s3.secret-key
//   2. environment      AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
//   3. web identity     AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE -> STS
//                       AssumeRoleWithWebIdentity (EKS IAM roles for service accounts)
//   4. container        AWS_CONTAINER_CREDENTIALS_FULL_URI (or _RELATIVE_URI) with
//                       AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE) (EKS Pod Identity, ECS)
//   5. shared file      AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile
//                       AWS_PROFILE (default "default")
//   6. instance profile EC2 instance metadata, IMDSv2: PUT a session token, then the role's
//                       credentials (AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the
//                       address; AWS_EC2_METADATA_DISABLED=true skips it)
//
// Temporary credentials (3, 4, 6) carry an expiration and are fetched again before it
// (refresh margin, 5 minutes by default). When nothing yields credentials the error lists
// every provider with what it found. Thread-safe; Get() is called per S3 request and takes
// a mutex and, when due, one HTTP exchange.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace eddy::fs {

struct AwsCredentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // empty for long-term keys
  /// When temporary credentials stop working; nullopt: they do not expire.
  std::optional<std::chrono::system_clock::time_point> expiration;
  std::string provider;  // which provider gave them, for messages
};

/// Where the chain looks: the environment (a lookup, so tests need not touch the process's
/// own) and the s3.* keys.
struct AwsCredentialSources {
  std::function<std::string(const char*)> env;  // "" when unset
  std::string config_access_key;                // s3.access-key
  std::string config_secret_key;                // s3.secret-key
  std::string region = "us-east-1";             // for STS's regional endpoint
  std::chrono::milliseconds http_timeout{5000};
  /// Temporary credentials are fetched again this long before they expire.
  std::chrono::seconds refresh_margin{300};

  /// The process environment.
  static std::function<std::string(const char*)> ProcessEnv();
};

class AwsCredentialsProvider {
 public:
  /// Builds the chain over `sources`. InvalidArgument for half a key pair in the config
  /// keys or the environment (naming them).
  static absl::StatusOr<std::shared_ptr<AwsCredentialsProvider>> DefaultChain(
      AwsCredentialSources sources);

  /// Fixed credentials (tests, and the config keys).
  static std::shared_ptr<AwsCredentialsProvider> Static(AwsCredentials credentials);

  /// Returns credentials that are not about to expire: cached, or fetched now. When a
  /// refresh fails but the cached credentials are still valid, returns those. Errors:
  /// Unauthenticated listing each provider tried and what it found, or naming the provider
  /// whose credentials expired and could not be renewed.
  absl::StatusOr<AwsCredentials> Get();

  /// One source in the chain; NotFound when it is not configured (the message says why).
  struct Source {
    std::string name;
    std::function<absl::StatusOr<AwsCredentials>()> fetch;
  };

 private:
  AwsCredentialsProvider(std::vector<Source> sources, std::chrono::seconds refresh_margin)
      : sources_(std::move(sources)), refresh_margin_(refresh_margin) {}

  absl::StatusOr<AwsCredentials> Resolve();

  const std::vector<Source> sources_;
  const std::chrono::seconds refresh_margin_;
  std::mutex mu_;
  std::optional<AwsCredentials> cached_;  // guarded by mu_
};

namespace internal {
/// Parses an ISO 8601 / RFC 3339 time such as "2026-12-01T05:00:00Z" (STS, IMDS).
std::optional<std::chrono::system_clock::time_point> ParseAwsTime(std::string_view text);
/// The [profile] section's keys of an INI credentials file; NotFound if it has no such
/// section.
absl::StatusOr<AwsCredentials> ParseSharedCredentials(std::string_view text,
                                                      std::string_view profile);
}  // namespace internal

}  // namespace eddy::fs
