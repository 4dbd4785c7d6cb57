#include "cli/job_commands.h"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "api/job_library.h"
#include "cli/cluster_command.h"
#include "common/config.h"
#include "common/http_client.h"
#include "common/ids.h"
#include "common/logging.h"
#include "common/multipart.h"
#include "common/sha256.h"
#include "common/status.h"
#include "jobmanager/jobmanager.h"
#include "taskmanager/taskmanager.h"

namespace eddy::cli {
namespace {

/// Uploads and submissions may move tens of MiB: give them longer than a status query.
constexpr std::chrono::seconds kTransferTimeout{120};

bool IsTerminal(const std::string& state) {
  return state == "FINISHED" || state == "FAILED" || state == "CANCELED";
}

/// 1234567 -> "1,234,567". Appends digit by digit: inserting "," into the string in place
/// makes GCC 12 at -O2 report a bogus -Wrestrict overlap in std::string::insert
/// (https://gcc.gnu.org/bugzilla/show_bug.cgi?id=105329).
std::string Thousands(uint64_t n) {
  const std::string digits = std::to_string(n);
  std::string s;
  s.reserve(digits.size() + digits.size() / 3);
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s.push_back(',');
    s.push_back(digits[i]);
  }
  return s;
}

/// "/jobs/<id>" with the id URL-encoded (an id is user input: "", "../x", "a?b" stay one
/// path segment).
std::string JobPath(const std::string& job_id) { return "/jobs/" + UrlEncodePathSegment(job_id); }

}  // namespace

