// End-to-end tests of what a stranger on the network can do to a cluster with TLS off (the
// local default), tried the way an attacker would: real JobManager and TaskManager
// processes, forged calls from this test process. Each is refused and logged, and a job
// that runs meanwhile is undisturbed.
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/http_client.h"
#include "common/ids.h"
#include "common/multipart.h"
#include "common/proto/rpc.pb.h"
#include "common/rpc/frame.h"
#include "common/rpc/rpc_client.h"
#include "common/secrets.h"
#include "common/sha256.h"
#include "tests/support/cluster.h"
#include "tests/support/process.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::TestCluster;
using testing::WaitUntil;
using namespace std::chrono_literals;

/// A client of the control RPC run by this test process: the stranger.
class Stranger {
 public:
  Stranger() : work_(io_.get_executor()), client_(io_, rpc::ConnectionOptions{}, "stranger") {
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Stranger() {
    client_.Close();
    work_.reset();
    io_.stop();
    thread_.join();
  }
  rpc::RpcClient& client() { return client_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  rpc::RpcClient client_;
  std::thread thread_;
};

/// True once the peer closed a raw TCP connection (read returns 0 or an error).
bool ClosedWithin(int fd, std::chrono::milliseconds limit) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(limit.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((limit.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buffer[4096];
  while (true) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}

int ConnectRaw(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class SecurityTest : public testing::ClusterTestBase {
 protected:
  /// A JobManager, one TaskManager with a known RPC port, and slow_sink_job running on it.
  void StartClusterWithAJob() {
    cluster_ = std::make_unique<TestCluster>(dir_);
    cluster_->StartJobManager();
    tm_rpc_port_ = testing::PickFreePort();
    cluster_->StartTaskManager(2, {"taskmanager.rpc.port=" + std::to_string(tm_rpc_port_),
                                   "taskmanager.resource-id=tm-0"});
    ASSERT_TRUE(cluster_->WaitForTaskManagers(1)) << cluster_->Logs();
    auto [code, out] = cluster_->RunCli({"run", TestJob("slow_sink_job"), "-p", "1"});
    ASSERT_EQ(code, 0) << out << cluster_->Logs();
    job_id_ = testing::JobIdFrom(out);
    ASSERT_TRUE(cluster_->WaitForJobState(job_id_, "RUNNING", 20s)) << cluster_->Logs();
  }

  /// Records the job's sink has read so far.
  uint64_t SinkRecords() {
    auto job = cluster_->Get("/jobs/" + job_id_);
    if (!job.is_object()) return 0;
    return job["vertices"].back()["metrics"]["read-records"].get<uint64_t>();
  }

  /// The job still runs and still makes progress after whatever was tried.
  void ExpectJobUndisturbed() {
    EXPECT_EQ(cluster_->JobState(job_id_), "RUNNING") << cluster_->Logs();
    const uint64_t before = SinkRecords();
    EXPECT_TRUE(WaitUntil([&] { return SinkRecords() > before + 100; }, 10s))
        << "the job stopped making progress\n" << cluster_->Logs();
    auto exceptions = cluster_->Get("/jobs/" + job_id_ + "/exceptions");
    EXPECT_THAT(exceptions.dump(), Not(HasSubstr("forged")));
  }

  std::unique_ptr<TestCluster> cluster_;
  uint16_t tm_rpc_port_ = 0;
  std::string job_id_;
};

TEST_F(SecurityTest, StrangersCannotCallATaskManager) {
  StartClusterWithAJob();
  Stranger stranger;
  // The handshake is refused before any call is read, without a credential or with a guess.
  for (const std::string& credential : {std::string(), RandomSecret()}) {
    absl::Status connected =
        stranger.client().Connect("127.0.0.1", tm_rpc_port_, 5s, credential);
    ASSERT_FALSE(connected.ok()) << "a stranger completed the handshake";
    EXPECT_EQ(connected.code(), absl::StatusCode::kPermissionDenied) << connected;
    EXPECT_THAT(std::string(connected.message()),
                HasSubstr("accepts calls only from the JobManager it registered with"));
  }
  // Calls sent without a handshake (SubmitTasks of a library from elsewhere, CancelJob of the
  // running job) close the connection unanswered.
  rpc::SubmitTasksRequest submit;
  submit.set_job_id(job_id_);
  submit.set_library_sha256(std::string(64, 'a'));
  rpc::JobRequest cancel;
  cancel.set_job_id(job_id_);
  cancel.set_attempt(100);
  for (const auto& [method, payload] :
       {std::pair<std::string, std::string>{"SubmitTasks", submit.SerializeAsString()},
        {"CancelJob", cancel.SerializeAsString()}}) {
    rpc::Envelope envelope;
    envelope.set_kind(rpc::Envelope::REQUEST);
    envelope.set_correlation_id(1);
    envelope.set_method(method);
    envelope.set_payload(payload);
    const std::string frame = rpc::EncodeFrame(envelope.SerializeAsString());
    int fd = ConnectRaw(tm_rpc_port_);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(frame.size()));
    EXPECT_TRUE(ClosedWithin(fd, 10s)) << method;
    ::close(fd);
  }
  ExpectJobUndisturbed();
  const std::string log = cluster_->taskmanager(0).Log();
  EXPECT_THAT(log, HasSubstr("refused a connection"));
  EXPECT_THAT(log, HasSubstr("presented no credential"));
  EXPECT_THAT(log, HasSubstr("presented a wrong credential"));
  EXPECT_THAT(log, HasSubstr("did not start with a handshake"));
  // Only the job's own deployment reached the runner.
  size_t deployments = 0;
  for (size_t at = log.find("deploying"); at != std::string::npos; at = log.find("deploying", at + 1)) {
    ++deployments;
  }
  EXPECT_EQ(deployments, 1u) << log;
}

TEST_F(SecurityTest, ForgedRegistrationsAndTaskReportsAreRefused) {
  StartClusterWithAJob();
  Stranger stranger;
  ASSERT_TRUE(stranger.client().Connect("127.0.0.1", cluster_->rpc_port(), 5s).ok());
  auto registration = [&](const std::string& id, uint32_t slots) {
    rpc::RegisterTaskManagerRequest request;
    request.set_resource_id(id);
    request.set_host("127.0.0.1");
    request.set_data_port(1);
    request.set_rpc_port(1);
    request.set_num_slots(slots);
    request.set_rpc_credential(RandomSecret());
    return stranger.client().Call<rpc::RegisterTaskManagerResponse>("RegisterTaskManager",
                                                                    request, 5s);
  };
  auto newline = registration("evil\neddy_taskmanagers 1000", 1);
  EXPECT_EQ(newline.status().code(), absl::StatusCode::kInvalidArgument) << newline.status();
  auto slots = registration("evil-slots", 4000000000u);
  EXPECT_EQ(slots.status().code(), absl::StatusCode::kInvalidArgument) << slots.status();
  EXPECT_THAT(std::string(slots.status().message()), HasSubstr("4000000000"));
  auto takeover = registration("tm-0", 1000);
  EXPECT_EQ(takeover.status().code(), absl::StatusCode::kAlreadyExists) << takeover.status();

  auto overview = cluster_->Get("/overview");
  EXPECT_EQ(overview["taskmanagers"], 1);
  EXPECT_EQ(overview["slots-total"], 2);
  auto metrics = HttpRequest("GET", cluster_->Url("/metrics"));
  ASSERT_TRUE(metrics.ok());
  EXPECT_THAT(metrics->body, Not(HasSubstr("evil")));
  EXPECT_THAT(metrics->body, HasSubstr("eddy_taskmanagers 1\n"));

  // Reports in the real TaskManager's name, from the stranger's connection.
  auto job = cluster_->Get("/jobs/" + job_id_);
  const std::string sink = job["vertices"].back()["id"].get<std::string>();
  rpc::UpdateTaskStateRequest update;
  update.set_resource_id("tm-0");
  update.mutable_task()->set_job_id(job_id_);
  update.mutable_task()->set_vertex_id(sink);
  update.mutable_task()->set_subtask(0);
  update.mutable_task()->set_attempt(0);
  update.mutable_task()->set_state(rpc::FAILED);
  update.mutable_task()->set_failure("forged failure");
  auto updated = stranger.client().Call<rpc::UpdateTaskStateResponse>("UpdateTaskState", update, 5s);
  EXPECT_EQ(updated.status().code(), absl::StatusCode::kPermissionDenied) << updated.status();
  rpc::HeartbeatRequest heartbeat;
  heartbeat.set_resource_id("tm-0");
  *heartbeat.mutable_report()->add_tasks() = update.task();
  auto beat = stranger.client().Call<rpc::HeartbeatResponse>("Heartbeat", heartbeat, 5s);
  EXPECT_EQ(beat.status().code(), absl::StatusCode::kPermissionDenied) << beat.status();
  rpc::DeclineCheckpointRequest decline;
  decline.set_resource_id("tm-0");
  decline.set_job_id(job_id_);
  decline.set_vertex_id(sink);
  decline.set_reason("forged decline");
  auto declined = stranger.client().Call<rpc::DeclineCheckpointResponse>("DeclineCheckpoint", decline, 5s);
  EXPECT_EQ(declined.status().code(), absl::StatusCode::kPermissionDenied) << declined.status();

  // The job's library, asked for by a connection no TaskManager registered on.
  auto jars = cluster_->Get("/jars");
  ASSERT_FALSE(jars["files"].empty());
  rpc::FetchBlobRequest fetch;
  fetch.set_sha256(jars["files"][0]["sha256"].get<std::string>());
  fetch.set_max_bytes(1 << 20);
  auto fetched = stranger.client().Call<rpc::FetchBlobResponse>("FetchBlob", fetch, 5s);
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kPermissionDenied) << fetched.status();

  ExpectJobUndisturbed();
  const std::string log = cluster_->jobmanager().Log();
  EXPECT_THAT(log, HasSubstr("refused a TaskManager registration"));
  EXPECT_THAT(log, HasSubstr("FetchBlob from"));
  EXPECT_THAT(log, HasSubstr("UpdateTaskState for TaskManager 'tm-0' from"));
  EXPECT_THAT(log, HasSubstr("Heartbeat for TaskManager 'tm-0' from"));
  EXPECT_THAT(log, Not(HasSubstr("evil\neddy"))) << "a stranger's newline reached the log";
}

TEST_F(SecurityTest, ALibraryWhoseConstructorWritesAFileIsRefusedAtUploadAndNeverRuns) {
  const std::string canary = dir_ + "/constructor-ran";
  setenv("EDDY_TEST_CANARY", canary.c_str(), 1);  // inherited by the cluster and the CLI
  TestCluster cluster(dir_);
  ASSERT_TRUE(cluster.Start(1)) << cluster.Logs();
  const std::string library = TestJob("constructor_writes_file");
  std::ifstream in(library, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(bytes.empty());
  auto [content_type, body] = BuildMultipartFile("jarfile", "word_count.so", bytes);
  auto upload = HttpRequest("POST", cluster.Url("/jars/upload"), body, content_type);
  ASSERT_TRUE(upload.ok()) << upload.status();
  EXPECT_EQ(upload->status, 400) << upload->body;
  EXPECT_THAT(upload->body, HasSubstr("no Eddy ABI stamp"));
  EXPECT_TRUE(cluster.Get("/jars")["files"].empty()) << "the refused library was stored";
  // `eddy run` checks it before loading it to build the graph.
  auto [code, out] = cluster.RunCli({"run", library});
  EXPECT_NE(code, 0);
  EXPECT_THAT(out, HasSubstr("no Eddy ABI stamp"));
  EXPECT_FALSE(std::filesystem::exists(canary)) << "the library's constructor ran";
  unsetenv("EDDY_TEST_CANARY");
}


TEST_F(SecurityTest, RestTokensGateJobsAndTheCliSendsThem) {
  const std::string viewer = "viewer-" + RandomHexId(16), alice = "alice-" + RandomHexId(16),
                    bob = "bob-" + RandomHexId(16), admin = "admin-" + RandomHexId(16);
  const std::string tokens = dir_ + "/tokens";
  {
    std::ofstream out(tokens);
    out << viewer << " viewer\n" << alice << " submitter alice\n"
        << bob << " submitter bob\n" << admin << " admin\n";
  }
  unsetenv("EDDY_TOKEN");
  TestCluster cluster(dir_, {"rest.auth.tokens-file=" + tokens});
  cluster.SetToken(admin);
  ASSERT_TRUE(cluster.Start(1)) << cluster.Logs();

  auto anonymous = HttpRequest("GET", cluster.Url("/jobs"));
  ASSERT_TRUE(anonymous.ok());
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(HttpRequest("GET", cluster.Url("/healthz"))->status, 200) << "probes need no token";
  EXPECT_EQ(HttpRequest("GET", cluster.Url("/metrics"))->status, 200) << "scrapers need no token";
  auto no_cors = HttpRequest("GET", cluster.Url("/overview"), "", "application/json", 5s,
                             {{"Authorization", "Bearer " + viewer}, {"Origin", "https://x.example"}});
  ASSERT_TRUE(no_cors.ok());
  EXPECT_EQ(no_cors->status, 200);
  EXPECT_EQ(no_cors->headers.count("access-control-allow-origin"), 0u);
  auto plain = HttpRequest("POST", cluster.Url("/jars/upload"), "x", "text/plain", 5s,
                           {{"Authorization", "Bearer " + admin}});
  EXPECT_EQ(plain->status, 415);

  auto [no_token, no_token_out] = cluster.RunCli({"list"});
  EXPECT_EQ(no_token, 4) << no_token_out;
  EXPECT_THAT(no_token_out, HasSubstr("needs a token"));
  auto [as_viewer, as_viewer_out] =
      cluster.RunCli({"--token", viewer, "run", TestJob("slow_sink_job"), "-p", "1"});
  EXPECT_EQ(as_viewer, 4) << as_viewer_out;
  EXPECT_THAT(as_viewer_out, HasSubstr("needs the role submitter"));

  // alice submits with EDDY_TOKEN; the TaskManager fetches the library with its blob token.
  setenv("EDDY_TOKEN", alice.c_str(), 1);
  auto [run, run_out] = cluster.RunCli({"run", TestJob("slow_sink_job"), "-p", "1"});
  unsetenv("EDDY_TOKEN");
  ASSERT_EQ(run, 0) << run_out << cluster.Logs();
  const std::string job_id = testing::JobIdFrom(run_out);
  ASSERT_TRUE(cluster.WaitForJobState(job_id, "RUNNING", 20s)) << cluster.Logs();

  auto [by_bob, by_bob_out] = cluster.RunCli({"--token", bob, "cancel", job_id});
  EXPECT_EQ(by_bob, 4) << by_bob_out;
  EXPECT_THAT(by_bob_out, HasSubstr("submitted by alice"));
  auto [by_viewer, by_viewer_out] = cluster.RunCli({"--token", viewer, "cancel", job_id});
  EXPECT_EQ(by_viewer, 4) << by_viewer_out;
  EXPECT_EQ(cluster.JobState(job_id), "RUNNING");
  // Job libraries go to TaskManagers only (over the control RPC): REST has no way to them,
  // whatever the token.
  auto jars = cluster.Get("/jars");
  ASSERT_FALSE(jars["files"].empty());
  auto blob = HttpRequest("GET", cluster.Url("/blobs/" + jars["files"][0]["sha256"].get<std::string>()),
                          "", "application/json", 5s, {{"Authorization", "Bearer " + admin}});
  EXPECT_EQ(blob->status, 404);

  auto [by_alice, by_alice_out] = cluster.RunCli({"--token", alice, "cancel", job_id});
  EXPECT_EQ(by_alice, 0) << by_alice_out;
  EXPECT_TRUE(cluster.WaitForJobState(job_id, "CANCELED", 10s)) << cluster.Logs();
  EXPECT_THAT(cluster.jobmanager().Log(), HasSubstr("belongs to alice"));
}

/// Answers every HTTP request on a loopback port with one canned response: a JobManager
/// that says odd things.
class CannedHttpServer {
 public:
  explicit CannedHttpServer(std::string response) : response_(std::move(response)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    socklen_t length = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { Serve(); });
  }
  ~CannedHttpServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void Serve() {
    while (true) {
      int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) return;
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(client, buffer, sizeof(buffer), 0);
        if (n <= 0) break;
        request.append(buffer, static_cast<size_t>(n));
      }
      ::send(client, response_.data(), response_.size(), MSG_NOSIGNAL);
      ::close(client);
    }
  }
  std::string response_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

std::string Canned(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

TEST_F(SecurityTest, TheCliGivesAMessageAndAnExitCodeForAnyInputAndAnyAnswer) {
  TestCluster cluster(dir_);
  ASSERT_TRUE(cluster.Start(1)) << cluster.Logs();
  auto [empty, empty_out] = cluster.RunCli({"status", ""});
  EXPECT_EQ(empty, 2) << empty_out;
  EXPECT_THAT(empty_out, HasSubstr("the job id is empty"));
  for (const std::string id : {"../overview", "a b?c#d", "%2e%2e", "0123456789abcdef0123456789abcdef"}) {
    auto [code, out] = cluster.RunCli({"status", id});
    EXPECT_EQ(code, 5) << id << ": " << out;
    auto [cancel, cancel_out] = cluster.RunCli({"cancel", id});
    EXPECT_EQ(cancel, 5) << id << ": " << cancel_out;
  }
  // A library named without a directory is the file in the current directory.
  const auto here = std::filesystem::current_path();
  std::filesystem::current_path(testing::TestJobsDir());
  auto [run, run_out] = cluster.RunCli({"run", "slow_sink_job.so", "-p", "1"});
  std::filesystem::current_path(here);
  ASSERT_EQ(run, 0) << run_out;
  const std::string job_id = testing::JobIdFrom(run_out);
  EXPECT_TRUE(cluster.WaitForJobState(job_id, "RUNNING", 20s)) << cluster.Logs();
  EXPECT_EQ(cluster.RunCli({"cancel", job_id}).first, 0);
  auto [missing, missing_out] = cluster.RunCli({"run", "no_such_job.so"});
  EXPECT_EQ(missing, 5) << missing_out;

  // A JobManager (or something else) that answers what eddy does not expect.
  const std::vector<std::string> answers = {
      Canned(200, R"({"jobs": 5})"), Canned(200, "[]"), Canned(200, "not json"),
      Canned(200, R"({"jid": 7, "vertices": "x", "state": null})"),
      Canned(200, R"({"jobs": [{"jid": 1, "name": [], "tasks": {}}]})"),
      Canned(500, R"({"errors": [1, {"a": 2}]})"), Canned(404, "<html>nothing</html>"),
      Canned(401, R"({"errors": "not a list"})"),
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"trunc",  // cut short
      "garbage\r\n\r\n"};
  const std::vector<std::vector<std::string>> commands = {
      {"list"}, {"status", "0123456789abcdef0123456789abcdef"}, {"cluster"},
      {"cancel", "0123456789abcdef0123456789abcdef"},
      {"savepoint", "0123456789abcdef0123456789abcdef", "/tmp/x"}};
  for (const auto& answer : answers) {
    CannedHttpServer server(answer);
    for (auto command : commands) {
      const std::string name = command[0];
      command.insert(command.begin() + 1, {"--jobmanager", server.url()});
      auto [code, out] = cluster.RunCli(command, 30s);
      // Exit codes are 0..6; RunCli gives -1 for a death by signal (an abort).
      EXPECT_GE(code, 0) << "eddy died on " << answer << " / " << name << ": " << out;
      EXPECT_LE(code, 6) << answer << " / " << name << ": " << out;
      if (code != 0) {
        EXPECT_THAT(out, HasSubstr("eddy: ")) << answer << " / " << name;
      }
    }
  }
}

TEST_F(SecurityTest, NoProcessListensBeyondLoopbackWithoutBeingToldTo) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackAddress("127.8.9.10"));
  EXPECT_TRUE(IsLoopbackAddress("::1"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]"));
  EXPECT_TRUE(IsLoopbackAddress("localhost"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackAddress("::"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.7"));
  EXPECT_FALSE(IsLoopbackAddress("jobmanager.example"));
  const std::string port = std::to_string(testing::PickFreePort());
  for (const auto& [binary, setting] :
       {std::pair<std::string, std::string>{"eddy-jobmanager", "jobmanager.rpc.address=0.0.0.0"},
        {"eddy-jobmanager", "rest.address=0.0.0.0"},
        {"eddy-taskmanager", "taskmanager.host=0.0.0.0"}}) {
    testing::ChildProcess process(
        binary, {"--set", setting, "--set", "rest.port=" + port, "--set", "jobmanager.rpc.port=" + port},
        dir_ + "/" + binary + "-" + std::to_string(setting.size()) + ".log");
    ASSERT_TRUE(WaitUntil([&] { return !process.running(); }, 20s)) << setting << " started";
    EXPECT_THAT(process.Log(), HasSubstr("is not a loopback address")) << setting;
    EXPECT_THAT(process.Log(), HasSubstr("security.allow-insecure-cluster")) << setting;
  }
}


TEST_F(SecurityTest, TenConcurrentDownloadsOfALargeLibraryKeepTheJobManagerSmall) {
  // Small quarantine so that ASan's bookkeeping of freed pieces does not look like growth.
  setenv("ASAN_OPTIONS", "quarantine_size_mb=4:malloc_context_size=5", 1);
  // The downloaders below do not send heartbeats: a long timeout keeps them registered.
  TestCluster cluster(dir_, {"rest.server.max-content-length=200mb", "heartbeat.timeout=10min"});
  cluster.StartJobManager();
  ASSERT_TRUE(cluster.WaitForTaskManagers(0)) << cluster.Logs();
  // A real job library padded to 100 MB (the ELF section headers stay where they point).
  std::ifstream in(TestJob("slow_sink_job"), std::ios::binary);
  std::string library((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  constexpr size_t kSize = 100u << 20;
  ASSERT_LT(library.size(), kSize);
  library.resize(kSize, '\0');
  const std::string sha = Sha256Hex(library);
  {
    auto [content_type, body] = BuildMultipartFile("jarfile", "big.so", library);
    auto upload = HttpRequest("POST", cluster.Url("/jars/upload"), body, content_type, 120s);
    ASSERT_TRUE(upload.ok()) << upload.status();
    ASSERT_EQ(upload->status, 200) << upload->body;
  }
  library.clear();
  library.shrink_to_fit();

  // Ten registered TaskManagers (this process) fetch it at once, piece by piece.
  constexpr int kDownloads = 10;
  std::vector<std::unique_ptr<Stranger>> tms;
  for (int i = 0; i < kDownloads; ++i) {
    tms.push_back(std::make_unique<Stranger>());
    ASSERT_TRUE(tms.back()->client().Connect("127.0.0.1", cluster.rpc_port(), 5s).ok());
    rpc::RegisterTaskManagerRequest request;
    request.set_resource_id("downloader-" + std::to_string(i));
    request.set_host("127.0.0.1");
    request.set_data_port(1);
    request.set_rpc_port(1);
    request.set_num_slots(1);
    request.set_rpc_credential(RandomSecret());
    auto registered = tms.back()->client().Call<rpc::RegisterTaskManagerResponse>(
        "RegisterTaskManager", request, 5s);
    ASSERT_TRUE(registered.ok()) << registered.status();
  }
  testing::PeakRss rss(cluster.jobmanager().pid(), 20ms);
  const int64_t before = rss.start_kib();
  std::vector<std::string> digests(kDownloads);
  std::vector<std::thread> downloads;
  for (int i = 0; i < kDownloads; ++i) {
    downloads.emplace_back([&, i] {
      Sha256 hash;
      uint64_t offset = 0, size = 1;
      while (offset < size) {
        rpc::FetchBlobRequest request;
        request.set_sha256(sha);
        request.set_offset(offset);
        request.set_max_bytes(1 << 20);
        auto piece = tms[i]->client().Call<rpc::FetchBlobResponse>("FetchBlob", request, 30s);
        if (!piece.ok() || piece->data().empty()) {
          digests[i] = piece.ok() ? "empty piece" : std::string(piece.status().message());
          return;
        }
        hash.Update(piece->data());
        offset += piece->data().size();
        size = piece->size();
      }
      digests[i] = hash.Hex();
    });
  }
  for (auto& t : downloads) t.join();
  const int64_t peak = rss.Stop();
  for (int i = 0; i < kDownloads; ++i) EXPECT_EQ(digests[i], sha) << "download " << i;
  const int64_t growth_mib = (peak - before) / 1024;
  std::cout << "10 concurrent downloads of 100 MB: JobManager RSS " << before / 1024 << " MiB before, peak "
            << peak / 1024 << " MiB (+" << growth_mib << " MiB)\n";
  EXPECT_LT(growth_mib, 100);
}

/// A padded copy of a real job library: a valid upload of `size` bytes.
std::string PaddedLibrary(const std::string& path, size_t size) {
  std::ifstream in(path, std::ios::binary);
  std::string library((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  library.resize(std::max(size, library.size()), '\0');
  return library;
}

/// Sends `request` over a raw connection at about `bytes_per_second`; returns the response.
std::string SendThrottled(uint16_t port, const std::string& request, size_t bytes_per_second) {
  int fd = ConnectRaw(port);
  if (fd < 0) return "connect failed";
  constexpr size_t kChunk = 64 * 1024;
  const auto start = std::chrono::steady_clock::now();
  for (size_t sent = 0; sent < request.size();) {
    const size_t n = std::min(kChunk, request.size() - sent);
    ssize_t w = ::send(fd, request.data() + sent, n, MSG_NOSIGNAL);
    if (w <= 0) break;
    sent += static_cast<size_t>(w);
    // Throttling: the pace of a slow link, not a wait for a condition.
    std::this_thread::sleep_until(start + std::chrono::microseconds(sent * 1'000'000 / bytes_per_second));
  }
  std::string response;
  char buffer[4096];
  timeval tv{};
  tv.tv_sec = 60;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  while (true) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return response;
}

TEST_F(SecurityTest, SlowButMovingUploadsCompleteSixAtOnceWithoutHoldingThemInMemory) {
  setenv("ASAN_OPTIONS", "quarantine_size_mb=4:malloc_context_size=5", 1);
  // The idle timeout bounds silence, not an upload's length: 90 MB at 4 MB/s takes about
  // 22 s, four times the 5 s a connection may stay silent here.
  TestCluster cluster(dir_, {"rest.idleness-timeout=5s"});
  cluster.StartJobManager();
  ASSERT_TRUE(cluster.WaitForTaskManagers(0)) << cluster.Logs();
  constexpr size_t kSize = 90u << 20;
  constexpr size_t kRate = 4u << 20;
  constexpr int kUploads = 6;
  // A connection that sends half a request and then nothing is closed after the idle
  // timeout: the key is in effect.
  const int silent = ConnectRaw(cluster.rest_port());
  ASSERT_GE(silent, 0);
  const std::string half = "POST /jars/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  ASSERT_EQ(::send(silent, half.data(), half.size(), MSG_NOSIGNAL), static_cast<ssize_t>(half.size()));
  const auto silent_start = std::chrono::steady_clock::now();
  const std::string library = PaddedLibrary(TestJob("slow_sink_job"), kSize);
  const std::string sha = Sha256Hex(library);
  auto [content_type, body] = BuildMultipartFile("jarfile", "big.so", library);
  const std::string request = "POST /jars/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " +
                              content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
                              "\r\nConnection: close\r\n\r\n" + body;
  body.clear();
  testing::PeakRss rss(cluster.jobmanager().pid(), 100ms);
  const int64_t before = rss.start_kib();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> responses(kUploads);
  std::vector<std::thread> uploads;
  for (int i = 0; i < kUploads; ++i) {
    uploads.emplace_back([&, i] { responses[i] = SendThrottled(cluster.rest_port(), request, kRate); });
  }
  // The silent connection ends (recv returns 0) within the idle timeout plus slack, while
  // the uploads keep going.
  timeval wait{};
  wait.tv_sec = 30;
  ::setsockopt(silent, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
  char byte;
  const ssize_t got = ::recv(silent, &byte, 1, 0);
  const bool reset = got < 0 && errno == ECONNRESET;
  const auto silent_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - silent_start).count();
  ::close(silent);
  EXPECT_TRUE(got == 0 || reset) << "the silent connection was not closed by the JobManager";
  EXPECT_GE(silent_seconds, 4.5);
  EXPECT_LT(silent_seconds, 15.0) << "rest.idleness-timeout=5s was not applied";
  for (auto& t : uploads) t.join();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
  const int64_t peak = rss.Stop();
  for (int i = 0; i < kUploads; ++i) {
    EXPECT_THAT(responses[i], HasSubstr("HTTP/1.1 200")) << "upload " << i << ": " << responses[i].substr(0, 400);
    EXPECT_THAT(responses[i], HasSubstr(sha)) << "upload " << i;
  }
  EXPECT_GE(seconds.count(), 20) << "the uploads were not throttled";
  const int64_t growth_mib = (peak - before) / 1024;
  std::cout << kUploads << " uploads of 90 MB at 4 MB/s took " << seconds.count()
            << " s; JobManager RSS " << before / 1024 << " MiB before, peak " << peak / 1024
            << " MiB (+" << growth_mib << " MiB)\n";
  // Six bodies in memory would be 540 MB; spooled, what stays is mapped file pages.
  EXPECT_LT(growth_mib, 400);
  // Nothing is left in the spool directory.
  for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/blobs/incoming")) {
    ADD_FAILURE() << "left behind: " << entry.path();
  }
}

TEST_F(SecurityTest, UploadedLibrariesSurviveARestartAndCanBeDeleted) {
  TestCluster cluster(dir_);
  cluster.StartJobManager();
  ASSERT_TRUE(cluster.WaitForTaskManagers(0)) << cluster.Logs();
  const std::string library = PaddedLibrary(TestJob("slow_sink_job"), 0);
  auto [content_type, body] = BuildMultipartFile("jarfile", "slow_sink_job.so", library);
  auto upload = HttpRequest("POST", cluster.Url("/jars/upload"), body, content_type, 30s);
  ASSERT_TRUE(upload.ok());
  ASSERT_EQ(upload->status, 200) << upload->body;
  const std::string id = nlohmann::json::parse(upload->body)["id"].get<std::string>();

  cluster.jobmanager().Stop(SIGTERM);
  cluster.StartJobManager();
  ASSERT_TRUE(WaitUntil([&] { return cluster.Get("/jars").is_object(); }, 20s)) << cluster.Logs();
  auto jars = cluster.Get("/jars");
  ASSERT_EQ(jars["files"].size(), 1u) << jars.dump();
  EXPECT_EQ(jars["files"][0]["id"], id);
  EXPECT_EQ(jars["files"][0]["name"], "slow_sink_job.so");
  EXPECT_EQ(jars["files"][0]["size"], library.size());

  auto deleted = HttpRequest("DELETE", cluster.Url("/jars/" + id));
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted->status, 200) << deleted->body;
  EXPECT_TRUE(cluster.Get("/jars")["files"].empty());
  EXPECT_EQ(HttpRequest("DELETE", cluster.Url("/jars/" + id))->status, 404);
  for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/blobs")) {
    EXPECT_TRUE(entry.is_directory()) << "left behind: " << entry.path();
  }
}

TEST_F(SecurityTest, ConnectionsBeyondTheLimitGetA503) {
  TestCluster cluster(dir_, {"rest.server.max-connections=2"});
  cluster.StartJobManager();
  ASSERT_TRUE(WaitUntil([&] { return cluster.Get("/overview").is_object(); }, 20s)) << cluster.Logs();
  int held[2] = {ConnectRaw(cluster.rest_port()), ConnectRaw(cluster.rest_port())};
  ASSERT_GE(held[0], 0);
  ASSERT_GE(held[1], 0);
  // Both are open (idle); a third is told why it cannot be served.
  std::string response;
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto answer = HttpRequest("GET", cluster.Url("/overview"));
        if (!answer.ok()) return false;
        response = std::to_string(answer->status) + " " + answer->body;
        return answer->status == 503;
      },
      10s))
      << response;
  EXPECT_THAT(response, HasSubstr("at most 2 REST connections"));
  ::close(held[0]);
  ::close(held[1]);
  EXPECT_TRUE(WaitUntil([&] { return cluster.Get("/overview").is_object(); }, 10s));
}

}  // namespace
}  // namespace eddy
