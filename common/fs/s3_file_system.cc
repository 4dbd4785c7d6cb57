#include "common/fs/s3_file_system.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/logging.h"
#include "common/sha256.h"
#include "common/status.h"

namespace eddy::fs {
namespace {

using internal::S3HttpRequest;
using internal::S3HttpResponse;

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr uint64_t kMinPartSize = uint64_t{5} << 20;  // S3's limits for a non-last part
constexpr uint64_t kMaxPartSize = uint64_t{5} << 30;
constexpr size_t kDeleteBatch = 1000;  // keys per DeleteObjects request
constexpr long kConnectTimeoutMs = 10'000;
// A transfer that moves less than a byte per second for this long has stalled.
constexpr long kStallSeconds = 60;

std::string_view Trim(std::string_view s) {
  const absl::string_view t = absl::StripAsciiWhitespace(Av(s));
  return std::string_view(t.data(), t.size());
}

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(Av(s)); }

std::string S3Uri(std::string_view bucket, std::string_view key) {
  return absl::StrCat("s3://", Av(bucket), "/", Av(key));
}

// ---------------------------------------------------------------------------------------
// XML: S3's responses are small documents of plain elements; keys and messages in them are
// escaped (&amp; &lt; &gt; &quot; &apos; and numeric references).

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string XmlUnescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const size_t amp = text.find('&');
    out.append(text.substr(0, amp));
    if (amp == std::string_view::npos) break;
    text.remove_prefix(amp);
    const size_t semi = text.find(';');
    const std::string_view entity =
        semi == std::string_view::npos ? std::string_view() : text.substr(1, semi - 1);
    bool known = true;
    if (entity == "amp") {
      out.push_back('&');
    } else if (entity == "lt") {
      out.push_back('<');
    } else if (entity == "gt") {
      out.push_back('>');
    } else if (entity == "quot") {
      out.push_back('"');
    } else if (entity == "apos") {
      out.push_back('\'');
    } else if (entity.size() > 1 && entity[0] == '#') {
      uint32_t cp = 0;
      const bool hex = entity[1] == 'x' || entity[1] == 'X';
      const std::string digits(entity.substr(hex ? 2 : 1));
      known = !digits.empty() &&
              (hex ? absl::SimpleHexAtoi(digits, &cp) : absl::SimpleAtoi(digits, &cp)) &&
              cp <= 0x10FFFF;
      if (known) AppendUtf8(&out, cp);
    } else {
      known = false;
    }
    if (known) {
      text.remove_prefix(semi + 1);
    } else {  // not an entity: keep the '&' as it is
      out.push_back('&');
      text.remove_prefix(1);
    }
  }
  return out;
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

/// The raw (still escaped) content of each `<tag>` element, in order. `<tag/>` is empty.
std::vector<std::string_view> XmlElements(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> out;
  const std::string open = absl::StrCat("<", Av(tag));
  const std::string close = absl::StrCat("</", Av(tag), ">");
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    size_t after = pos + open.size();
    if (after >= xml.size()) break;
    const char next = xml[after];
    if (next != '>' && next != '/' && next != ' ' && next != '\t' && next != '\r' && next != '\n') {
      pos = after;  // a longer name such as <KeyCount> when looking for <Key>
      continue;
    }
    const size_t gt = xml.find('>', after);
    if (gt == std::string_view::npos) break;
    if (xml[gt - 1] == '/') {  // <tag/>
      out.push_back(std::string_view());
      pos = gt + 1;
      continue;
    }
    const size_t end = xml.find(close, gt + 1);
    if (end == std::string_view::npos) break;
    out.push_back(xml.substr(gt + 1, end - gt - 1));
    pos = end + close.size();
  }
  return out;
}

std::string FirstXmlText(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> elements = XmlElements(xml, tag);
  return elements.empty() ? "" : XmlUnescape(elements.front());
}

std::string Md5Base64(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_md5(), nullptr);
  return absl::Base64Escape(
      absl::string_view(reinterpret_cast<const char*>(digest), static_cast<size_t>(size)));
}

// ---------------------------------------------------------------------------------------
// libcurl

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

/// Failures that another attempt may not see: the connection, not the request.
bool IsTransientCurlError(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<S3HttpResponse*>(user);
  const std::string_view line(data, size * count);
  if (line.substr(0, 5) == "HTTP/") {
    response->headers.clear();  // a new response (after "100 Continue")
  } else if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
    response->headers[Lower(Trim(line.substr(0, colon)))] =
        std::string(Trim(line.substr(colon + 1)));
  }
  return size * count;
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

bool HasHeader(const std::vector<std::string>& headers, std::string_view name) {
  for (const std::string& h : headers) {
    const size_t colon = h.find(':');
    if (colon != std::string::npos && Lower(Trim(std::string_view(h).substr(0, colon))) == name) {
      return true;
    }
  }
  return false;
}

