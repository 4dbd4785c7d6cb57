#include "jobmanager/dispatcher.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/logging.h"
#include "jobmanager/deployment_plan.h"

namespace eddy {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsTerminalTask(const std::string& s) {
  return s == "FINISHED" || s == "CANCELED" || s == "FAILED";
}

bool IsTerminalJob(const std::string& s) {
  return s == "FINISHED" || s == "CANCELED" || s == "FAILED";
}

constexpr auto kTick = std::chrono::milliseconds(200);

}  // namespace

Dispatcher::Dispatcher(boost::asio::io_context& io, TaskManagerRegistry& registry, Options options)
    : io_(io), registry_(registry), options_(std::move(options)) {}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::Start() {
  worker_ = std::thread([this] { WorkerLoop(); });
}

void Dispatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  clients_.clear();
}

void Dispatcher::Enqueue(std::function<void()> work) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(work));
  }
  cv_.notify_all();
}

void Dispatcher::WorkerLoop() {
  while (true) {
    std::function<void()> work;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, kTick, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      if (!queue_.empty()) {
        work = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (work) {
      work();
    } else {
      SchedulePending();
      RepeatStaleCancels();
    }
  }
}

absl::StatusOr<std::string> Dispatcher::Submit(job::JobGraph graph) {
  if (graph.vertices_size() == 0) {
    return absl::InvalidArgumentError("the job graph has no vertices");
  }
  auto job = std::make_shared<Job>();
  job->id = RandomHexId(16);
  job->graph = std::move(graph);
  job->start_ms = NowMs();
  job->submitted = std::chrono::steady_clock::now();
  for (const auto& v : job->graph.vertices()) {
    for (int i = 0; i < v.parallelism(); ++i) {
      Execution e;
      e.vertex_id = v.id();
      e.subtask = i;
      job->executions.push_back(e);
    }
  }
  std::string id = job->id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_[id] = job;
    job_order_.push_back(id);
  }
  EDDY_LOG(INFO) << "job " << id << " (" << job->graph.name() << ") submitted: "
                 << job->graph.vertices_size() << " vertices, " << job->executions.size()
                 << " tasks";
  Enqueue([this, id] { TrySchedule(id); });
  return id;
}

void Dispatcher::SchedulePending() {
  std::vector<std::string> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& id : job_order_) {
      if (jobs_[id]->state == "CREATED") pending.push_back(id);
    }
  }
  for (const auto& id : pending) TrySchedule(id);
}

void Dispatcher::RepeatStaleCancels() {
  constexpr auto kRepeatAfter = std::chrono::seconds(3);
  std::vector<std::pair<std::string, std::vector<TaskManagerId>>> stale;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto now = std::chrono::steady_clock::now();
    for (auto& [id, job] : jobs_) {
      if ((job->state == "CANCELING" || job->state == "FAILING") &&
          now - job->cancel_sent >= kRepeatAfter) {
        job->cancel_sent = now;
        stale.emplace_back(id, TaskManagersOfLocked(*job));
      }
    }
  }
  for (const auto& [id, tms] : stale) SendToTaskManagers(id, "CancelJob", tms);
}

