#include "tests/support/s3rver.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/http_client.h"

namespace eddy::testing {
namespace {

std::string ScriptPath(const std::string& name) {
  return std::string(EDDY_SOURCE_DIR) + "/tests/support/" + name;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string FindNode() {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "", ':')) {
    if (dir.empty()) continue;
    const std::string candidate = absl::StrCat(dir, "/node");
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

S3rver::S3rver(std::string directory, std::vector<std::string> buckets)
    : directory_(std::move(directory)), buckets_(std::move(buckets)), port_(PickFreePort()) {
  std::filesystem::create_directories(directory_);
  Start();
}

S3rver::~S3rver() { Stop(); }

bool S3rver::Start(std::chrono::milliseconds timeout) {
  const std::string node = FindNode();
  if (node.empty()) {
    ADD_FAILURE() << "node is not on PATH; deploy/install-deps.sh installs the test tools";
    return false;
  }
  if (!std::filesystem::exists(std::string(EDDY_SOURCE_DIR) +
                               "/deploy/npm/node_modules/s3rver/package.json")) {
    ADD_FAILURE() << "s3rver is not installed in deploy/npm; run deploy/install-deps.sh";
    return false;
  }
  std::vector<std::string> args = {"--openssl-legacy-provider",
                                   ScriptPath("s3rver.mjs"),
                                   "--port",
                                   std::to_string(port_),
                                   "--directory",
                                   directory_};
  for (const std::string& bucket : buckets_) {
    args.push_back("--bucket");
    args.push_back(bucket);
  }
  process_ = ChildProcess(node, args, directory_ + ".log");
  // It answers GET / (ListBuckets, unsigned) once it serves requests.
  const bool up = WaitUntil(
      [this] {
        if (!process_.running()) return false;
        absl::StatusOr<HttpResponse> response =
            HttpRequest("GET", endpoint() + "/", "", "", std::chrono::seconds(2));
        return response.ok() && response->status == 200;
      },
      timeout, std::chrono::milliseconds(50));
  if (!up) ADD_FAILURE() << "s3rver did not answer on " << endpoint() << "; log:\n" << Log();
  return up;
}

void S3rver::Stop() { process_.Kill9(); }

std::string S3rver::endpoint() const { return absl::StrCat("http://127.0.0.1:", port_); }

Config S3rver::MakeConfig() const {
  Config config;
  EXPECT_TRUE(config.Set(opt::kS3Endpoint, endpoint()).ok());
  EXPECT_TRUE(config.Set(opt::kS3PathStyleAccess, "true").ok());
  EXPECT_TRUE(config.Set(opt::kS3AccessKey, kAccessKey).ok());
  EXPECT_TRUE(config.Set(opt::kS3SecretKey, kSecretKey).ok());
  return config;
}

absl::StatusOr<std::string> S3rver::Client(const std::vector<std::string>& args) const {
  std::string command =
      absl::StrCat("timeout 120 ", ShellQuote(FindNode()), " ",
                   ShellQuote(ScriptPath("s3_client.mjs")), " --endpoint ", ShellQuote(endpoint()));
  for (const std::string& arg : args) absl::StrAppend(&command, " ", ShellQuote(arg));
  const std::string out = absl::StrCat(directory_, ".client.out");
  const std::string err = absl::StrCat(directory_, ".client.err");
  absl::StrAppend(&command, " > ", ShellQuote(out), " 2> ", ShellQuote(err));
  const int status = std::system(command.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat("s3_client.mjs failed (status ", status, "): ", ReadFile(err)));
  }
  return ReadFile(out);
}

absl::StatusOr<std::vector<std::string>> S3rver::ReadLines(const std::string& bucket,
                                                          const std::string& prefix) const {
  absl::StatusOr<std::string> keys = Client({"list", bucket, prefix});
  if (!keys.ok()) return keys.status();
  std::vector<std::string> lines;
  std::istringstream listing(*keys);
  for (std::string line; std::getline(listing, line);) {
    const std::string key = line.substr(0, line.find(' '));  // "key size"
    absl::StatusOr<std::string> body = Client({"get", bucket, key});
    if (!body.ok()) return body.status();
    std::istringstream rows(*body);
    for (std::string row; std::getline(rows, row);) lines.push_back(row);
  }
  return lines;
}

}  // namespace eddy::testing
