// Fuzzes what the JobManager's REST endpoint (jobmanager/rest_server.cc) does with the bytes
// of one connection: Beast reads requests from them with the server's limits (Beast's default
// header limit, rest.server.max-content-length as body limit) through the same read calls as
// a session (read_header, then read for the body), in reads of varying sizes; each request
// read whole becomes a RestRequest (RestRequest::SetTarget, AddHeader: path, query decoding,
// header folding) and goes through RestServer::Dispatch over the JobManager's routes, on a
// server without access control and on one with bearer tokens and an origin allow-list
// (RestAccessPolicy: method, content-type and Origin checks, CORS preflight, tokens, roles).
// The handlers here do the request parsing the real ones do: multipart uploads
// (ParseMultipart), run requests (ParseRunRequest, ValidateJobGraph), savepoint bodies, the
// cancel mode. A keep-alive request is followed by the next one, as in the server.
// Checked: no handler throws (500); with tokens, no handler runs for a request without a
// token of a role the route needs.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/system_error.hpp>
#include <google/protobuf/stubs/logging.h>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "common/check.h"
#include "common/config.h"
#include "common/logging.h"
#include "common/multipart.h"
#include "jobmanager/job_graph_validator.h"
#include "jobmanager/rest_auth.h"
#include "jobmanager/rest_server.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// A connection's socket as Beast's synchronous reads see it: the input in reads of 1 to 64
// bytes (sizes taken from the input), then end of stream.
class InputStream {
 public:
  explicit InputStream(std::string_view input) : input_(input) {}

  template <typename MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    if (pos_ == input_.size()) {
      ec = asio::error::eof;
      return 0;
    }
    ec = {};
    size_t n = std::min<size_t>(1 + static_cast<uint8_t>(input_[pos_]) % 64, input_.size() - pos_);
    n = asio::buffer_copy(buffers, asio::const_buffer(input_.data() + pos_, n));
    pos_ += n;
    return n;
  }
  template <typename MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    size_t n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

 private:
  std::string_view input_;
  size_t pos_ = 0;
};

// Tokens of the server with access control (written to a tokens file at start), for the
// roles viewer, submitter and admin; make_fuzz_corpus.cc uses them in seeds and dictionary.
constexpr const char* kTokens[] = {"viewer-token-0123", "submitter-token-4567", "admin-token-89ab"};

// Set by every handler: the caller the server authenticated for the request it handles.
std::optional<eddy::RestCaller> g_handled_by;

std::string HeaderOr(const eddy::RestRequest& request, const std::string& name) {
  auto it = request.headers.find(name);
  return it == request.headers.end() ? "" : it->second;
}

eddy::RestResponse Ok() { return eddy::RestResponse::Json(nlohmann::json::object()); }

// Wraps a handler so that the fuzzer knows it ran, and for whom.
eddy::RestServer::Handler Noting(eddy::RestServer::Handler handler) {
  return [handler = std::move(handler)](const eddy::RestRequest& request) {
    g_handled_by = request.caller;
    return handler(request);
  };
}

// The body checks of POST /jobs/{id}/savepoints and /stop (job_routes.cc).
eddy::RestResponse Savepoint(const eddy::RestRequest& request, const char* dir_field) {
  nlohmann::json body = request.body.empty() ? nlohmann::json::object()
                                             : nlohmann::json::parse(request.body, nullptr, false);
  if (!body.is_object()) return eddy::RestResponse::Error(400, "not a JSON object");
  if (body.contains(dir_field) && !body[dir_field].is_string()) {
    return eddy::RestResponse::Error(400, "not a string");
  }
  if (body.contains("drain") && !body["drain"].is_boolean()) {
    return eddy::RestResponse::Error(400, "not a boolean");
  }
  (void)request.path_params.at("jobid");
  return Ok();
}

// The JobManager's routes (jobmanager.cc RegisterRestRoutes, job_routes.cc RegisterJobRoutes),
// each with the default role of its method, as there.
std::unique_ptr<eddy::RestServer> MakeServer(asio::io_context& io, size_t max_body_bytes,
                                             std::optional<eddy::RestAccessPolicy> policy) {
  using eddy::RestRequest;
  using eddy::RestResponse;
  auto server = std::make_unique<eddy::RestServer>(io, max_body_bytes);
  if (policy) server->SetAccessPolicy(std::move(*policy));
  auto route = [&](const char* method, const char* pattern, eddy::RestServer::Handler handler) {
    server->Route(method, pattern, Noting(std::move(handler)));
  };
  for (const char* path : {"/overview", "/taskmanagers", "/healthz", "/jobmanager/config",
                           "/metrics", "/jars", "/jobs", "/jobs/overview"}) {
    route("GET", path, [](const RestRequest&) { return Ok(); });
  }
  for (const char* path :
       {"/jobs/:jobid", "/jobs/:jobid/exceptions", "/jobs/:jobid/latency",
        "/jobs/:jobid/checkpoints", "/jobs/:jobid/checkpoints/config"}) {
    route("GET", path, [](const RestRequest& request) {
      (void)request.path_params.at("jobid");
      return Ok();
    });
  }
  route("GET", "/jobs/:jobid/vertices/:vertexid/watermarks", [](const RestRequest& request) {
    (void)request.path_params.at("jobid");
    (void)request.path_params.at("vertexid");
    return Ok();
  });
  route("GET", "/jobs/:jobid/savepoints/:requestid", [](const RestRequest& request) {
    (void)request.path_params.at("jobid");
    (void)request.path_params.at("requestid");
    return Ok();
  });
  route("POST", "/jars/upload", [](const RestRequest& request) {
    auto parts = eddy::ParseMultipart(HeaderOr(request, "content-type"), request.body);
    if (!parts.ok()) return RestResponse::Error(400, std::string(parts.status().message()));
    for (const auto& part : *parts) {
      if (!part.filename.empty() && part.body.empty()) return RestResponse::Error(400, "empty");
    }
    return Ok();
  });
  route("POST", "/jars/:jarid/run", [](const RestRequest& request) {
    (void)request.path_params.at("jarid");
    auto run = eddy::ParseRunRequest(request.body);
    if (!run.ok()) return RestResponse::Error(400, std::string(run.status().message()));
    absl::Status valid = eddy::ValidateJobGraph(run->graph);
    if (!valid.ok()) return RestResponse::Error(400, std::string(valid.message()));
    return Ok();
  });
  route("POST", "/jobs/:jobid/savepoints",
        [](const RestRequest& request) { return Savepoint(request, "target-directory"); });
  route("POST", "/jobs/:jobid/stop",
        [](const RestRequest& request) { return Savepoint(request, "targetDirectory"); });
  route("PATCH", "/jobs/:jobid", [](const RestRequest& request) {
    auto mode = request.query_params.find("mode");
    if (mode != request.query_params.end() && mode->second != "cancel") {
      return RestResponse::Error(400, "unsupported mode '" + mode->second + "'");
    }
    (void)request.path_params.at("jobid");
    return RestResponse::Json(nlohmann::json::object(), 202);
  });
  return server;
}