void Dispatcher::TrySchedule(const std::string& job_id) {
  std::map<TaskManagerId, rpc::SubmitTasksRequest> requests;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end() || it->second->state != "CREATED") return;
    Job& job = *it->second;
    int needed = SlotsNeeded(job.graph);

    auto tms = registry_.List();
    int free = 0;
    for (const auto& tm : tms) free += tm.slots_free;
    if (free < needed) {
      if (std::chrono::steady_clock::now() - job.submitted >= options_.slot_request_timeout) {
        int total = 0;
        for (const auto& tm : tms) total += tm.slots_total;
        FailJobLocked(job,
                      absl::StrCat("Could not acquire the required ", needed,
                                   " slots within slot.request.timeout (",
                                   options_.slot_request_timeout.count(), "ms): the job's largest "
                                   "parallelism is ", needed, " but the cluster has ", free,
                                   " free of ", total, " slots on ", tms.size(), " TaskManagers"),
                      "");
        CheckTerminalLocked(job);
      }
      return;
    }
    // Spread slots round robin over TaskManagers so that subtasks land on every host.
    std::vector<const TaskManagerInfo*> slot_tm;
    std::map<TaskManagerId, int> take;
    while (static_cast<int>(slot_tm.size()) < needed) {
      for (const auto& tm : tms) {
        if (static_cast<int>(slot_tm.size()) == needed) break;
        if (take[tm.id] < tm.slots_free) {
          take[tm.id]++;
          slot_tm.push_back(&tm);
        }
      }
    }
    for (auto& [tm, n] : take) {
      if (n == 0) continue;
      if (!registry_.TakeSlots(tm, n)) {
        ReleaseSlotsLocked(job);
        return;  // raced with a lost TaskManager; try again next tick
      }
      job.slots[tm] = n;
    }

    std::vector<SlotLocation> locations;
    for (const TaskManagerInfo* tm : slot_tm) {
      locations.push_back(SlotLocation{tm->id.value(), tm->host, tm->data_port});
    }
    for (auto& planned : PlanDeployments(job.graph, locations)) {
      const TaskManagerId tm = slot_tm[planned.slot]->id;
      Execution* e = FindExecutionLocked(job, planned.deployment.vertex_id(),
                                         planned.deployment.subtask());
      e->tm = tm;
      e->state = "DEPLOYING";
      *requests[tm].add_tasks() = std::move(planned.deployment);
    }
    std::string graph_bytes = job.graph.SerializeAsString();
    for (auto& [tm, request] : requests) {
      request.set_job_id(job.id);
      request.set_job_graph(graph_bytes);
      request.set_library_sha256(job.graph.library_sha256());
      request.set_library_url(options_.blob_url_base + job.graph.library_sha256());
    }
    job.state = "RUNNING";
    EDDY_LOG(INFO) << "job " << job.id << " RUNNING: deploying " << job.executions.size()
                   << " tasks into " << needed << " slots on " << requests.size()
                   << " TaskManagers";
    // Keep tms alive until requests are built: slot_tm points into it.
  }
  for (auto& [tm, request] : requests) {
    absl::Status error;
    rpc::RpcClient* client = ClientFor(tm, &error);
    if (client != nullptr) {
      auto response =
          client->Call<rpc::SubmitTasksResponse>("SubmitTasks", request, options_.rpc_timeout);
      error = response.status();
    }
    if (!error.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = jobs_.find(job_id);
      if (it == jobs_.end()) return;
      Job& job = *it->second;
      for (auto& e : job.executions) {
        if (e.tm == tm && !IsTerminalTask(e.state)) {
          e.state = "FAILED";
          e.failure = absl::StrCat("cannot deploy to TaskManager ", tm.value(), ": ", error.message());
        }
      }
      FailJobLocked(job, absl::StrCat("cannot deploy to TaskManager ", tm.value(), ": ",
                                      error.message()), "");
      CheckTerminalLocked(job);
    }
  }
}

rpc::RpcClient* Dispatcher::ClientFor(const TaskManagerId& tm, absl::Status* error) {
  auto& client = clients_[tm];
  if (client && client->connected()) return client.get();
  auto info = registry_.Find(tm);
  if (!info) {
    *error = absl::NotFoundError(absl::StrCat("TaskManager ", tm.value(), " is not registered"));
    return nullptr;
  }
  client = std::make_unique<rpc::RpcClient>(io_, options_.connection, "jobmanager");
  absl::Status connected = client->Connect(info->host, info->rpc_port, options_.rpc_timeout);
  if (!connected.ok()) {
    *error = connected;
    return nullptr;
  }
  return client.get();
}

void Dispatcher::SendToTaskManagers(const std::string& job_id, const std::string& method,
                                    const std::vector<TaskManagerId>& tms) {
  rpc::JobRequest request;
  request.set_job_id(job_id);
  for (const auto& tm : tms) {
    absl::Status error;
    rpc::RpcClient* client = ClientFor(tm, &error);
    if (client != nullptr) {
      error = client->Call<rpc::JobResponse>(method, request, options_.rpc_timeout).status();
    }
    if (!error.ok()) {
      EDDY_LOG(WARN) << method << " of job " << job_id << " on TaskManager " << tm << ": "
                     << error.message();
    }
  }
}

absl::Status Dispatcher::Cancel(const std::string& job_id) {
  std::vector<TaskManagerId> tms;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job with id ", job_id));
    Job& job = *it->second;
    if (IsTerminalJob(job.state)) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", job_id, " is already ", job.state));
    }
    if (job.state == "CANCELING" || job.state == "FAILING") return absl::OkStatus();
    EDDY_LOG(INFO) << "job " << job_id << " CANCELING (requested)";
    if (job.state == "CREATED") {
      job.state = "CANCELING";
      for (auto& e : job.executions) e.state = "CANCELED";
      CheckTerminalLocked(job);
      return absl::OkStatus();
    }
    job.state = "CANCELING";
    job.cancel_sent = std::chrono::steady_clock::now();
    tms = TaskManagersOfLocked(job);
  }
  Enqueue([this, job_id, tms] { SendToTaskManagers(job_id, "CancelJob", tms); });
  return absl::OkStatus();
}

Dispatcher::Execution* Dispatcher::FindExecutionLocked(Job& job, const std::string& vertex_id,
                                                       int subtask) {
  for (auto& e : job.executions) {
    if (e.vertex_id == vertex_id && e.subtask == subtask) return &e;
  }
  return nullptr;
}

