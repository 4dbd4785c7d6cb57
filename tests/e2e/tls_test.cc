// End-to-end tests of internal TLS (security.ssl.internal.*): certificates made by
// deploy/make-cluster-certs.sh, a JobManager and two TaskManagers speaking mutual TLS on
// every control and data connection, and an independent TLS client (openssl s_client) that
// tries the ports without a certificate and with one from another CA.
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

/// Runs a shell command to its end; returns {exit code, output}.
std::pair<int, std::string> Shell(const std::string& dir, const std::string& command) {
  static int runs = 0;
  const std::string log = dir + "/shell-" + std::to_string(runs++) + ".out";
  testing::ChildProcess process("/bin/bash", {"-c", command}, log);
  if (!WaitUntil([&] { return !process.running(); }, 60s)) {
    process.Stop(SIGKILL);
    return {-1, process.Log()};
  }
  int status = process.Stop(SIGKILL);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, process.Log()};
}

std::string MakeCerts(const std::string& dir) {
  auto [code, out] = Shell(dir, std::string(EDDY_SOURCE_DIR) + "/deploy/make-cluster-certs.sh " + dir);
  EXPECT_EQ(code, 0) << out;
  return dir;
}

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
  return Shell(dir, "printf 'hello\\n' | timeout 20 openssl s_client -connect 127.0.0.1:" +
                        std::to_string(port) + " -CAfile " + ca + " " + cert_args +
                        " -ign_eof 2>&1");
}

using TlsTest = testing::ClusterTestBase;

TEST_F(TlsTest, ClusterWorksOverMutualTlsAndRefusesClientsWithoutACertificate) {
  const std::string certs = MakeCerts(dir_ + "/certs");
  const std::string other = MakeCerts(dir_ + "/other-ca");
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
  const std::string certs = MakeCerts(dir_ + "/certs");
  const std::string other = MakeCerts(dir_ + "/other-ca");
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
  const std::string certs = MakeCerts(dir_ + "/certs");
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

}  // namespace
}  // namespace eddy
