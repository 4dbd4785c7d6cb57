// End-to-end tests of internal TLS (security.ssl.internal.*): certificates made by
// deploy/make-cluster-certs.sh, a JobManager and two TaskManagers speaking mutual TLS on
// every control and data connection, and an independent TLS client (openssl s_client) that
// tries the ports without a certificate and with one from another CA; and HTTPS on REST
// (security.ssl.rest.*), verified by the CLI and by curl.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/cluster.h"
#include "tests/support/process.h"
#include "tests/support/word_count.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::TestCluster;
using testing::WaitUntil;
using namespace std::chrono_literals;

using testing::MakeClusterCerts;

std::vector<std::string> TlsSettings(const std::string& certs) {
  return {"security.ssl.internal.enabled=true",
          "security.ssl.internal.cert=" + certs + "/member.pem",
          "security.ssl.internal.key=" + certs + "/member-key.pem",
          "security.ssl.internal.trust-cert=" + certs + "/ca.pem"};
}

/// What `openssl s_client` gets from 127.0.0.1:port, presenting `cert_args` (may be empty).
/// It sends a line and waits for the server's answer or close.
std::pair<int, std::string> TryHandshake(const std::string& dir, uint16_t port,
                                         const std::string& ca, const std::string& cert_args) {
  return testing::RunShell(dir, "printf 'hello\\n' | timeout 20 openssl s_client -connect 127.0.0.1:" +
                        std::to_string(port) + " -CAfile " + ca + " " + cert_args +
                        " -ign_eof 2>&1");
}

using TlsTest = testing::ClusterTestBase;

TEST_F(TlsTest, ClusterWorksOverMutualTlsAndRefusesClientsWithoutACertificate) {
  const std::string certs = MakeClusterCerts(dir_ + "/certs");
  const std::string other = MakeClusterCerts(dir_ + "/other-ca");
  TestCluster cluster(dir_, TlsSettings(certs));
  cluster.StartJobManager();
  const uint16_t tm_rpc = testing::PickFreePort();
  cluster.StartTaskManager(2, {"taskmanager.rpc.port=" + std::to_string(tm_rpc)});
  cluster.StartTaskManager(2);
  ASSERT_TRUE(cluster.WaitForTaskManagers(2)) << cluster.Logs();

  // word_count across both TaskManagers, its shuffle over TLS, matches a plain loop.
  const std::string input = testing::WriteWords(dir_, 2 << 20);
  const std::string output = dir_ + "/out";
  auto [code, out] = cluster.RunCli({"run", Example("word_count"), "-p", "4", "--wait", "--",
                                     "--input", input, "--output", output});
  ASSERT_EQ(code, 0) << out << cluster.Logs();
  EXPECT_TRUE(testing::ReadCounts(output) == testing::CountWords(input))
      << "word counts differ from the reference";
  auto tms = cluster.Get("/taskmanagers");
  uint64_t sent = 0;
  for (const auto& tm : tms["taskmanagers"]) sent += tm["metrics"]["netBytesSentRemote"].get<uint64_t>();
  EXPECT_GT(sent, 10000u) << "no record crossed a TaskManager-to-TaskManager connection";
  const uint16_t data_port = tms["taskmanagers"][0]["dataPort"].get<uint16_t>();

  const std::string ca = certs + "/ca.pem";
  const std::string member = "-cert " + certs + "/member.pem -key " + certs + "/member-key.pem";
  const std::string stranger = "-cert " + other + "/member.pem -key " + other + "/member-key.pem";
  for (const auto& [name, port] : {std::pair<std::string, uint16_t>{"JobManager RPC", cluster.rpc_port()},
                                   {"TaskManager RPC", tm_rpc},
                                   {"TaskManager data", data_port}}) {
    // A cluster member completes the handshake (the checks below can fail).
    auto [ok_code, ok_out] = TryHandshake(dir_, port, ca, member);
    EXPECT_THAT(ok_out, HasSubstr("Verify return code: 0 (ok)")) << name;
    EXPECT_THAT(ok_out, Not(HasSubstr("alert"))) << name;
    // No client certificate: the server ends the handshake with an alert.
    auto [none_code, none_out] = TryHandshake(dir_, port, ca, "");
    EXPECT_THAT(none_out, HasSubstr("alert")) << name << ": " << none_out;
    EXPECT_THAT(none_out, HasSubstr("certificate required")) << name << ": " << none_out;
    // A certificate of another CA: refused as unknown.
    auto [wrong_code, wrong_out] = TryHandshake(dir_, port, ca, stranger);
    EXPECT_THAT(wrong_out, HasSubstr("alert")) << name << ": " << wrong_out;
    EXPECT_THAT(wrong_out, HasSubstr("unknown ca")) << name << ": " << wrong_out;
  }
  EXPECT_THAT(cluster.jobmanager().Log(), HasSubstr("TLS handshake"));
  EXPECT_THAT(cluster.taskmanager(0).Log(), HasSubstr("TLS handshake"));
}