absl::StatusOr<std::string> RunJob(const std::string& jobmanager_url, const RunOptions& given,
                                   std::ostream& out) {
  if (!std::filesystem::exists(given.library)) {
    return absl::NotFoundError(absl::StrCat("job library ", given.library, " does not exist"));
  }
  // dlopen searches the library path for a name without '/': "word_count.so" means the file
  // in the current directory, as for any other command.
  RunOptions options = given;
  options.library = std::filesystem::absolute(given.library).lexically_normal().string();
  EDDY_ASSIGN_OR_RETURN(auto library, JobLibrary::Open(options.library));
  EDDY_ASSIGN_OR_RETURN(auto builder, library->Build(options.args, options.parallelism));
  EDDY_ASSIGN_OR_RETURN(job::JobGraph graph, builder->ToJobGraph());
  if (!options.name.empty()) graph.set_name(options.name);
  for (const auto& a : options.args) graph.add_args(a);
  // -D key=value: the JobManager checks the keys and values at submission.
  for (const auto& kv : options.config) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("-D expects key=value; got '", kv, "'"));
    }
    (*graph.mutable_config())[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  // Read the library once: its hash names it, its bytes are uploaded.
  std::ifstream in(options.library, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read job library ", options.library));
  const std::string library_bytes = bytes.str();
  graph.set_library_sha256(Sha256Hex(library_bytes));
  auto [content_type, body] = BuildMultipartFile(
      "jarfile", std::filesystem::path(options.library).filename().string(), library_bytes);
  auto uploaded =
      RequestJson("POST", jobmanager_url, "/jars/upload", body, content_type, kTransferTimeout);
  if (!uploaded.ok()) {
    return absl::Status(uploaded.status().code(),
                        absl::StrCat("uploading ", options.library, ": ",
                                     uploaded.status().message()));
  }
  std::string jar_id = (*uploaded).at("filename").get<std::string>();

  std::string graph_json;
  auto printed = google::protobuf::util::MessageToJsonString(graph, &graph_json);
  if (!printed.ok()) return absl::InternalError(printed.ToString());
  nlohmann::json run = {{"jobGraph", nlohmann::json::parse(graph_json)},
                        {"programArgsList", options.args},
                        {"parallelism", options.parallelism}};
  if (!options.from_savepoint.empty()) {
    run["savepointPath"] = options.from_savepoint;
    run["allowNonRestoredState"] = options.allow_non_restored_state;
  }
  auto submitted = RequestJson("POST", jobmanager_url, "/jars/" + UrlEncodePathSegment(jar_id) + "/run", run.dump(),
                               "application/json", kTransferTimeout);
  if (!submitted.ok()) {
    return absl::Status(submitted.status().code(),
                        absl::StrCat("submitting ", graph.name(), ": ", submitted.status().message()));
  }
  std::string job_id = (*submitted).at("jobid").get<std::string>();
  int tasks = 0;
  for (const auto& v : graph.vertices()) tasks += v.parallelism();
  out << "Job " << job_id << " submitted: " << graph.name() << " (" << graph.vertices_size()
      << " vertices, " << tasks << " tasks, " << (graph.bounded() ? "batch" : "streaming") << ")\n";
  out.flush();
  if (!options.wait) return job_id;
  EDDY_ASSIGN_OR_RETURN(std::string state, WaitForJob(jobmanager_url, job_id, out, isatty(1)));
  if (state != "FINISHED") {
    auto exceptions = GetJson(jobmanager_url, JobPath(job_id) + "/exceptions");
    std::string cause;
    if (exceptions.ok() && exceptions->contains("root-exception")) {
      cause = (*exceptions).at("root-exception").get<std::string>();
    }
    return absl::AbortedError(absl::StrCat("job ", job_id, " ", state,
                                           cause.empty() ? "" : ": ", cause));
  }
  return job_id;
}

absl::StatusOr<std::string> WaitForJob(const std::string& jobmanager_url, const std::string& job_id,
                                       std::ostream& out, bool live) {
  std::string last_line;
  auto last_print = std::chrono::steady_clock::now();
  while (true) {
    auto job = GetJson(jobmanager_url, JobPath(job_id));
    if (!job.ok()) return job.status();
    std::string state = (*job).at("state").get<std::string>();
    // Records entering the job at its first vertices and leaving it at its last ones.
    std::set<std::string> has_input, has_output;
    for (const auto& e : (*job).at("plan").at("edges")) {
      has_input.insert(e.at("target").get<std::string>());
      has_output.insert(e.at("source").get<std::string>());
    }
    uint64_t in = 0, out_records = 0;
    for (const auto& v : (*job).at("vertices")) {
      std::string id = v.at("id").get<std::string>();
      if (!has_input.count(id)) in += v.at("metrics").at("read-records").get<uint64_t>();
      if (!has_output.count(id)) out_records += v.at("metrics").at("write-records").get<uint64_t>();
    }
    std::string line = absl::StrFormat("%-9s %7.1fs  records in %s, out %s", state,
                                       (*job).at("duration").get<int64_t>() / 1000.0, Thousands(in),
                                       Thousands(out_records));
    auto now = std::chrono::steady_clock::now();
    if (live) {
      out << "\r" << line << "   " << std::flush;
    } else if (IsTerminal(state) || now - last_print >= std::chrono::seconds(5)) {
      out << line << "\n" << std::flush;
      last_print = now;
    }
    if (IsTerminal(state)) {
      if (live) out << "\n";
      return state;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));  // polling interval
  }
}

absl::Status ListJobs(const std::string& jobmanager_url, std::ostream& out) {
  EDDY_ASSIGN_OR_RETURN(auto jobs, GetJson(jobmanager_url, "/jobs/overview"));
  if (jobs.at("jobs").empty()) {
    out << "No jobs.\n";
    return absl::OkStatus();
  }
  out << absl::StrFormat("%-34s %-24s %-10s %10s %6s\n", "JOB ID", "NAME", "STATE", "DURATION", "TASKS");
  for (const auto& j : jobs.at("jobs")) {
    out << absl::StrFormat("%-34s %-24s %-10s %9.1fs %6d\n", j.at("jid").get<std::string>(),
                           j.at("name").get<std::string>(), j.at("state").get<std::string>(),
                           j.at("duration").get<int64_t>() / 1000.0, j.at("tasks").at("total").get<int>());
  }
  return absl::OkStatus();
}

