// The AWS credential chain against local fakes of the services EC2 and EKS hand credentials
// out from: IMDSv2, STS AssumeRoleWithWebIdentity and a container credentials endpoint, plus
// a shared credentials file. The chain reads an injected environment, never the process's.
#include "common/fs/aws_credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tests/support/fake_http_server.h"
#include "tests/support/process.h"

namespace eddy::fs {
namespace {

using ::testing::HasSubstr;
using testing::FakeHttpServer;
using namespace std::chrono_literals;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

std::string Iso(std::chrono::system_clock::time_point t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromChrono(t), absl::UTCTimeZone());
}

// Plays IMDSv2: a session token from PUT /latest/api/token, required on every GET; one
// role; its credentials expire `lifetime` after each fetch, with a new key each time.
class FakeImds {
 public:
  explicit FakeImds(std::chrono::seconds lifetime = 6h)
      : lifetime_(lifetime), server_([this](const FakeHttpServer::Request& r) { return Answer(r); }) {}

  std::string Url() const { return server_.Url(); }
  int credential_fetches() const { return fetches_; }
  void Fail(bool fail) { fail_ = fail; }
  std::vector<FakeHttpServer::Request> requests() { return server_.requests(); }

 private:
  FakeHttpServer::Response Answer(const FakeHttpServer::Request& r) {
    if (fail_) return {500, "unavailable"};
    if (r.method == "PUT" && r.target == "/latest/api/token") {
      if (!r.headers.count("x-aws-ec2-metadata-token-ttl-seconds")) return {400, "no ttl"};
      return {200, "imds-session-token"};
    }
    auto token = r.headers.find("x-aws-ec2-metadata-token");
    if (token == r.headers.end() || token->second != "imds-session-token") {
      return {401, "IMDSv2 wants a token"};
    }
    if (r.target == "/latest/meta-data/iam/security-credentials/") return {200, "eddy-node\n"};
    if (r.target == "/latest/meta-data/iam/security-credentials/eddy-node") {
      const int n = ++fetches_;
      return {200, absl::StrCat(R"({"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDS)", n,
                                R"(","SecretAccessKey":"imds-secret","Token":"imds-token","Expiration":")",
                                Iso(std::chrono::system_clock::now() + lifetime_), R"("})")};
    }
    return {404, "not found"};
  }

  const std::chrono::seconds lifetime_;
  std::atomic<int> fetches_{0};
  std::atomic<bool> fail_{false};
  FakeHttpServer server_;
};

class AwsCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTestDir("aws-credentials");
    // Nothing of the machine's own: no home directory file, no instance metadata.
    env_ = {{"HOME", dir_ + "/home"}, {"AWS_EC2_METADATA_DISABLED", "true"}};
  }
  void TearDown() override { testing::RemoveTestDir(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
    return path;
  }

  AwsCredentialSources Sources() {
    AwsCredentialSources s;
    s.env = [this](const char* name) {
      auto it = env_.find(name);
      return it == env_.end() ? std::string() : it->second;
    };
    s.http_timeout = 5s;
    return s;
  }

  absl::StatusOr<AwsCredentials> GetOnce(AwsCredentialSources s) {
    auto chain = AwsCredentialsProvider::DefaultChain(std::move(s));
    if (!chain.ok()) return chain.status();
    return (*chain)->Get();
  }

  std::string dir_;
  std::map<std::string, std::string> env_;
};

// STS: checks the call and answers with temporary credentials.
FakeHttpServer::Response AnswerSts(const FakeHttpServer::Request& r) {
  if (r.method != "GET" || !absl::StrContains(r.target, "Action=AssumeRoleWithWebIdentity") ||
      !absl::StrContains(r.target, "RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Feddy-s3") ||
      !absl::StrContains(r.target, "WebIdentityToken=eyJ.projected.token")) {
    return {400, "<ErrorResponse><Error><Code>InvalidParameter</Code></Error></ErrorResponse>"};
  }
  return {200, absl::StrCat(
                   "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
                   "<Credentials><AccessKeyId>ASIASTS</AccessKeyId>"
                   "<SecretAccessKey>sts-secret</SecretAccessKey>"
                   "<SessionToken>sts-token</SessionToken><Expiration>",
                   Iso(std::chrono::system_clock::now() + 1h),
                   "</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
                   "</AssumeRoleWithWebIdentityResponse>")};
}