TEST_F(TlsTest, APeerWithoutTlsOrWithAnotherCaCannotJoin) {
  const std::string certs = MakeClusterCerts(dir_ + "/certs");
  const std::string other = MakeClusterCerts(dir_ + "/other-ca");
  TestCluster cluster(dir_, TlsSettings(certs));
  cluster.StartJobManager();
  // A TaskManager of another CA, and one without TLS, never register.
  auto foreign = TlsSettings(other);
  cluster.StartTaskManager(2, foreign);
  cluster.StartTaskManager(2, {"security.ssl.internal.enabled=false"});
  EXPECT_FALSE(cluster.WaitForTaskManagers(1, 5s)) << cluster.Logs();
  EXPECT_THAT(cluster.taskmanager(0).Log(), HasSubstr("TLS handshake"));
  // A member does.
  cluster.StartTaskManager(2);
  EXPECT_TRUE(cluster.WaitForTaskManagers(1)) << cluster.Logs();
}

TEST_F(TlsTest, BadCertificateFilesStopTheProcessWithAMessageNamingThem) {
  const std::string certs = MakeClusterCerts(dir_ + "/certs");
  auto settings = TlsSettings(certs);
  settings[2] = "security.ssl.internal.key=" + certs + "/ca-key.pem";  // not the cert's key
  testing::ChildProcess jm("eddy-jobmanager",
                           {"--set", settings[0], "--set", settings[1], "--set", settings[2],
                            "--set", settings[3], "--set", "rest.port=0", "--set",
                            "jobmanager.rpc.port=" + std::to_string(testing::PickFreePort())},
                           dir_ + "/jm.log");
  ASSERT_TRUE(WaitUntil([&] { return !jm.running(); }, 20s));
  EXPECT_THAT(jm.Log(), HasSubstr(certs + "/ca-key.pem")) << "the message names the bad key file";
  testing::ChildProcess tm("eddy-taskmanager",
                           {"--set", settings[0], "--set", settings[1], "--set",
                            "security.ssl.internal.key=/nonexistent/key.pem", "--set", settings[3]},
                           dir_ + "/tm.log");
  ASSERT_TRUE(WaitUntil([&] { return !tm.running(); }, 20s));
  EXPECT_THAT(tm.Log(), HasSubstr("/nonexistent/key.pem"));
}