/// Sends one request on `curl` (reset first, so a pooled handle keeps only its connections).
absl::StatusOr<S3HttpResponse> Perform(CURL* curl, const S3Options& options,
                                       const S3HttpRequest& request) {
  curl_easy_reset(curl);
  S3HttpResponse response;
  char error[CURL_ERROR_SIZE] = {0};
  AwsCredentials keys{options.access_key, options.secret_key, options.session_token,
                      std::nullopt, "S3 options"};
  if (options.credentials) {
    absl::StatusOr<AwsCredentials> got = options.credentials->Get();
    if (!got.ok()) return got.status();
    keys = *std::move(got);
  }

  Slist headers;
  auto add_header = [&headers](const std::string& header) {
    headers.reset(curl_slist_append(headers.release(), header.c_str()));
  };
  for (const std::string& header : request.headers) add_header(header);
  // Every request carries its payload's hash: S3 wants the header, and libcurl (7.x) signs
  // the hash of an upload's body only when it is given.
  if (!HasHeader(request.headers, "x-amz-content-sha256")) {
    add_header(absl::StrCat("x-amz-content-sha256: ", Sha256Hex(request.body)));
  }
  if (!keys.session_token.empty() && !HasHeader(request.headers, "x-amz-security-token")) {
    add_header(absl::StrCat("x-amz-security-token: ", keys.session_token));
  }
  const std::string sigv4 = absl::StrCat("aws:amz:", options.region, ":s3");
  const std::string userpwd = absl::StrCat(keys.access_key, ":", keys.secret_key);
  Slist connect_to;
  if (!request.connect_to.empty()) {
    connect_to.reset(curl_slist_append(nullptr, request.connect_to.c_str()));
    curl_easy_setopt(curl, CURLOPT_CONNECT_TO, connect_to.get());
  }

  // The handle points at the buffers and lists above only while this call runs: a pooled
  // handle (or its cleanup, which may report on closed connections) must not see them.
  struct ResetOnExit {
    CURL* curl;
    ~ResetOnExit() { curl_easy_reset(curl); }
  } reset_on_exit{curl};

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);  // a key may hold "." and ".." segments
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, kStallSeconds);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "eddy/" EDDY_VERSION);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);
  if (!keys.access_key.empty()) {
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
    curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd.c_str());
  }
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (request.method == "PUT" || request.method == "POST") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.empty() ? "" : request.body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }
  }

  const CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    std::string message = absl::StrCat(curl_easy_strerror(rc), error[0] != '\0' ? ": " : "", error);
    if (IsTransientCurlError(rc)) return absl::UnavailableError(message);
    return absl::InternalError(message);
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

/// Easy handles kept between requests, so that their connections are reused.
class HandlePool {
 public:
  HandlePool() = default;
  ~HandlePool() {
    for (CURL* curl : free_) curl_easy_cleanup(curl);
  }
  HandlePool(const HandlePool&) = delete;
  HandlePool& operator=(const HandlePool&) = delete;

  CURL* Take() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        CURL* curl = free_.back();
        free_.pop_back();
        return curl;
      }
    }
    return curl_easy_init();
  }
  void Return(CURL* curl) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(curl);
  }

 private:
  std::mutex mu_;
  std::vector<CURL*> free_;
};

/// One S3 operation: what it is sent to and what its errors name.
struct S3Call {
  std::string method;
  std::string bucket;
  std::string key;                           // the object, or the prefix of a list
  bool bucket_level = false;                 // path is the bucket (list, delete objects)
  std::map<std::string, std::string> query;  // sorted: SigV4's canonical order
  std::vector<std::string> headers;
  std::string_view body;
};

std::string Describe(const S3Call& call) {
  return absl::StrCat("S3 ", call.method, " ", S3Uri(call.bucket, call.key));
}

std::string Names(const S3Call& call) {
  return absl::StrCat("bucket '", call.bucket, "', ", call.bucket_level ? "prefix" : "key", " '",
                      call.key, "'");
}

std::string ErrorCode(const S3HttpResponse& response) {
  return FirstXmlText(response.body, "Code");
}

/// "HTTP 404 NoSuchKey: The specified key does not exist."
std::string Summary(const S3HttpResponse& response) {
  const std::string code = ErrorCode(response);
  const std::string message = FirstXmlText(response.body, "Message");
  std::string text = absl::StrCat("HTTP ", response.status);
  if (!code.empty()) absl::StrAppend(&text, " ", code);
  if (!message.empty()) absl::StrAppend(&text, ": ", message);
  return text;
}

/// The error for a response that the operation did not expect, naming the bucket, the key
/// and S3's code and message.
absl::Status ResponseError(const S3Call& call, const S3HttpResponse& response,
                           std::string_view context = "") {
  const std::string code = ErrorCode(response);
  const std::string text =
      absl::StrCat(Describe(call), Av(context), ": ", Summary(response), " (", Names(call), ")");
  if (code == "NoSuchBucket") return absl::FailedPreconditionError(text);
  switch (response.status) {
    case 401:
    case 403:
      return absl::PermissionDeniedError(text);
    case 404:
      return absl::NotFoundError(text);
    case 400:
      return absl::InvalidArgumentError(text);
    case 409:
    case 412:
      return absl::FailedPreconditionError(text);
    default:
      if (response.status == 429 || response.status >= 500) return absl::UnavailableError(text);
      return absl::InternalError(text);
  }
}