absl::Status ShowJob(const std::string& jobmanager_url, const std::string& job_id, std::ostream& out) {
  EDDY_ASSIGN_OR_RETURN(auto job, GetJson(jobmanager_url, JobPath(job_id)));
  out << "Job       " << job.at("jid").get<std::string>() << "\n"
      << "Name      " << job.at("name").get<std::string>() << "\n"
      << "State     " << job.at("state").get<std::string>() << "  (" << job.at("job-type").get<std::string>()
      << ")\n"
      << absl::StrFormat("Duration  %.1fs\n\n", job.at("duration").get<int64_t>() / 1000.0);
  out << absl::StrFormat("%-40s %11s %-10s %15s %15s\n", "VERTEX", "PARALLELISM", "STATUS",
                         "RECORDS IN", "RECORDS OUT");
  for (const auto& v : job.at("vertices")) {
    std::string name = v.at("name").get<std::string>();
    if (name.size() > 40) name = name.substr(0, 37) + "...";
    out << absl::StrFormat("%-40s %11d %-10s %15s %15s\n", name, v.at("parallelism").get<int>(),
                           v.at("status").get<std::string>(),
                           Thousands(v.at("metrics").at("read-records").get<uint64_t>()),
                           Thousands(v.at("metrics").at("write-records").get<uint64_t>()));
  }
  // Checkpoints: counts, the latest completed one, and the one in progress.
  auto checkpoints = GetJson(jobmanager_url, JobPath(job_id) + "/checkpoints");
  if (checkpoints.ok() && checkpoints->contains("counts") &&
      (*checkpoints).at("counts").at("total").get<int64_t>() > 0) {
    const auto& c = (*checkpoints).at("counts");
    out << absl::StrFormat("\nCheckpoints  %d completed, %d failed, %d restored\n",
                           c.at("completed").get<int64_t>(), c.at("failed").get<int64_t>(),
                           c.at("restored").get<int64_t>());
    const auto& latest = (*checkpoints).at("latest").at("completed");
    if (latest.is_object()) {
      out << absl::StrFormat("  latest   #%d  %s in %dms  %s\n", latest.at("id").get<int64_t>(),
                             Thousands(latest.at("state_size").get<uint64_t>()) + " bytes",
                             latest.at("end_to_end_duration").get<int64_t>(),
                             latest.at("external_path").get<std::string>());
    }
    for (const auto& h : (*checkpoints).at("history")) {
      if (h.at("status") != "IN_PROGRESS") continue;
      out << absl::StrFormat("  running  #%d  %d/%d subtasks acknowledged\n", h.at("id").get<int64_t>(),
                             h.at("num_acknowledged_subtasks").get<int>(), h.at("num_subtasks").get<int>());
    }
    const auto& failed = (*checkpoints).at("latest").at("failed");
    if (failed.is_object()) {
      out << absl::StrFormat("  failed   #%d  %s\n", failed.at("id").get<int64_t>(),
                             failed.at("failure_message").get<std::string>());
    }
  }
  if (job.at("state") == "FAILED") {
    auto exceptions = GetJson(jobmanager_url, JobPath(job_id) + "/exceptions");
    if (exceptions.ok() && exceptions->contains("root-exception")) {
      out << "\nRoot cause: " << (*exceptions).at("root-exception").get<std::string>() << "\n";
    }
  }
  return absl::OkStatus();
}

absl::Status CancelJob(const std::string& jobmanager_url, const std::string& job_id, std::ostream& out) {
  auto cancelled = RequestJson("PATCH", jobmanager_url, JobPath(job_id) + "?mode=cancel");
  if (!cancelled.ok()) {
    return absl::Status(cancelled.status().code(),
                        absl::StrCat("cannot cancel job ", job_id, ": ", cancelled.status().message()));
  }
  out << "Cancelling job " << job_id << " ...\n" << std::flush;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    EDDY_ASSIGN_OR_RETURN(auto job, GetJson(jobmanager_url, JobPath(job_id)));
    std::string state = job.at("state").get<std::string>();
    if (IsTerminal(state)) {
      out << "Job " << job_id << " " << state << "\n";
      return absl::OkStatus();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling interval
  }
  return absl::DeadlineExceededError(absl::StrCat("job ", job_id, " did not stop within 30s"));
}