TEST_F(TlsTest, RestServesHttpsThatTheCliAndCurlVerify) {
  const std::string certs = MakeClusterCerts(dir_ + "/certs");
  const std::string other = MakeClusterCerts(dir_ + "/other-ca");
  const std::string token = "submitter-token-0123456789abcdef";
  {
    std::ofstream tokens(dir_ + "/tokens");
    tokens << token << " submitter alice\n";
  }
  auto settings = TlsSettings(certs);
  settings.insert(settings.end(), {"security.ssl.rest.enabled=true",
                                   "security.ssl.rest.cert=" + certs + "/rest.pem",
                                   "security.ssl.rest.key=" + certs + "/rest-key.pem",
                                   "rest.auth.tokens-file=" + dir_ + "/tokens"});
  TestCluster cluster(dir_, settings);
  const std::string ca = certs + "/ca.pem";
  cluster.UseHttps(ca);
  cluster.SetToken(token);
  ASSERT_TRUE(cluster.Start(2)) << cluster.Logs();
  EXPECT_THAT(cluster.jobmanager().Log(), HasSubstr("REST on https://"));

  // The CLI verifies the JobManager with --ca-cert and runs word_count to a correct result.
  const std::string input = testing::WriteWords(dir_, 1 << 20);
  const std::string output = dir_ + "/out";
  auto [code, out] = cluster.RunCli({"run", "--ca-cert", ca, "--token", token,
                                     Example("word_count"), "-p", "2", "--wait", "--", "--input",
                                     input, "--output", output});
  ASSERT_EQ(code, 0) << out << cluster.Logs();
  EXPECT_TRUE(testing::ReadCounts(output) == testing::CountWords(input))
      << "word counts differ from the reference";

  // Without the CA, or trusting another CA, the CLI refuses the server (exit 3, unreachable)
  // before it sends the token.
  for (const std::vector<std::string>& trust :
       {std::vector<std::string>{}, std::vector<std::string>{"--ca-cert", other + "/ca.pem"}}) {
    std::vector<std::string> args = {"list", "--token", token};
    args.insert(args.end(), trust.begin(), trust.end());
    auto [refused_code, refused_out] = cluster.RunCli(args);
    EXPECT_EQ(refused_code, 3) << refused_out;
    EXPECT_THAT(refused_out, HasSubstr("certificate verify failed"));
  }
  // EDDY_CA_CERT works as --ca-cert does, by host name too; plain http:// gets no answer.
  const std::string port = std::to_string(cluster.rest_port());
  const std::string eddy = testing::BinDir() + "/eddy";
  auto [env_code, env_out] =
      testing::RunShell(dir_, "EDDY_CA_CERT=" + ca + " EDDY_TOKEN=" + token + " " + eddy +
                      " list --jobmanager https://localhost:" + port);
  EXPECT_EQ(env_code, 0) << env_out;
  EXPECT_THAT(env_out, HasSubstr("FINISHED"));
  auto [plain_code, plain_out] = testing::RunShell(dir_, "EDDY_TOKEN=" + token + " " + eddy +
                                                 " list --jobmanager http://127.0.0.1:" + port);
  EXPECT_EQ(plain_code, 3) << plain_out;

  // An independent client: curl verifies the certificate with the CA and gets the overview;
  // without the CA it refuses the server.
  auto [curl_code, curl_out] =
      testing::RunShell(dir_, "curl -sS --max-time 20 --cacert " + ca + " -H 'Authorization: Bearer " + token +
                      "' https://127.0.0.1:" + port + "/overview");
  EXPECT_EQ(curl_code, 0) << curl_out;
  EXPECT_THAT(curl_out, HasSubstr("\"taskmanagers\":2"));
  auto [untrusted_code, untrusted_out] =
      testing::RunShell(dir_, "curl -sS --max-time 20 https://127.0.0.1:" + port + "/healthz");
  EXPECT_NE(untrusted_code, 0) << untrusted_out;
  // TLS 1.1 is refused.
  auto [old_code, old_out] = testing::RunShell(dir_, "timeout 20 openssl s_client -tls1_1 -connect 127.0.0.1:" +
                                             port + " </dev/null 2>&1");
  EXPECT_THAT(old_out, HasSubstr("alert protocol version")) << old_out;
}

}  // namespace
}  // namespace eddy