FakeHttpServer::Response AnswerContainer(const FakeHttpServer::Request& r) {
  auto auth = r.headers.find("authorization");
  if (auth == r.headers.end() || auth->second != "pod-identity-token") return {401, "{}"};
  return {200, absl::StrCat(R"({"AccessKeyId":"ASIACONTAINER","SecretAccessKey":"c-secret",)",
                            R"("Token":"c-token","Expiration":")",
                            Iso(std::chrono::system_clock::now() + 1h), R"("})")};
}

TEST_F(AwsCredentialsTest, ProvidersAreTriedInTheAwsSdkOrder) {
  FakeImds imds;
  FakeHttpServer sts(AnswerSts);
  FakeHttpServer container(AnswerContainer);
  // Every provider configured at once; each step removes the one that won.
  env_["AWS_EC2_METADATA_DISABLED"] = "";
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds.Url();
  env_["AWS_SHARED_CREDENTIALS_FILE"] =
      Write("credentials", "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = f\n");
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = container.Url() + "/v1/credentials";
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = Write("pod-token", "pod-identity-token\n");
  env_["AWS_ROLE_ARN"] = "arn:aws:iam::111122223333:role/eddy-s3";
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = Write("web-token", "eyJ.projected.token\n");
  env_["AWS_ENDPOINT_URL_STS"] = sts.Url();
  env_["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "env-secret";
  AwsCredentialSources with_config = Sources();
  with_config.config_access_key = "AKIACONFIG";
  with_config.config_secret_key = "config-secret";

  struct Step {
    std::string key;
    std::string provider;
    std::function<void()> remove;
  };
  std::vector<Step> steps = {
      {"AKIACONFIG", "config keys", [&] { with_config.config_access_key.clear();
                                          with_config.config_secret_key.clear(); }},
      {"AKIAENV", "environment", [&] { env_.erase("AWS_ACCESS_KEY_ID");
                                       env_.erase("AWS_SECRET_ACCESS_KEY"); }},
      {"ASIASTS", "web identity", [&] { env_.erase("AWS_ROLE_ARN"); }},
      {"ASIACONTAINER", "container credentials",
       [&] { env_.erase("AWS_CONTAINER_CREDENTIALS_FULL_URI"); }},
      {"AKIAFILE", "shared credentials file", [&] { env_.erase("AWS_SHARED_CREDENTIALS_FILE"); }},
      {"ASIAIMDS1", "EC2 instance profile eddy-node", [&] { env_["AWS_EC2_METADATA_DISABLED"] = "true"; }},
  };
  for (const Step& step : steps) {
    AwsCredentialSources s = with_config;
    s.env = Sources().env;
    absl::StatusOr<AwsCredentials> got = GetOnce(s);
    ASSERT_TRUE(got.ok()) << step.provider << ": " << got.status();
    EXPECT_EQ(got->access_key, step.key) << "expected " << step.provider << ", got " << got->provider;
    EXPECT_THAT(got->provider, HasSubstr(step.provider));
    step.remove();
  }
  // With all removed: an error naming every provider in order, with what each found.
  AwsCredentialSources s = with_config;
  s.env = Sources().env;
  absl::StatusOr<AwsCredentials> none = GetOnce(s);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
  const std::string m = Message(none.status());
  size_t at = 0;
  for (const char* expected :
       {"config keys (s3.access-key, s3.secret-key): not set",
        "environment (AWS_ACCESS_KEY_ID): AWS_ACCESS_KEY_ID is not set",
        "web identity (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE): AWS_ROLE_ARN is not set",
        "container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI): AWS_CONTAINER_CREDENTIALS_FULL_URI and _RELATIVE_URI are not set",
        "shared credentials file: " , "/home/.aws/credentials does not exist",
        "EC2 instance metadata (IMDSv2): AWS_EC2_METADATA_DISABLED is true"}) {
    const size_t found = m.find(expected, at);
    ASSERT_NE(found, std::string::npos) << "'" << expected << "' missing or out of order in: " << m;
    at = found;
  }
}

TEST_F(AwsCredentialsTest, InstanceMetadataUsesTheImdsV2TokenFlow) {
  FakeImds imds;
  env_["AWS_EC2_METADATA_DISABLED"] = "";
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds.Url() + "/";
  absl::StatusOr<AwsCredentials> got = GetOnce(Sources());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->access_key, "ASIAIMDS1");
  EXPECT_EQ(got->secret_key, "imds-secret");
  EXPECT_EQ(got->session_token, "imds-token");
  ASSERT_TRUE(got->expiration.has_value());
  EXPECT_GT(*got->expiration, std::chrono::system_clock::now() + 5h);
  const auto requests = imds.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].method, "PUT");
  EXPECT_EQ(requests[0].headers.at("x-aws-ec2-metadata-token-ttl-seconds"), "21600");
  for (size_t i = 1; i < requests.size(); ++i) {
    EXPECT_EQ(requests[i].method, "GET");
    EXPECT_EQ(requests[i].headers.at("x-aws-ec2-metadata-token"), "imds-session-token");
  }
  // An instance metadata service that fails is named with its answer.
  imds.Fail(true);
  absl::StatusOr<AwsCredentials> failed = GetOnce(Sources());
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(Message(failed.status()), HasSubstr("IMDSv2 token request to " + imds.Url()));
  EXPECT_THAT(Message(failed.status()), HasSubstr("answered 500"));
}