bool IsRetryableResponse(const S3Call& call, const S3HttpResponse& response) {
  if (response.status == 429 || (response.status >= 500 && response.status != 501)) return true;
  const std::string code = ErrorCode(response);
  if (code == "SlowDown" || code == "Throttling" || code == "ThrottlingException" ||
      code == "RequestTimeout" || code == "RequestLimitExceeded" || code == "InternalError" ||
      code == "ServiceUnavailable") {
    // CompleteMultipartUpload may answer 200 with an <Error> body.
    return response.status >= 400 || call.query.count("uploadId") > 0;
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Client: the S3 operations, with retries.

class S3FileSystem::Client {
 public:
  explicit Client(S3Options options) : options_(std::move(options)) { InitCurlOnce(); }

  const S3Options& options() const { return options_; }

  /// Sends `call`, retrying transient failures. Returns the first response that is not
  /// worth retrying; an error after the last attempt.
  absl::StatusOr<S3HttpResponse> Execute(const S3Call& call) {
    S3HttpRequest request;
    request.method = call.method;
    request.url = Url(call);
    request.headers = call.headers;
    request.body = call.body;
    for (int attempt = 0;; ++attempt) {
      CURL* curl = pool_.Take();
      if (curl == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
      absl::StatusOr<S3HttpResponse> response = Perform(curl, options_, request);
      pool_.Return(curl);
      std::string failure;
      if (!response.ok()) {
        if (!absl::IsUnavailable(response.status())) {
          return absl::Status(response.status().code(),
                              absl::StrCat(Describe(call), " failed: ", response.status().message(),
                                           " (", Names(call), ")"));
        }
        failure = std::string(response.status().message());
      } else if (IsRetryableResponse(call, *response)) {
        failure = Summary(*response);
      } else {
        return response;
      }
      if (attempt >= options_.max_retries) {
        return absl::UnavailableError(absl::StrCat(
            Describe(call), " failed after ", attempt + 1,
            attempt == 0 ? " attempt: " : " attempts: ", failure, " (", Names(call), ")"));
      }
      const std::chrono::milliseconds delay = Backoff(attempt);
      EDDY_LOG(WARN) << Describe(call) << ": " << failure << "; retry " << attempt + 1 << " of "
                     << options_.max_retries << " in " << delay.count() << "ms";
      std::this_thread::sleep_for(delay);
    }
  }

  absl::Status PutObject(const std::string& bucket, const std::string& key,
                         std::string_view bytes) {
    S3Call call{.method = "PUT", .bucket = bucket, .key = key};
    call.headers = {"Content-Type: application/octet-stream"};
    call.body = bytes;
    EDDY_ASSIGN_OR_RETURN(S3HttpResponse response, Execute(call));
    if (response.status != 200) return ResponseError(call, response);
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> CreateMultipartUpload(const std::string& bucket,
                                                    const std::string& key) {
    S3Call call{.method = "POST", .bucket = bucket, .key = key};
    call.query = {{"uploads", ""}};
    call.headers = {"Content-Type: application/octet-stream"};
    EDDY_ASSIGN_OR_RETURN(S3HttpResponse response, Execute(call));
    if (response.status != 200) return ResponseError(call, response, " (create multipart upload)");
    std::string upload_id = FirstXmlText(response.body, "UploadId");
    if (upload_id.empty()) {
      return absl::InternalError(absl::StrCat(Describe(call),
                                              ": no UploadId in the answer to "
                                              "CreateMultipartUpload (",
                                              Names(call), ")"));
    }
    return upload_id;
  }

  /// Returns the part's ETag.
  absl::StatusOr<std::string> UploadPart(const std::string& bucket, const std::string& key,
                                         const std::string& upload_id, int part_number,
                                         std::string_view bytes) {
    S3Call call{.method = "PUT", .bucket = bucket, .key = key};
    call.query = {{"partNumber", absl::StrCat(part_number)}, {"uploadId", upload_id}};
    call.body = bytes;
    EDDY_ASSIGN_OR_RETURN(S3HttpResponse response, Execute(call));
    const std::string context = absl::StrCat(" (part ", part_number, ")");
    if (response.status != 200) return ResponseError(call, response, context);
    auto etag = response.headers.find("etag");
    if (etag == response.headers.end() || etag->second.empty()) {
      return absl::InternalError(
          absl::StrCat(Describe(call), Av(context), ": no ETag in the answer (", Names(call), ")"));
    }
    return etag->second;
  }

  /// NotFound when S3 does not know the upload (NoSuchUpload).
  absl::Status CompleteMultipartUpload(const std::string& bucket, const std::string& key,
                                       const std::string& upload_id,
                                       const std::vector<std::string>& etags) {
    std::string xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    for (size_t i = 0; i < etags.size(); ++i) {
      absl::StrAppend(&xml, "<Part><PartNumber>", i + 1, "</PartNumber><ETag>", XmlEscape(etags[i]),
                      "</ETag></Part>");
    }
    xml += "</CompleteMultipartUpload>";
    S3Call call{.method = "POST", .bucket = bucket, .key = key};
    call.query = {{"uploadId", upload_id}};
    call.headers = {"Content-Type: application/xml"};
    call.body = xml;
    EDDY_ASSIGN_OR_RETURN(S3HttpResponse response, Execute(call));
    // A 200 may still carry an <Error> (S3 fails late after it started answering).
    if (response.status != 200 || !XmlElements(response.body, "Error").empty()) {
      if (response.status == 200) response.status = 500;
      return ResponseError(call, response, " (complete multipart upload)");
    }
    return absl::OkStatus();
  }

  /// OK also when S3 does not know the upload (any more).
  absl::Status AbortMultipartUpload(const std::string& bucket, const std::string& key,
                                    const std::string& upload_id) {
    S3Call call{.method = "DELETE", .bucket = bucket, .key = key};
    call.query = {{"uploadId", upload_id}};
    EDDY_ASSIGN_OR_RETURN(S3HttpResponse response, Execute(call));
    if (response.status == 204 || response.status == 200) return absl::OkStatus();
    if (response.status == 404 && ErrorCode(response) == "NoSuchUpload") return absl::OkStatus();
    return ResponseError(call, response, " (abort multipart upload)");
  }

  /// The object's size; NotFound when it does not exist.
  absl::StatusOr<uint64_t> HeadObject(const std::string& bucket, const std::string& key) {
    S3Call call{.method = "HEAD", .bucket = bucket, .key = key};
    EDDY_ASSIGN_OR_RETURN(S3HttpResponse response, Execute(call));
    if (response.status != 200) {
      if (response.status == 404) {
        return absl::NotFoundError(absl::StrCat("no object ", S3Uri(bucket, key),
                                                " (HEAD: HTTP 404, no such key or bucket; ",
                                                Names(call), ")"));
      }
      return ResponseError(call, response);
    }
    uint64_t size = 0;
    auto length = response.headers.find("content-length");
    if (length == response.headers.end() || !absl::SimpleAtoi(length->second, &size)) {
      return absl::InternalError(
          absl::StrCat(Describe(call), ": no Content-Length in the answer (", Names(call), ")"));
    }
    return size;
  }

  absl::StatusOr<std::string> GetObject(const std::string& bucket, const std::string& key,
                                        uint64_t offset, uint64_t length) {
    S3Call call{.method = "GET", .bucket = bucket, .key = key};
    const bool ranged = offset > 0 || length != FileSystem::kToEnd;
    if (ranged) {
      const bool to_end = length == FileSystem::kToEnd || length - 1 > UINT64_MAX - offset;
      call.headers = {absl::StrCat("Range: bytes=", offset, "-",
                                   to_end ? "" : absl::StrCat(offset + length - 1))};
    }
    EDDY_ASSIGN_OR_RETURN(S3HttpResponse response, Execute(call));
    if (response.status == 206) {
      // Some S3-compatible servers answer more than was asked (s3rver reads "bytes=0-0" as
      // "bytes=0-"); what matters is that the part starts where asked.
      auto content_range = response.headers.find("content-range");
      uint64_t start = 0;
      if (content_range != response.headers.end()) {
        std::string_view value = content_range->second;  // "bytes 10-14/100"
        const size_t space = value.find(' ');
        const size_t dash = value.find('-');
        if (space == std::string_view::npos || dash == std::string_view::npos || dash < space ||
            !absl::SimpleAtoi(Av(value.substr(space + 1, dash - space - 1)), &start) ||
            start != offset) {
          return absl::InternalError(absl::StrCat(Describe(call), ": asked for bytes from ", offset,
                                                  ", got Content-Range '", content_range->second,
                                                  "' (", Names(call), ")"));
        }
      }
      if (response.body.size() > length) response.body.resize(length);
      return std::move(response.body);
    }
    if (response.status == 200) {
      if (!ranged) return std::move(response.body);
      // The whole object although a range was asked for: cut it here.
      if (offset >= response.body.size()) return std::string();
      return response.body.substr(offset, length);
    }
    if (response.status == 416) return std::string();  // offset at or past the end
    return ResponseError(call, response);
  }

  /// OK also when the object does not exist.
  absl::Status DeleteObject(const std::string& bucket, const std::string& key) {
    S3Call call{.method = "DELETE", .bucket = bucket, .key = key};
    EDDY_ASSIGN_OR_RETURN(S3HttpResponse response, Execute(call));
    if (response.status == 204 || response.status == 200) return absl::OkStatus();
    if (response.status == 404 && ErrorCode(response) == "NoSuchKey") return absl::OkStatus();
    return ResponseError(call, response);
  }

  /// Every key under `prefix`, with its size, page by page (ListObjectsV2).
  absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>> ListObjects(
      const std::string& bucket, const std::string& prefix) {
    std::vector<std::pair<std::string, uint64_t>> out;
    std::string token;
    while (true) {
      S3Call call{.method = "GET", .bucket = bucket, .key = prefix, .bucket_level = true};
      call.query = {{"list-type", "2"},
                    {"max-keys", absl::StrCat(options_.list_page_size)},
                    {"prefix", prefix}};
      if (!token.empty()) call.query["continuation-token"] = token;
      EDDY_ASSIGN_OR_RETURN(S3HttpResponse response, Execute(call));
      if (response.status != 200) return ResponseError(call, response, " (list)");
      for (std::string_view contents : XmlElements(response.body, "Contents")) {
        std::vector<std::string_view> keys = XmlElements(contents, "Key");
        uint64_t size = 0;
        if (keys.size() != 1 || !absl::SimpleAtoi(FirstXmlText(contents, "Size"), &size)) {
          return absl::InternalError(absl::StrCat(
              Describe(call), ": malformed <Contents> in the listing (", Names(call), ")"));
        }
        out.emplace_back(XmlUnescape(keys.front()), size);
      }
      if (FirstXmlText(response.body, "IsTruncated") != "true") break;
      std::string next = FirstXmlText(response.body, "NextContinuationToken");
      if (next.empty() || next == token) {
        return absl::InternalError(
            absl::StrCat(Describe(call), ": truncated listing without a new continuation token (",
                         Names(call), ")"));
      }
      token = std::move(next);
    }
    return out;
  }

  /// Deletes up to 1000 keys in one DeleteObjects request.
  absl::Status DeleteObjects(const std::string& bucket, const std::vector<std::string>& keys,
                             const std::string& prefix) {
    std::string xml =
        "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>";
    for (const std::string& key : keys) {
      absl::StrAppend(&xml, "<Object><Key>", XmlEscape(key), "</Key></Object>");
    }
    xml += "</Delete>";
    S3Call call{.method = "POST", .bucket = bucket, .key = prefix, .bucket_level = true};
    call.query = {{"delete", ""}};
    call.headers = {"Content-Type: application/xml", absl::StrCat("Content-MD5: ", Md5Base64(xml))};
    call.body = xml;
    EDDY_ASSIGN_OR_RETURN(S3HttpResponse response, Execute(call));
    if (response.status != 200) return ResponseError(call, response, " (delete objects)");
    std::vector<std::string_view> errors = XmlElements(response.body, "Error");
    if (!errors.empty()) {
      return absl::InternalError(absl::StrCat(
          "S3 DeleteObjects in bucket '", bucket, "' failed for ", errors.size(),
          " keys, the first key '", FirstXmlText(errors.front(), "Key"), "': ",
          FirstXmlText(errors.front(), "Code"), ": ", FirstXmlText(errors.front(), "Message")));
    }
    return absl::OkStatus();
  }

 private:
  std::chrono::milliseconds Backoff(int attempt) {
    thread_local std::mt19937_64 random{std::random_device{}()};
    const int64_t base = std::max<int64_t>(1, options_.retry_base_delay.count());
    const int64_t cap = std::max<int64_t>(base, options_.retry_max_delay.count());
    const int64_t delay = attempt >= 30 ? cap : std::min(cap, base << attempt);
    // Half fixed, half random: retries of many clients spread out.
    std::uniform_int_distribution<int64_t> jitter(0, delay / 2);
    return std::chrono::milliseconds(delay - delay / 2 + jitter(random));
  }

  std::string Url(const S3Call& call) const {
    std::string base;
    const bool path_style = options_.path_style || !options_.endpoint.empty() ||
                            call.bucket.find('.') != std::string::npos;
    if (!options_.endpoint.empty()) {
      base = absl::StrCat(options_.endpoint, "/", call.bucket);
    } else if (path_style) {
      base = absl::StrCat("https://s3.", options_.region, ".amazonaws.com/", call.bucket);
    } else {
      base = absl::StrCat("https://", call.bucket, ".s3.", options_.region, ".amazonaws.com");
    }
    std::string url = base;
    if (call.bucket_level) {
      if (!path_style) url += "/";
    } else {
      absl::StrAppend(&url, "/", internal::S3UriEncode(call.key, /*keep_slash=*/true));
    }
    char separator = '?';
    for (const auto& [name, value] : call.query) {
      absl::StrAppend(&url, std::string(1, separator), internal::S3UriEncode(name, false), "=",
                      internal::S3UriEncode(value, false));
      separator = '&';
    }
    return url;
  }

  S3Options options_;
  HandlePool pool_;
};

// ---------------------------------------------------------------------------------------
// Streams

namespace {

/// The parts of one multipart upload, shared by both kinds of stream: data is buffered until
/// more than a part is there, then sent a part at a time.
class PartUploader {
 public:
  PartUploader(std::shared_ptr<S3FileSystem::Client> client, std::string uri, S3Location location)
      : client_(std::move(client)), uri_(std::move(uri)), location_(std::move(location)) {}

  absl::Status Write(std::string_view bytes) {
    if (!failure_.ok()) return failure_;
    if (ended_) {
      return absl::FailedPreconditionError(absl::StrCat("write to ", uri_, " after it ended"));
    }
    buffer_.append(bytes);
    written_ += bytes.size();
    const uint64_t part_size = client_->options().part_size;
    while (buffer_.size() > part_size) {
      absl::Status status = SendPart(std::string_view(buffer_).substr(0, part_size));
      if (!status.ok()) return Fail(status);
      buffer_.erase(0, part_size);
    }
    return absl::OkStatus();
  }

  absl::Status Start() {
    if (!upload_id_.empty()) return absl::OkStatus();
    absl::StatusOr<std::string> id =
        client_->CreateMultipartUpload(location_.bucket, location_.key);
    if (!id.ok()) return Fail(id.status());
    upload_id_ = *std::move(id);
    return absl::OkStatus();
  }

  /// Sends what is buffered as the last part (also when it is empty and the only one).
  absl::Status SendLastPart() {
    absl::Status status = SendPart(buffer_);
    if (!status.ok()) return Fail(status);
    buffer_.clear();
    buffer_.shrink_to_fit();
    return absl::OkStatus();
  }

  /// Ends the stream; aborts the upload unless `keep_upload`.
  void End(bool keep_upload) {
    ended_ = true;
    buffer_.clear();
    buffer_.shrink_to_fit();
    if (!keep_upload && !upload_id_.empty()) {
      absl::Status status =
          client_->AbortMultipartUpload(location_.bucket, location_.key, upload_id_);
      if (!status.ok()) {
        EDDY_LOG(WARN) << "cannot abort the multipart upload " << upload_id_ << " of " << uri_
                       << ": " << status.message();
      }
      upload_id_.clear();
    }
  }

  S3FileSystem::Client& client() { return *client_; }
  const std::string& uri() const { return uri_; }
  const S3Location& location() const { return location_; }
  const std::string& buffer() const { return buffer_; }
  const std::string& upload_id() const { return upload_id_; }
  const std::vector<std::string>& etags() const { return etags_; }
  uint64_t written() const { return written_; }
  bool ended() const { return ended_; }
  const absl::Status& failure() const { return failure_; }

  absl::Status Fail(absl::Status status) {
    failure_ = status;
    End(/*keep_upload=*/false);
    return status;
  }

 private:
  absl::Status SendPart(std::string_view bytes) {
    EDDY_RETURN_IF_ERROR(Start());
    EDDY_ASSIGN_OR_RETURN(std::string etag,
                          client_->UploadPart(location_.bucket, location_.key, upload_id_,
                                              static_cast<int>(etags_.size()) + 1, bytes));
    etags_.push_back(std::move(etag));
    return absl::OkStatus();
  }

  std::shared_ptr<S3FileSystem::Client> client_;
  std::string uri_;
  S3Location location_;
  std::string buffer_;
  std::string upload_id_;
  std::vector<std::string> etags_;
  uint64_t written_ = 0;
  bool ended_ = false;
  absl::Status failure_;
};

class S3WriteStream final : public WriteStream {
 public:
  explicit S3WriteStream(PartUploader uploader) : uploader_(std::move(uploader)) {}
  ~S3WriteStream() override {
    if (!uploader_.ended()) Abort();
  }

  absl::Status Write(std::string_view bytes) override { return uploader_.Write(bytes); }

  absl::Status Close() override {
    if (!uploader_.failure().ok()) return uploader_.failure();
    if (uploader_.ended()) {
      return absl::FailedPreconditionError(absl::StrCat(uploader_.uri(), " was closed already"));
    }
    const S3Location& at = uploader_.location();
    if (uploader_.upload_id().empty()) {  // fits one part: a single PUT
      absl::Status status = uploader_.client().PutObject(at.bucket, at.key, uploader_.buffer());
      uploader_.End(/*keep_upload=*/false);
      return status;
    }
    EDDY_RETURN_IF_ERROR(uploader_.SendLastPart());
    absl::Status status = uploader_.client().CompleteMultipartUpload(
        at.bucket, at.key, uploader_.upload_id(), uploader_.etags());
    if (absl::IsNotFound(status)) {
      // No such upload: a retry after the completion whose answer was lost finds it done.
      absl::StatusOr<uint64_t> size = uploader_.client().HeadObject(at.bucket, at.key);
      if (size.ok() && *size == uploader_.written()) status = absl::OkStatus();
    }
    if (!status.ok()) return uploader_.Fail(status);
    uploader_.End(/*keep_upload=*/true);
    return absl::OkStatus();
  }

  void Abort() override { uploader_.End(/*keep_upload=*/false); }
  uint64_t bytes_written() const override { return uploader_.written(); }

 private:
  PartUploader uploader_;
};

class S3CommitStream final : public CommitStream {
 public:
  explicit S3CommitStream(PartUploader uploader) : uploader_(std::move(uploader)) {}
  ~S3CommitStream() override {
    if (!uploader_.ended()) Abort();
  }

  absl::Status Write(std::string_view bytes) override { return uploader_.Write(bytes); }

  absl::StatusOr<CommitHandle> CloseForCommit() override {
    if (!uploader_.failure().ok()) return uploader_.failure();
    if (uploader_.ended()) {
      return absl::FailedPreconditionError(absl::StrCat(uploader_.uri(), " was closed already"));
    }
    EDDY_RETURN_IF_ERROR(uploader_.SendLastPart());
    CommitHandle handle;
    handle.target = uploader_.uri();
    handle.staged = uploader_.upload_id();
    handle.parts = uploader_.etags();
    handle.size = uploader_.written();
    uploader_.End(/*keep_upload=*/true);
    return handle;
  }

  void Abort() override { uploader_.End(/*keep_upload=*/false); }
  uint64_t bytes_written() const override { return uploader_.written(); }

  absl::Status Start() { return uploader_.Start(); }

 private:
  PartUploader uploader_;
};

absl::StatusOr<S3Location> ObjectLocation(std::string_view uri) {
  EDDY_ASSIGN_OR_RETURN(S3Location location, ParseS3Uri(uri));
  if (location.key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("S3 URI '", Av(uri), "' names a bucket, not an object"));
  }
  return location;
}

/// The key prefix that List() and DeleteRecursive() look under: "dir/" for "dir".
std::string DirectoryPrefix(std::string key) {
  if (!key.empty() && key.back() != '/') key.push_back('/');
  return key;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// S3FileSystem

S3FileSystem::S3FileSystem(S3Options options)
    : options_(options), client_(std::make_shared<Client>(std::move(options))) {}

S3FileSystem::~S3FileSystem() = default;

absl::StatusOr<std::string> S3FileSystem::Read(std::string_view uri, uint64_t offset,
                                               uint64_t length) {
  EDDY_ASSIGN_OR_RETURN(S3Location at, ObjectLocation(uri));
  if (length == 0) {
    EDDY_RETURN_IF_ERROR(client_->HeadObject(at.bucket, at.key).status());
    return std::string();
  }
  return client_->GetObject(at.bucket, at.key, offset, length);
}

absl::StatusOr<FileStatus> S3FileSystem::Stat(std::string_view uri) {
  EDDY_ASSIGN_OR_RETURN(S3Location at, ObjectLocation(uri));
  EDDY_ASSIGN_OR_RETURN(uint64_t size, client_->HeadObject(at.bucket, at.key));
  return FileStatus{std::string(uri), size};
}

absl::StatusOr<std::vector<FileStatus>> S3FileSystem::List(std::string_view prefix_uri) {
  EDDY_ASSIGN_OR_RETURN(S3Location at, ParseS3Uri(prefix_uri));
  EDDY_ASSIGN_OR_RETURN(auto objects, client_->ListObjects(at.bucket, DirectoryPrefix(at.key)));
  std::vector<FileStatus> out;
  out.reserve(objects.size());
  for (auto& [key, size] : objects) out.push_back(FileStatus{S3Uri(at.bucket, key), size});
  std::sort(out.begin(), out.end(),
            [](const FileStatus& a, const FileStatus& b) { return a.uri < b.uri; });
  return out;
}

absl::Status S3FileSystem::WriteAtomically(std::string_view uri, std::string_view bytes) {
  EDDY_ASSIGN_OR_RETURN(S3Location at, ObjectLocation(uri));
  if (bytes.size() <= options_.part_size) return client_->PutObject(at.bucket, at.key, bytes);
  S3WriteStream stream(PartUploader(client_, std::string(uri), std::move(at)));
  EDDY_RETURN_IF_ERROR(stream.Write(bytes));
  return stream.Close();
}

absl::StatusOr<std::unique_ptr<WriteStream>> S3FileSystem::Create(std::string_view uri) {
  EDDY_ASSIGN_OR_RETURN(S3Location at, ObjectLocation(uri));
  return std::unique_ptr<WriteStream>(
      std::make_unique<S3WriteStream>(PartUploader(client_, std::string(uri), std::move(at))));
}

absl::StatusOr<std::unique_ptr<CommitStream>> S3FileSystem::CreateForCommit(std::string_view uri) {
  EDDY_ASSIGN_OR_RETURN(S3Location at, ObjectLocation(uri));
  auto stream =
      std::make_unique<S3CommitStream>(PartUploader(client_, std::string(uri), std::move(at)));
  EDDY_RETURN_IF_ERROR(stream->Start());  // a missing bucket shows now, not at the checkpoint
  return std::unique_ptr<CommitStream>(std::move(stream));
}

absl::Status S3FileSystem::Commit(const CommitHandle& handle) {
  EDDY_ASSIGN_OR_RETURN(S3Location at, ObjectLocation(handle.target));
  if (handle.staged.empty() || handle.parts.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot commit ", handle.target, ": the handle has no upload id or no parts"));
  }
  absl::Status status =
      client_->CompleteMultipartUpload(at.bucket, at.key, handle.staged, handle.parts);
  if (!absl::IsNotFound(status)) return status;
  // S3 does not know the upload: committed before (then the object exists), or aborted.
  absl::StatusOr<uint64_t> size = client_->HeadObject(at.bucket, at.key);
  if (size.ok()) return absl::OkStatus();
  if (!absl::IsNotFound(size.status())) return size.status();
  return absl::NotFoundError(absl::StrCat("cannot commit ", handle.target, ": S3 knows no upload ",
                                          handle.staged, " and the object does not exist (",
                                          status.message(), ")"));
}

absl::Status S3FileSystem::AbortCommit(const CommitHandle& handle) {
  EDDY_ASSIGN_OR_RETURN(S3Location at, ObjectLocation(handle.target));
  if (handle.staged.empty()) return absl::OkStatus();
  return client_->AbortMultipartUpload(at.bucket, at.key, handle.staged);
}

absl::Status S3FileSystem::Delete(std::string_view uri) {
  EDDY_ASSIGN_OR_RETURN(S3Location at, ObjectLocation(uri));
  return client_->DeleteObject(at.bucket, at.key);
}

absl::Status S3FileSystem::DeleteRecursive(std::string_view prefix_uri) {
  EDDY_ASSIGN_OR_RETURN(S3Location at, ParseS3Uri(prefix_uri));
  const std::string prefix = DirectoryPrefix(at.key);
  EDDY_ASSIGN_OR_RETURN(auto objects, client_->ListObjects(at.bucket, prefix));
  std::vector<std::string> batch;
  for (size_t i = 0; i < objects.size(); ++i) {
    batch.push_back(std::move(objects[i].first));
    if (batch.size() == kDeleteBatch || i + 1 == objects.size()) {
      EDDY_RETURN_IF_ERROR(client_->DeleteObjects(at.bucket, batch, prefix));
      batch.clear();
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// Options and URIs

absl::StatusOr<S3Options> S3Options::FromConfig(const Config& config) {
  S3Options o;
  o.endpoint = config.GetString(opt::kS3Endpoint);
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  if (!o.endpoint.empty() && o.endpoint.rfind("http://", 0) != 0 &&
      o.endpoint.rfind("https://", 0) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(opt::kS3Endpoint, " '", o.endpoint, "' must start with http:// or https://"));
  }
  o.region = config.GetString(opt::kS3Region);
  const auto env = AwsCredentialSources::ProcessEnv();
  if (o.region.empty()) o.region = env("AWS_REGION");
  if (o.region.empty()) o.region = env("AWS_DEFAULT_REGION");
  if (o.region.empty()) o.region = "us-east-1";
  if (o.region.size() > 64 || !std::all_of(o.region.begin(), o.region.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-';
      })) {
    return absl::InvalidArgumentError(
        absl::StrCat("S3 region '", o.region, "' (", opt::kS3Region,
                     " or the environment) is not a region name such as us-east-1"));
  }
  o.path_style = config.GetBool(opt::kS3PathStyleAccess) || !o.endpoint.empty();

  AwsCredentialSources sources;
  sources.env = env;
  sources.config_access_key = config.GetString(opt::kS3AccessKey);
  sources.config_secret_key = config.GetString(opt::kS3SecretKey);
  sources.region = o.region;
  absl::StatusOr<std::shared_ptr<AwsCredentialsProvider>> chain =
      AwsCredentialsProvider::DefaultChain(std::move(sources));
  if (!chain.ok()) return chain.status();
  o.credentials = *std::move(chain);

  const int64_t part_size = config.GetMemorySize(opt::kS3UploadMinPartSize);
  if (part_size < static_cast<int64_t>(kMinPartSize) ||
      part_size > static_cast<int64_t>(kMaxPartSize)) {
    return absl::InvalidArgumentError(absl::StrCat(opt::kS3UploadMinPartSize, " is ", part_size,
                                                   " bytes; S3 takes parts of 5mb to 5gb"));
  }
  o.part_size = static_cast<uint64_t>(part_size);
  o.max_retries = static_cast<int>(config.GetInt(opt::kS3MaxRetries));
  return o;
}

absl::StatusOr<S3Location> ParseS3Uri(std::string_view uri) {
  constexpr std::string_view kScheme = "s3://";
  if (uri.substr(0, kScheme.size()) != kScheme) {
    return absl::InvalidArgumentError(absl::StrCat("'", Av(uri), "' is not an s3:// URI"));
  }
  const std::string_view rest = uri.substr(kScheme.size());
  const size_t slash = rest.find('/');
  S3Location location;
  location.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) location.key = std::string(rest.substr(slash + 1));
  if (location.bucket.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("S3 URI '", Av(uri), "' names no bucket"));
  }
  const bool valid_bucket = std::all_of(location.bucket.begin(), location.bucket.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
  if (!valid_bucket) {
    return absl::InvalidArgumentError(
        absl::StrCat("S3 URI '", Av(uri), "': '", location.bucket, "' is not a bucket name"));
  }
  return location;
}

// ---------------------------------------------------------------------------------------
// internal

namespace internal {

absl::StatusOr<S3HttpResponse> SendS3Request(const S3Options& options,
                                             const S3HttpRequest& request) {
  InitCurlOnce();
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  absl::StatusOr<S3HttpResponse> response = Perform(curl, options, request);
  curl_easy_cleanup(curl);
  return response;
}

std::string S3UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (c == '/' && keep_slash)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::vector<std::string> XmlElementTexts(std::string_view xml, std::string_view tag) {
  std::vector<std::string> out;
  for (std::string_view raw : XmlElements(xml, tag)) out.push_back(XmlUnescape(raw));
  return out;
}

}  // namespace internal
}  // namespace eddy::fs
