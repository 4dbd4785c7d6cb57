// REST routes for jobs and job libraries (Flink's paths): /jars, /jars/upload,
// /jars/{id}/run, /jobs, /jobs/overview, /jobs/{id}, /jobs/{id}/exceptions,
// /jobs/{id}/vertices/{vid}/watermarks, /jobs/{id}/latency,
// PATCH /jobs/{id}?mode=cancel, /jobs/{id}/checkpoints (+ /config), POST /jobs/{id}/savepoints,
// GET /jobs/{id}/savepoints/{request id}, POST /jobs/{id}/stop. TaskManagers fetch job
// libraries over the control RPC (FetchBlob), not over REST.
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "api/job_library_stamp.h"
#include "common/logging.h"
#include "common/mapped_file.h"
#include "common/multipart.h"
#include "jobmanager/job_graph_validator.h"
#include "jobmanager/jobmanager.h"

namespace eddy {
namespace {

RestResponse FromStatus(const absl::Status& status) {
  int code = 500;
  switch (status.code()) {
    case absl::StatusCode::kNotFound: code = 404; break;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition: code = 400; break;
    case absl::StatusCode::kAlreadyExists: code = 409; break;
    case absl::StatusCode::kDataLoss: code = 400; break;
    default: break;
  }
  return RestResponse::Error(code, std::string(status.message()));
}

std::string HeaderOr(const RestRequest& request, const std::string& name) {
  auto it = request.headers.find(name);
  return it == request.headers.end() ? "" : it->second;
}

}  // namespace

std::optional<RestResponse> JobManager::RefuseIfNotOwner(const RestRequest& request) const {
  if (request.caller.role == RestRole::kAdmin) return std::nullopt;
  const std::string& job_id = request.path_params.at("jobid");
  auto owner = dispatcher_->OwnerOf(job_id);
  if (!owner || *owner == request.caller.principal) return std::nullopt;  // 404 follows
  EDDY_LOG(WARN) << "REST: refused " << request.method << " " << request.path << " by "
                 << request.caller.principal << ": job " << job_id << " belongs to " << *owner;
  return RestResponse::Error(403, absl::StrCat("job ", job_id, " was submitted by ", *owner,
                                               "; a submitter may change only its own jobs"));
}

void JobManager::RegisterJobRoutes() {
  rest_server_.Route("POST", "/jars/upload", [this](const RestRequest& request) {
    // A large upload arrives spooled to a file: read it mapped, not copied to the heap.
    std::optional<MappedFile> spooled;
    std::string_view body = request.body;
    if (!request.body_file.empty()) {
      auto mapped = MappedFile::Open(request.body_file);
      if (!mapped.ok()) return FromStatus(mapped.status());
      spooled.emplace(std::move(*mapped));
      body = spooled->view();
    }
    auto parts = ParseMultipart(HeaderOr(request, "content-type"), body);
    if (!parts.ok()) return RestResponse::Error(400, std::string(parts.status().message()));
    for (const auto& part : *parts) {
      if (part.filename.empty()) continue;
      if (part.body.empty()) return RestResponse::Error(400, "the uploaded file '" + part.filename + "' is empty");
      // Refused before it is stored: TaskManagers would refuse it anyway, and nothing that
      // is not a job library should sit in the blob store.
      if (absl::Status stamped = CheckJobLibraryBytes(part.body, "the uploaded file '" + absl::CHexEscape(part.filename) + "'");
          !stamped.ok()) {
        EDDY_LOG(WARN) << "refused an upload: " << stamped.message();
        return FromStatus(stamped);
      }
      auto info = blobs_.Put(part.filename, part.body);
      if (!info.ok()) return FromStatus(info.status());
      EDDY_LOG(INFO) << "stored job library " << info->name << " (" << info->size
                     << " bytes, sha256 " << info->sha256 << ") as " << info->id;
      return RestResponse::Json({{"filename", info->id},
                                 {"id", info->id},
                                 {"sha256", info->sha256},
                                 {"status", "success"}});
    }
    return RestResponse::Error(400, "the upload has no file part (send it as form field 'jarfile')");
  });

  rest_server_.Route("GET", "/jars", [this](const RestRequest&) {
    auto files = nlohmann::json::array();
    for (const auto& b : blobs_.List()) {
      files.push_back({{"id", b.id}, {"name", b.name}, {"uploaded", b.uploaded_ms},
                       {"size", b.size}, {"sha256", b.sha256}});
    }
    return RestResponse::Json(
        {{"address", absl::StrCat("http://", config_.GetString(opt::kRestAddress), ":", rest_port_)},
         {"files", files}});
  });

  rest_server_.Route("DELETE", "/jars/:jarid", [this](const RestRequest& request) {
    absl::Status deleted = blobs_.Delete(request.path_params.at("jarid"));
    if (!deleted.ok()) return FromStatus(deleted);
    EDDY_LOG(INFO) << "deleted job library " << request.path_params.at("jarid") << " for "
                   << request.caller.principal;
    return RestResponse::Json(nlohmann::json::object());
  });

  rest_server_.Route("POST", "/jars/:jarid/run", [this](const RestRequest& request) {
    const std::string& jar_id = request.path_params.at("jarid");
    auto jar = blobs_.Find(jar_id);
    if (!jar) return RestResponse::Error(404, "no uploaded job library with id '" + jar_id + "'");
    auto run = ParseRunRequest(request.body);
    if (!run.ok()) return RestResponse::Error(400, std::string(run.status().message()));
    job::JobGraph& graph = run->graph;
    if (!graph.library_sha256().empty() && graph.library_sha256() != jar->sha256) {
      return RestResponse::Error(400, "the jobGraph names library " + graph.library_sha256() +
                                          " but jar " + jar_id + " has sha256 " + jar->sha256);
    }
    graph.set_library_sha256(jar->sha256);
    if (run->job_name) graph.set_name(*run->job_name);
    Dispatcher::RestoreSettings restore;
    restore.path = std::move(run->savepoint_path);
    restore.allow_non_restored_state = run->allow_non_restored_state;
    auto job_id = dispatcher_->Submit(std::move(graph), std::move(restore), request.caller.principal);
    if (!job_id.ok()) return FromStatus(job_id.status());
    return RestResponse::Json({{"jobid", *job_id}});
  });


  rest_server_.Route("GET", "/jobs", [this](const RestRequest&) {
    return RestResponse::Json(dispatcher_->JobsJson());
  });
  rest_server_.Route("GET", "/jobs/overview", [this](const RestRequest&) {
    return RestResponse::Json(dispatcher_->JobsOverviewJson());
  });
  rest_server_.Route("GET", "/jobs/:jobid", [this](const RestRequest& request) {
    auto json = dispatcher_->JobJson(request.path_params.at("jobid"));
    return json.ok() ? RestResponse::Json(*json) : FromStatus(json.status());
  });
  rest_server_.Route("GET", "/jobs/:jobid/exceptions", [this](const RestRequest& request) {
    auto json = dispatcher_->ExceptionsJson(request.path_params.at("jobid"));
    return json.ok() ? RestResponse::Json(*json) : FromStatus(json.status());
  });
  rest_server_.Route("GET", "/jobs/:jobid/vertices/:vertexid/watermarks",
                     [this](const RestRequest& request) {
                       auto json = dispatcher_->WatermarksJson(request.path_params.at("jobid"),
                                                               request.path_params.at("vertexid"));
                       return json.ok() ? RestResponse::Json(*json) : FromStatus(json.status());
                     });
  rest_server_.Route("GET", "/jobs/:jobid/latency", [this](const RestRequest& request) {
    auto json = dispatcher_->LatencyJson(request.path_params.at("jobid"));
    return json.ok() ? RestResponse::Json(*json) : FromStatus(json.status());
  });
  rest_server_.Route("GET", "/jobs/:jobid/checkpoints", [this](const RestRequest& request) {
    auto json = dispatcher_->CheckpointsJson(request.path_params.at("jobid"));
    return json.ok() ? RestResponse::Json(*json) : FromStatus(json.status());
  });
  rest_server_.Route("GET", "/jobs/:jobid/checkpoints/config", [this](const RestRequest& request) {
    auto json = dispatcher_->CheckpointConfigJson(request.path_params.at("jobid"));
    return json.ok() ? RestResponse::Json(*json) : FromStatus(json.status());
  });
  // Savepoints (Flink's bodies): {"target-directory": DIR, "cancel-job": bool} and, for
  // stop, {"targetDirectory": DIR, "drain": bool}; both answer {"request-id": ID}.
  auto savepoint = [this](const RestRequest& request, const char* dir_field, const char* stop_field,
                          bool stop) {
    nlohmann::json body = request.body.empty() ? nlohmann::json::object()
                                                : nlohmann::json::parse(request.body, nullptr, false);
    if (!body.is_object()) return RestResponse::Error(400, "the request body is not a JSON object");
    std::string dir;
    if (body.contains(dir_field)) {
      if (!body[dir_field].is_string()) {
        return RestResponse::Error(400, absl::StrCat("\"", dir_field, "\" must be a string"));
      }
      dir = body[dir_field].get<std::string>();
    }
    if (!stop && body.contains(stop_field) && body[stop_field].is_boolean()) {
      stop = body[stop_field].get<bool>();
    }
    bool drain = false;
    if (stop && body.contains("drain")) {
      if (!body["drain"].is_boolean()) return RestResponse::Error(400, "\"drain\" must be a boolean");
      drain = body["drain"].get<bool>();
    }
    if (auto refused = RefuseIfNotOwner(request)) return std::move(*refused);
    auto id = dispatcher_->TriggerSavepoint(request.path_params.at("jobid"), dir, stop, drain);
    if (!id.ok()) return FromStatus(id.status());
    return RestResponse::Json({{"request-id", *id}}, 202);
  };
  rest_server_.Route("POST", "/jobs/:jobid/savepoints", [savepoint](const RestRequest& request) {
    return savepoint(request, "target-directory", "cancel-job", false);
  });
  rest_server_.Route("POST", "/jobs/:jobid/stop", [savepoint](const RestRequest& request) {
    return savepoint(request, "targetDirectory", "", true);
  });
  rest_server_.Route("GET", "/jobs/:jobid/savepoints/:requestid", [this](const RestRequest& request) {
    auto json = dispatcher_->SavepointStatusJson(request.path_params.at("jobid"),
                                                 request.path_params.at("requestid"));
    return json.ok() ? RestResponse::Json(*json) : FromStatus(json.status());
  });
  rest_server_.Route("PATCH", "/jobs/:jobid", [this](const RestRequest& request) {
    auto mode = request.query_params.find("mode");
    std::string m = mode == request.query_params.end() ? "cancel" : mode->second;
    if (m != "cancel") {
      return RestResponse::Error(400, "unsupported mode '" + m + "'; supported: cancel");
    }
    if (auto refused = RefuseIfNotOwner(request)) return std::move(*refused);
    absl::Status status = dispatcher_->Cancel(request.path_params.at("jobid"));
    if (!status.ok()) return FromStatus(status);
    return RestResponse::Json(nlohmann::json::object(), 202);
  });
}

}  // namespace eddy