TEST_F(AwsCredentialsTest, WebIdentityAssumesTheRoleWithTheProjectedToken) {
  FakeHttpServer sts(AnswerSts);
  env_["AWS_ROLE_ARN"] = "arn:aws:iam::111122223333:role/eddy-s3";
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = Write("web-token", "eyJ.projected.token\n");
  env_["AWS_ENDPOINT_URL_STS"] = sts.Url();
  absl::StatusOr<AwsCredentials> got = GetOnce(Sources());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->access_key, "ASIASTS");
  EXPECT_EQ(got->secret_key, "sts-secret");
  EXPECT_EQ(got->session_token, "sts-token");
  EXPECT_TRUE(got->expiration.has_value());
  EXPECT_THAT(sts.requests().at(0).target, HasSubstr("RoleSessionName=eddy-"));
  // A token STS refuses: the error says STS answered 400 and falls through the chain.
  Write("web-token", "a-wrong-token");
  absl::StatusOr<AwsCredentials> refused = GetOnce(Sources());
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(Message(refused.status()), HasSubstr("STS " + sts.Url()));
  EXPECT_THAT(Message(refused.status()), HasSubstr("answered 400"));
  // A missing token file is named.
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = dir_ + "/no-such-token";
  EXPECT_THAT(Message(GetOnce(Sources()).status()), HasSubstr(dir_ + "/no-such-token"));
}

TEST_F(AwsCredentialsTest, ContainerCredentialsSendTheAuthorizationToken) {
  FakeHttpServer container(AnswerContainer);
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = container.Url() + "/v1/credentials";
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = Write("pod-token", "pod-identity-token\n");
  absl::StatusOr<AwsCredentials> got = GetOnce(Sources());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->access_key, "ASIACONTAINER");
  EXPECT_EQ(got->session_token, "c-token");
  EXPECT_EQ(container.requests().at(0).target, "/v1/credentials");
  // The token must not go to an arbitrary plain-HTTP host.
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://192.0.2.1/creds";
  absl::StatusOr<AwsCredentials> refused = GetOnce(Sources());
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(Message(refused.status()), HasSubstr("must be https, or http to a loopback"));
}

TEST_F(AwsCredentialsTest, SharedFileReadsTheProfile) {
  env_["AWS_SHARED_CREDENTIALS_FILE"] = Write(
      "credentials",
      "# keys\n[default]\naws_access_key_id=AKIADEFAULT\naws_secret_access_key=d\n\n"
      "[dev]\n aws_access_key_id = AKIADEV \naws_secret_access_key = dev-secret\n"
      "aws_session_token = dev-token\n");
  absl::StatusOr<AwsCredentials> got = GetOnce(Sources());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->access_key, "AKIADEFAULT");
  env_["AWS_PROFILE"] = "dev";
  got = GetOnce(Sources());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->access_key, "AKIADEV");
  EXPECT_EQ(got->secret_key, "dev-secret");
  EXPECT_EQ(got->session_token, "dev-token");
  EXPECT_THAT(got->provider, HasSubstr("[dev]"));
  env_["AWS_PROFILE"] = "prod";
  EXPECT_THAT(Message(GetOnce(Sources()).status()), HasSubstr("no profile [prod]"));
  // ~/.aws/credentials when no file is named.
  env_.erase("AWS_SHARED_CREDENTIALS_FILE");
  env_.erase("AWS_PROFILE");
  Write("home/.aws/credentials", "[default]\naws_access_key_id=AKIAHOME\naws_secret_access_key=h\n");
  got = GetOnce(Sources());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->access_key, "AKIAHOME");
}