void Dispatcher::OnTaskReport(const TaskManagerId& tm, const rpc::TaskReport& report) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(report.job_id());
  if (it == jobs_.end()) return;
  Job& job = *it->second;
  Execution* e = FindExecutionLocked(job, report.vertex_id(), report.subtask());
  if (e == nullptr || e->tm != tm) return;
  e->records_in = std::max(e->records_in, report.records_in());
  e->records_out = std::max(e->records_out, report.records_out());
  const std::string& reported = rpc::ExecutionState_Name(report.state());
  if (IsTerminalTask(e->state) || reported == e->state) return;
  if (reported == "DEPLOYING") return;
  e->state = reported;
  if (e->state == "RUNNING") e->start_ms = NowMs();
  if (IsTerminalTask(e->state)) e->end_ms = NowMs();
  if (e->state == "FAILED") {
    e->failure = report.failure();
    std::string task_name = absl::StrCat(e->vertex_id, " (", e->subtask + 1, ")");
    FailJobLocked(job, report.failure(), task_name);
  }
  CheckTerminalLocked(job);
}

void Dispatcher::OnTaskManagerLost(const TaskManagerId& tm) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, job_ptr] : jobs_) {
    Job& job = *job_ptr;
    if (IsTerminalJob(job.state) || job.slots.count(tm) == 0) continue;
    std::string cause = absl::StrCat("TaskManager ", tm.value(),
                                     " was lost (no heartbeat within heartbeat.timeout)");
    for (auto& e : job.executions) {
      if (e.tm == tm && !IsTerminalTask(e.state)) {
        e.state = "FAILED";
        e.failure = cause;
        e.end_ms = NowMs();
      }
    }
    job.slots.erase(tm);  // its slots are gone with it
    FailJobLocked(job, cause, "");
    CheckTerminalLocked(job);
  }
}

void Dispatcher::FailJobLocked(Job& job, const std::string& cause, const std::string& task_name) {
  job.exception_history.push_back(nlohmann::json{{"exceptionName", "TaskFailure"},
                                                 {"stacktrace", cause},
                                                 {"timestamp", NowMs()},
                                                 {"taskName", task_name}});
  if (job.state == "CREATED" || job.state == "RUNNING") {
    job.root_exception = cause;
    job.root_exception_ms = NowMs();
    bool had_tasks = job.state == "RUNNING";
    job.state = "FAILING";
    EDDY_LOG(WARN) << "job " << job.id << " FAILING: " << cause;
    if (!had_tasks) {
      for (auto& e : job.executions) {
        if (!IsTerminalTask(e.state)) e.state = "CANCELED";
      }
      return;
    }
    auto tms = TaskManagersOfLocked(job);
    std::string id = job.id;
    job.cancel_sent = std::chrono::steady_clock::now();
    queue_.push_back([this, id, tms] { SendToTaskManagers(id, "CancelJob", tms); });
    cv_.notify_all();
  }
}

void Dispatcher::CheckTerminalLocked(Job& job) {
  if (IsTerminalJob(job.state)) return;
  bool all_terminal = true, all_finished = true;
  for (const auto& e : job.executions) {
    if (!IsTerminalTask(e.state)) all_terminal = false;
    if (e.state != "FINISHED") all_finished = false;
  }
  if (!all_terminal) return;
  if (job.state == "CANCELING") {
    job.state = "CANCELED";
  } else if (job.state == "FAILING" || !all_finished) {
    job.state = "FAILED";
  } else {
    job.state = "FINISHED";
  }
  job.end_ms = NowMs();
  EDDY_LOG(INFO) << "job " << job.id << " (" << job.graph.name() << ") " << job.state << " after "
                 << (job.end_ms - job.start_ms) << "ms";
  auto tms = TaskManagersOfLocked(job);
  ReleaseSlotsLocked(job);
  std::string id = job.id;
  queue_.push_back([this, id, tms] { SendToTaskManagers(id, "ReleaseJob", tms); });
  cv_.notify_all();
}

void Dispatcher::ReleaseSlotsLocked(Job& job) {
  for (const auto& [tm, n] : job.slots) registry_.ReturnSlots(tm, n);
  job.slots.clear();
}

std::vector<TaskManagerId> Dispatcher::TaskManagersOfLocked(const Job& job) const {
  std::vector<TaskManagerId> out;
  for (const auto& [tm, n] : job.slots) out.push_back(tm);
  return out;
}

Dispatcher::Counts Dispatcher::counts() const {
  Counts c;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, job] : jobs_) {
    if (job->state == "FINISHED") c.finished++;
    else if (job->state == "CANCELED") c.cancelled++;
    else if (job->state == "FAILED") c.failed++;
    else c.running++;
  }
  return c;
}

