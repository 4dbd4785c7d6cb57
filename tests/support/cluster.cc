#include "tests/support/cluster.h"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/http_client.h"

namespace eddy::testing {

TestCluster::TestCluster(std::string dir, std::vector<std::string> settings)
    : dir_(std::move(dir)),
      settings_(std::move(settings)),
      rest_port_(PickFreePort()),
      rpc_port_(PickFreePort()) {}

TestCluster::~TestCluster() {
  for (auto& tm : taskmanagers_) tm.Stop(SIGKILL);
  jobmanager_.Stop(SIGKILL);
}

std::vector<std::string> TestCluster::CommonArgs() const {
  std::vector<std::string> args = {"--set", "jobmanager.rpc.address=127.0.0.1",
                                   "--set", "jobmanager.rpc.port=" + std::to_string(rpc_port_),
                                   "--set", "heartbeat.interval=200ms",
                                   "--set", "heartbeat.timeout=3s",
                                   "--set", "taskmanager.registration.max-backoff=300ms",
                                   "--set", "taskmanager.tmp.dir=" + dir_,
                                   "--set", "blob.storage.directory=" + dir_ + "/blobs"};
  for (const auto& s : settings_) {
    args.push_back("--set");
    args.push_back(s);
  }
  return args;
}

void TestCluster::StartJobManager() {
  auto args = CommonArgs();
  args.insert(args.end(), {"--set", "rest.address=127.0.0.1", "--set",
                           "rest.port=" + std::to_string(rest_port_)});
  jobmanager_ = ChildProcess("eddy-jobmanager", args, dir_ + "/jobmanager.log");
}

int TestCluster::StartTaskManager(int slots, std::vector<std::string> extra) {
  auto args = CommonArgs();
  args.insert(args.end(), {"--set", "taskmanager.numberOfTaskSlots=" + std::to_string(slots)});
  for (const auto& s : extra) {
    args.push_back("--set");
    args.push_back(s);
  }
  int index = static_cast<int>(taskmanagers_.size());
  taskmanagers_.emplace_back("eddy-taskmanager", args,
                             dir_ + "/taskmanager-" + std::to_string(index) + ".log");
  return index;
}

bool TestCluster::Start(int n, int slots) {
  StartJobManager();
  for (int i = 0; i < n; ++i) StartTaskManager(slots);
  return WaitForTaskManagers(n);
}

bool TestCluster::WaitForTaskManagers(int n, std::chrono::milliseconds timeout) {
  return WaitUntil([&] { return RegisteredTaskManagers() == n; }, timeout);
}

std::string TestCluster::Url(const std::string& path) const {
  return (ca_file_.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") +
         std::to_string(rest_port_) + path;
}

nlohmann::json TestCluster::Get(const std::string& path) const {
  HttpHeaders headers;
  if (!token_.empty()) headers.emplace_back("Authorization", "Bearer " + token_);
  auto response =
      HttpRequest("GET", Url(path), "", "application/json", std::chrono::seconds(5), headers,
                  ca_file_);
  if (!response.ok() || response->status != 200) return nullptr;
  return nlohmann::json::parse(response->body, nullptr, false);
}

int TestCluster::RegisteredTaskManagers() const {
  auto overview = Get("/overview");
  return overview.is_object() ? overview.value("taskmanagers", -1) : -1;
}

std::string TestCluster::Logs() {
  std::string out = "---- jobmanager log ----\n" + jobmanager_.Log();
  for (size_t i = 0; i < taskmanagers_.size(); ++i) {
    out += "---- taskmanager " + std::to_string(i) + " log ----\n" + taskmanagers_[i].Log();
  }
  return out;
}

std::pair<int, std::string> TestCluster::RunCli(const std::vector<std::string>& args,
                                                std::chrono::milliseconds timeout) {
  std::string log = dir_ + "/cli-" + std::to_string(cli_runs_++) + ".out";
  std::vector<std::string> full = {"--jobmanager", Url()};
  full.insert(full.end(), args.begin(), args.end());
  ChildProcess cli("eddy", full, log);
  if (!WaitUntil([&] { return !cli.running(); }, timeout)) {
    cli.Stop(SIGKILL);
    return {-1, cli.Log()};
  }
  int status = cli.Stop(SIGKILL);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return {code, cli.Log()};
}

std::string TestCluster::JobState(const std::string& job_id) const {
  auto job = Get("/jobs/" + job_id);
  return job.is_object() ? job.value("state", "") : "";
}

bool TestCluster::WaitForJobState(const std::string& job_id, const std::string& state,
                                  std::chrono::milliseconds timeout) {
  return WaitUntil([&] { return JobState(job_id) == state; }, timeout);
}

int64_t TestCluster::CompletedCheckpoints(const std::string& job_id) const {
  nlohmann::json j = Get("/jobs/" + job_id + "/checkpoints");
  return j.is_object() ? j["counts"]["completed"].get<int64_t>() : -1;
}

std::vector<int> TestCluster::BusyTaskManagers() const {
  std::vector<int> out;
  const nlohmann::json tms = Get("/taskmanagers");
  if (!tms.is_object()) return out;
  for (const auto& tm : tms["taskmanagers"]) {
    if (tm["freeSlots"] < tm["slotsNumber"]) {
      out.push_back(std::stoi(tm["id"].get<std::string>().substr(3)));
    }
  }
  return out;
}

// Both live next to the binaries' folder: build/bin -> build/tests/jobs, build/examples.
std::string TestJobsDir() { return BinDir() + "/../tests/jobs"; }

std::string ExamplesDir() { return BinDir() + "/../examples"; }

std::vector<std::string> ReadOutputLines(const std::string& dir) {
  std::vector<std::string> lines;
  if (!std::filesystem::exists(dir)) return lines;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind('.', 0) == 0) continue;  // in-progress files
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
  }
  return lines;
}

std::string JobIdFrom(const std::string& run_output) {
  auto pos = run_output.find("Job ");
  if (pos == std::string::npos) return "";
  return run_output.substr(pos + 4, 32);
}

void ClusterTestBase::SetUp() {
  dir_ = MakeTestDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
}

void ClusterTestBase::TearDown() {
  if (!HasFailure()) RemoveTestDir(dir_);  // logs stay for a failed test
}

std::string ClusterTestBase::Example(const std::string& name) const {
  return ExamplesDir() + "/" + name + ".so";
}

std::string ClusterTestBase::TestJob(const std::string& name) const {
  return TestJobsDir() + "/" + name + ".so";
}

}  // namespace eddy::testing