TEST_F(AwsCredentialsTest, TemporaryCredentialsAreRefreshedBeforeTheyExpire) {
  FakeImds imds(/*lifetime=*/4s);
  env_["AWS_EC2_METADATA_DISABLED"] = "";
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = imds.Url();
  AwsCredentialSources s = Sources();
  s.refresh_margin = 2s;  // due 2 s after each fetch
  auto chain = AwsCredentialsProvider::DefaultChain(s);
  ASSERT_TRUE(chain.ok()) << chain.status();
  absl::StatusOr<AwsCredentials> first = (*chain)->Get();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->access_key, "ASIAIMDS1");
  // Cached while not due: no new fetch.
  EXPECT_EQ((*chain)->Get()->access_key, "ASIAIMDS1");
  EXPECT_EQ(imds.credential_fetches(), 1);
  // Once due, fetched again before they expire.
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        absl::StatusOr<AwsCredentials> got = (*chain)->Get();
        return got.ok() && got->access_key == "ASIAIMDS2";
      },
      10s));
  EXPECT_EQ(imds.credential_fetches(), 2);
  // A refresh that fails while the cached credentials still work keeps them...
  imds.Fail(true);
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        (void)(*chain)->Get();  // only to make it try
        return imds.requests().size() > 6;  // it tried again
      },
      10s, 100ms));
  absl::StatusOr<AwsCredentials> kept = (*chain)->Get();
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->access_key, "ASIAIMDS2");
  // ...until they expire: then the error names the provider and says why.
  ASSERT_TRUE(testing::WaitUntil([&] { return !(*chain)->Get().ok(); }, 10s, 100ms));
  const std::string m = Message((*chain)->Get().status());
  EXPECT_THAT(m, HasSubstr("the AWS credentials from EC2 instance profile eddy-node expired"));
  EXPECT_THAT(m, HasSubstr("answered 500"));
}

TEST_F(AwsCredentialsTest, CredentialsThatAreAlreadyExpiredAreRefused) {
  FakeHttpServer container([](const FakeHttpServer::Request&) -> FakeHttpServer::Response {
    return {200, R"({"AccessKeyId":"ASIAOLD","SecretAccessKey":"s","Token":"t",)"
                 R"("Expiration":"2020-01-01T00:00:00Z"})"};
  });
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = container.Url() + "/creds";
  absl::StatusOr<AwsCredentials> got = GetOnce(Sources());
  ASSERT_FALSE(got.ok()) << got->access_key;
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(Message(got.status()),
              HasSubstr("container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI): its "
                        "credentials expired at 2020-01-01"));
}

TEST_F(AwsCredentialsTest, HalfAKeyPairIsAnErrorNamingIt) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIA";
  EXPECT_THAT(Message(GetOnce(Sources()).status()),
              HasSubstr("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"));
  env_.erase("AWS_ACCESS_KEY_ID");
  AwsCredentialSources s = Sources();
  s.config_secret_key = "x";
  EXPECT_THAT(Message(GetOnce(s).status()), HasSubstr("s3.secret-key is set but s3.access-key is not"));
}

TEST(AwsTimeTest, ParsesTheTimesStsAndImdsWrite) {
  auto t = internal::ParseAwsTime("2026-12-01T05:00:00Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromChrono(*t), absl::UTCTimeZone()),
            "2026-12-01 05:00:00");
  EXPECT_TRUE(internal::ParseAwsTime("2026-12-01T05:00:00.123+00:00").has_value());
  EXPECT_FALSE(internal::ParseAwsTime("tomorrow").has_value());
  EXPECT_FALSE(internal::ParseAwsTime("").has_value());
}

}  // namespace
}  // namespace eddy::fs