nlohmann::json Dispatcher::JobsJson() const {
  auto list = nlohmann::json::array();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& id : job_order_) {
    list.push_back({{"id", id}, {"status", jobs_.at(id)->state}});
  }
  return nlohmann::json{{"jobs", list}};
}

nlohmann::json Dispatcher::JobsOverviewJson() const {
  auto list = nlohmann::json::array();
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = NowMs();
  for (const auto& id : job_order_) {
    const Job& job = *jobs_.at(id);
    std::map<std::string, int> tasks;
    for (const auto& e : job.executions) tasks[e.state]++;
    nlohmann::json counts = nlohmann::json::object();
    counts["total"] = job.executions.size();
    for (const auto& [s, n] : tasks) {
      std::string key = s;
      std::transform(key.begin(), key.end(), key.begin(), ::tolower);
      counts[key] = n;
    }
    list.push_back({{"jid", id},
                    {"name", job.graph.name()},
                    {"state", job.state},
                    {"start-time", job.start_ms},
                    {"end-time", job.end_ms},
                    {"duration", (job.end_ms >= 0 ? job.end_ms : now) - job.start_ms},
                    {"tasks", counts}});
  }
  return nlohmann::json{{"jobs", list}};
}

nlohmann::json Dispatcher::VertexJsonLocked(const Job& job, const job::JobVertexDef& vertex) const {
  uint64_t in = 0, out = 0;
  int64_t start = -1, end = -1;
  std::map<std::string, int> states;
  bool all_terminal = true;
  for (const auto& e : job.executions) {
    if (e.vertex_id != vertex.id()) continue;
    in += e.records_in;
    out += e.records_out;
    states[e.state]++;
    if (e.start_ms >= 0 && (start < 0 || e.start_ms < start)) start = e.start_ms;
    if (e.end_ms > end) end = e.end_ms;
    if (!IsTerminalTask(e.state)) all_terminal = false;
  }
  // A vertex's status is the least advanced of its subtasks' states.
  std::string status = "FINISHED";
  for (const char* s : {"CREATED", "DEPLOYING", "RUNNING", "FAILED", "CANCELED"}) {
    if (states.count(s)) {
      status = s;
      break;
    }
  }
  int64_t now = NowMs();
  return nlohmann::json{
      {"id", vertex.id()},
      {"name", vertex.name()},
      {"parallelism", vertex.parallelism()},
      {"status", status},
      {"start-time", start},
      {"end-time", all_terminal ? end : -1},
      {"duration", start < 0 ? -1 : ((all_terminal ? end : now) - start)},
      {"tasks", states},
      {"metrics",
       {{"read-records", in},
        {"write-records", out},
        {"read-records-complete", all_terminal},
        {"write-records-complete", all_terminal}}},
  };
}

absl::StatusOr<nlohmann::json> Dispatcher::JobJson(const std::string& job_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job with id ", job_id));
  const Job& job = *it->second;
  auto vertices = nlohmann::json::array();
  for (const auto& v : job.graph.vertices()) vertices.push_back(VertexJsonLocked(job, v));
  auto edges = nlohmann::json::array();
  for (const auto& e : job.graph.edges()) {
    edges.push_back({{"id", e.id()},
                     {"source", e.source_vertex()},
                     {"target", e.target_vertex()},
                     {"ship_strategy", job::Partitioning_Name(e.partitioning())}});
  }
  int64_t now = NowMs();
  return nlohmann::json{
      {"jid", job.id},
      {"name", job.graph.name()},
      {"state", job.state},
      {"isStoppable", false},
      {"start-time", job.start_ms},
      {"end-time", job.end_ms},
      {"duration", (job.end_ms >= 0 ? job.end_ms : now) - job.start_ms},
      {"now", now},
      {"maxParallelism", job.graph.max_parallelism()},
      {"job-type", job.graph.bounded() ? "BATCH" : "STREAMING"},
      {"vertices", vertices},
      {"plan", {{"jid", job.id}, {"name", job.graph.name()}, {"edges", edges}}},
  };
}

absl::StatusOr<nlohmann::json> Dispatcher::ExceptionsJson(const std::string& job_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job with id ", job_id));
  const Job& job = *it->second;
  nlohmann::json out = {
      {"exceptionHistory", {{"entries", job.exception_history}, {"truncated", false}}},
      {"truncated", false},
  };
  if (!job.root_exception.empty()) {
    out["root-exception"] = job.root_exception;
    out["timestamp"] = job.root_exception_ms;
  }
  auto all = nlohmann::json::array();
  for (const auto& e : job.executions) {
    if (e.state == "FAILED" && !e.failure.empty()) {
      all.push_back({{"exception", e.failure},
                     {"task", absl::StrCat(e.vertex_id, " (", e.subtask + 1, ")")},
                     {"location", e.tm.value()},
                     {"timestamp", e.end_ms}});
    }
  }
  out["all-exceptions"] = all;
  return out;
}

}  // namespace eddy