// The policy of a JobManager with rest.auth.tokens-file (one token per role), the default
// open paths and one allowed origin.
eddy::RestAccessPolicy TokenPolicy() {
  char path[] = "/tmp/eddy-rest-fuzz-tokens-XXXXXX";
  const int fd = mkstemp(path);
  EDDY_CHECK(fd >= 0) << "cannot create a tokens file";
  const std::string text = std::string("# token role name\n") + kTokens[0] + " viewer alice\n" +
                           kTokens[1] + " submitter bob\n" + kTokens[2] + " admin\n";
  EDDY_CHECK_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  auto policy = eddy::RestAccessPolicy::Load(
      {.tokens_file = path, .open_paths = {"/healthz", "/metrics"},
       .allowed_origins = {"http://127.0.0.1:8081"}});
  unlink(path);
  EDDY_CHECK(policy.ok()) << policy.status();
  EDDY_CHECK(policy->authentication_enabled());
  return std::move(*policy);
}

}  // namespace

// Protobuf logs every string field that is not UTF-8; the fuzzer makes many.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  eddy::SetLogLevel(eddy::LogLevel::kError);  // refused tokens are logged as warnings
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const size_t max_body_bytes =
      static_cast<size_t>(eddy::Config().GetMemorySize(eddy::opt::kRestMaxContentLength));
  static asio::io_context io;  // never run: the server only dispatches, it does not listen
  static const std::unique_ptr<eddy::RestServer> open_server =
      MakeServer(io, max_body_bytes, std::nullopt);
  static const std::unique_ptr<eddy::RestServer> token_server =
      MakeServer(io, max_body_bytes, TokenPolicy());

  InputStream stream(std::string_view(reinterpret_cast<const char*>(data), size));
  beast::flat_buffer buffer;
  buffer.reserve(64 * 1024);
  // Requests on one connection until it is closed or a request fails to parse; a failed one
  // is answered 400, 413 or 431 (Session::OnReadError) and ends the connection.
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(max_body_bytes);
    boost::system::error_code ec;
    http::read_header(stream, buffer, parser, ec);
    if (!ec && !parser.is_done()) http::read(stream, buffer, parser, ec);
    if (ec) {
      EDDY_CHECK(ec != http::error::need_more) << "a read ended needing more input";
      break;
    }
    EDDY_CHECK(parser.is_done());
    http::request<http::string_body> message = parser.release();

    eddy::RestRequest request;
    request.method = std::string(message.method_string());
    request.SetTarget(std::string_view(message.target().data(), message.target().size()));
    for (const auto& field : message) {
      request.AddHeader(std::string_view(field.name_string().data(), field.name_string().size()),
                        std::string_view(field.value().data(), field.value().size()));
    }
    request.body = std::move(message.body());
    EDDY_CHECK(request.path.find('?') == std::string::npos) << request.path;

    for (const auto* server : {open_server.get(), token_server.get()}) {
      g_handled_by.reset();
      eddy::RestResponse response = server->Dispatch(request);
      // 500 is what Dispatch answers when a handler throws: bad input must get a 4xx.
      EDDY_CHECK(response.status >= 200 && response.status < 500)
          << response.status << " " << response.body;
      if (response.content_type == "application/json") {
        EDDY_CHECK(nlohmann::json::accept(response.body)) << response.body;
      }
      if (server == token_server.get() && g_handled_by && request.path != "/healthz" &&
          request.path != "/metrics") {
        // A handler ran: the request must carry a token whose role the route needs.
        const std::string auth = HeaderOr(request, "authorization");
        const int role = static_cast<int>(g_handled_by->role);
        EDDY_CHECK(role >= 1 && role <= 3) << role;
        EDDY_CHECK(auth.find(kTokens[role - 1]) != std::string::npos)
            << request.method << " " << request.path << " ran as " << g_handled_by->principal
            << " with Authorization '" << auth << "'";
        EDDY_CHECK_GE(role, static_cast<int>(eddy::DefaultRole(request.method)))
            << request.method << " " << request.path << " ran as " << g_handled_by->principal;
      }
    }
    if (!message.keep_alive()) break;
  }
  return 0;
}