absl::StatusOr<std::string> Savepoint(const std::string& jobmanager_url, const std::string& job_id,
                                      const std::string& dir, bool stop, std::ostream& out,
                                      bool drain) {
  nlohmann::json body = nlohmann::json::object();
  if (stop) {
    if (!dir.empty()) body["targetDirectory"] = dir;
    body["drain"] = drain;
  } else {
    if (!dir.empty()) body["target-directory"] = dir;
    body["cancel-job"] = false;
  }
  auto triggered = RequestJson("POST", jobmanager_url,
                               JobPath(job_id) + (stop ? "/stop" : "/savepoints"), body.dump());
  if (!triggered.ok()) {
    return absl::Status(triggered.status().code(),
                        absl::StrCat("cannot take a savepoint of job ", job_id, ": ",
                                     triggered.status().message()));
  }
  const std::string request = (*triggered).at("request-id").get<std::string>();
  out << (drain  ? "Draining and stopping job "
          : stop ? "Stopping job "
                 : "Triggering a savepoint of job ")
      << job_id << " ...\n"
      << std::flush;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  while (std::chrono::steady_clock::now() < deadline) {
    EDDY_ASSIGN_OR_RETURN(auto status,
                          GetJson(jobmanager_url, JobPath(job_id) + "/savepoints/" + UrlEncodePathSegment(request)));
    if (status.at("status").at("id") == "COMPLETED") {
      const auto& op = status.at("operation");
      if (op.contains("location")) {
        const std::string location = op.at("location").get<std::string>();
        out << "Savepoint completed: " << location << "\n";
        if (stop) {
          EDDY_ASSIGN_OR_RETURN(std::string state, WaitForJob(jobmanager_url, job_id, out, false));
          out << "Job " << job_id << " " << state << "\n";
        }
        return location;
      }
      std::string cause = op.contains("failure-cause") ? op.at("failure-cause").value("stack-trace", "")
                                                       : "unknown";
      return absl::AbortedError(absl::StrCat("savepoint of job ", job_id, " failed: ", cause));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling interval
  }
  return absl::DeadlineExceededError(
      absl::StrCat("the savepoint of job ", job_id, " did not complete within 10 minutes"));
}

absl::Status RunLocal(const LocalOptions& options, std::ostream& out) {
  // Blobs and library caches of this run go to a private directory, removed at the end.
  std::string work_dir = absl::StrCat(std::filesystem::temp_directory_path().string(),
                                      "/eddy-local-", RandomHexId(6));
  auto config = Config::Load("", {"rest.port=0", "jobmanager.rpc.port=0", "log.level=warn",
                                  "heartbeat.interval=500ms",
                                  "blob.storage.directory=" + work_dir + "/blobs",
                                  "taskmanager.tmp.dir=" + work_dir});
  if (!config.ok()) return config.status();
  struct RemoveOnExit {
    std::string dir;
    ~RemoveOnExit() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  } remove_on_exit{work_dir};
  int slots = options.slots > 0 ? options.slots
                                : std::max(1, (options.run.parallelism + options.taskmanagers - 1) /
                                                  options.taskmanagers);
  SetLogLevel(LogLevel::kWarn);
  JobManager jobmanager(*config);
  EDDY_RETURN_IF_ERROR(jobmanager.Start());
  std::vector<std::unique_ptr<TaskManager>> taskmanagers;
  for (int i = 0; i < options.taskmanagers; ++i) {
    Config tm_config = *config;
    EDDY_RETURN_IF_ERROR(tm_config.Set(opt::kJobManagerRpcPort, std::to_string(jobmanager.rpc_port())));
    EDDY_RETURN_IF_ERROR(tm_config.Set(opt::kTaskManagerSlots, std::to_string(slots)));
    taskmanagers.push_back(std::make_unique<TaskManager>(tm_config));
    EDDY_RETURN_IF_ERROR(taskmanagers.back()->Start());
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (jobmanager.registry().size() < static_cast<size_t>(options.taskmanagers)) {
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError("local TaskManagers did not register within 30s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling interval
  }
  std::string url = absl::StrCat("http://127.0.0.1:", jobmanager.rest_port());
  out << "Local cluster: JobManager " << url << ", " << options.taskmanagers << " TaskManagers x "
      << slots << " slots\n";
  RunOptions run = options.run;
  run.wait = true;
  auto result = RunJob(url, run, out);
  for (auto& tm : taskmanagers) tm->Stop();
  jobmanager.Stop();
  return result.status();
}

}  // namespace eddy::cli
