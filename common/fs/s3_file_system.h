// S3 and S3-compatible stores behind FileSystem: `s3://bucket/key` URIs. Requests go through
// libcurl, signed by its AWS Signature Version 4 (CURLOPT_AWS_SIGV4; no signing code here),
// and are retried with exponential backoff and jitter after connection errors, HTTP 5xx and
// throttling. Files larger than one part are multipart uploads; a CommitStream is a
// multipart upload left uncompleted until Commit(). Thread-safe: concurrent requests use
// their own curl handles from a pool.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/fs/aws_credentials.h"
#include "common/fs/file_system.h"

namespace eddy::fs {

/// How the S3 file system reaches its store. FromConfig() fills it from the s3.* keys and
/// the AWS_* environment; tests may set the rest.
struct S3Options {
  std::string endpoint;  // "http://127.0.0.1:9000" (path-style then); empty = AWS S3
  std::string region = "us-east-1";
  bool path_style = false;
  /// Where requests get their keys (FromConfig: the default chain, aws_credentials.h). When
  /// null, the three fields below are used as they are; all empty = unsigned requests.
  std::shared_ptr<AwsCredentialsProvider> credentials;
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // sent as x-amz-security-token when set
  uint64_t part_size = 5 << 20;
  int max_retries = 5;
  std::chrono::milliseconds retry_base_delay{100};  // doubled each retry, with jitter
  std::chrono::milliseconds retry_max_delay{10'000};
  int list_page_size = 1000;  // max-keys of one ListObjectsV2 request

  /// Reads s3.endpoint, s3.region, s3.path.style.access, s3.upload.min.part.size and
  /// s3.max-retries (region falling back to AWS_REGION / AWS_DEFAULT_REGION), and sets
  /// `credentials` to the default chain: s3.access-key / s3.secret-key, then the
  /// environment, web identity, container credentials, the shared file and EC2 instance
  /// metadata (resolved at the first request). InvalidArgument naming the key for a bad
  /// endpoint, a part size outside S3's limits (5 MiB to 5 GiB) or half a key pair.
  static absl::StatusOr<S3Options> FromConfig(const Config& config);
};

struct S3Location {
  std::string bucket;
  std::string key;  // may be empty (the bucket's root)
};

/// Splits `s3://bucket/key`. InvalidArgument naming the URI when it is not one or has no
/// bucket.
absl::StatusOr<S3Location> ParseS3Uri(std::string_view uri);

class S3FileSystem final : public FileSystem {
 public:
  explicit S3FileSystem(S3Options options);
  ~S3FileSystem() override;
  S3FileSystem(const S3FileSystem&) = delete;
  S3FileSystem& operator=(const S3FileSystem&) = delete;

  absl::StatusOr<std::string> Read(std::string_view uri, uint64_t offset = 0,
                                   uint64_t length = kToEnd) override;
  absl::StatusOr<FileStatus> Stat(std::string_view uri) override;
  absl::StatusOr<std::vector<FileStatus>> List(std::string_view prefix_uri) override;
  absl::Status WriteAtomically(std::string_view uri, std::string_view bytes) override;
  absl::StatusOr<std::unique_ptr<WriteStream>> Create(std::string_view uri) override;
  /// Starts a multipart upload; CloseForCommit() uploads the last part (also when it is the
  /// only one) and leaves the upload uncompleted.
  absl::StatusOr<std::unique_ptr<CommitStream>> CreateForCommit(std::string_view uri) override;
  /// Completes the multipart upload; OK if S3 no longer knows it and the target exists.
  absl::Status Commit(const CommitHandle& handle) override;
  /// Aborts the multipart upload; OK if S3 no longer knows it.
  absl::Status AbortCommit(const CommitHandle& handle) override;
  absl::Status Delete(std::string_view uri) override;
  /// Lists, then deletes in DeleteObjects batches of up to 1000 keys.
  absl::Status DeleteRecursive(std::string_view prefix_uri) override;

  const S3Options& options() const { return options_; }

  class Client;  // the request path, shared with the streams

 private:
  S3Options options_;
  std::shared_ptr<Client> client_;
};

namespace internal {

/// One HTTP request exactly as the S3 file system sends it.
struct S3HttpRequest {
  std::string method;                // GET, HEAD, PUT, POST or DELETE
  std::string url;                   // path and query already in SigV4 canonical form
  std::vector<std::string> headers;  // "Name: value", all of them signed
  std::string_view body;
  std::string connect_to;  // a CURLOPT_CONNECT_TO entry "host:port:host2:port2" (tests)
};

struct S3HttpResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

/// Sends `request` once (no retries) through the same libcurl path as S3FileSystem: signed
/// with CURLOPT_AWS_SIGV4 "aws:amz:<region>:s3" and `options`' keys, with
/// x-amz-content-sha256 (the body's SHA-256) and x-amz-security-token added unless given.
/// libcurl signs a caller's X-Amz-Date header instead of the clock's. The response of any
/// status; an error only when none was had (Unavailable for connection errors).
absl::StatusOr<S3HttpResponse> SendS3Request(const S3Options& options,
                                             const S3HttpRequest& request);

/// URI-encodes `s` as SigV4 wants it: every byte but A-Z a-z 0-9 - . _ ~ as %XX, and '/'
/// too unless `keep_slash`.
std::string S3UriEncode(std::string_view s, bool keep_slash);

/// Returns the XML-unescaped text of each `<tag>` element of `xml`, in order.
std::vector<std::string> XmlElementTexts(std::string_view xml, std::string_view tag);

}  // namespace internal
}  // namespace eddy::fs
