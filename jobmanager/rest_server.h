// The JobManager's HTTP endpoint (Boost.Beast): routes "METHOD /path/:param" patterns to
// handlers that return JSON. Unknown paths answer 404 and known paths with another method
// 405, both as {"errors": [...]}; a handler that throws answers 500 with its message.
// Routes are added before Listen(); handlers run on the io_context's threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "jobmanager/rest_auth.h"

namespace eddy {

struct RestRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string
  std::map<std::string, std::string> path_params;   // ":jobid" -> value
  std::map<std::string, std::string> query_params;  // decoded
  std::map<std::string, std::string> headers;       // lower-case names
  std::string body;
  /// A large body (or one of unknown length) is not held in memory: it is spooled to this
  /// file while it arrives, `body` stays empty, and the file is removed after the handler.
  std::string body_file;
  /// Who sent it (set by the server once the request is authenticated).
  RestCaller caller;

  /// Sets path and query_params from a request target ("/jobs/x?mode=cancel"), decoding the
  /// query's %XX escapes and '+'.
  void SetTarget(std::string_view target);
  /// Adds a header field: the name lower-cased, a repeated field's values joined by ", ".
  void AddHeader(std::string_view name, std::string_view value);
};

struct RestResponse {
  int status = 200;
  std::string body;  // serialized
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra header fields

  static RestResponse Json(const nlohmann::json& value, int status = 200);
  /// Returns {"errors": [message]} with `status`.
  static RestResponse Error(int status, const std::string& message);
};

class RestServer {
 public:
  using Handler = std::function<RestResponse(const RestRequest&)>;

  explicit RestServer(boost::asio::io_context& io, size_t max_body_bytes = 64 << 20);
  ~RestServer();

  /// Adds a route; `pattern` segments starting with ':' capture a path parameter. The
  /// caller needs `role` (default: viewer for GET and HEAD, submitter otherwise) when
  /// authentication is on.
  void Route(const std::string& method, const std::string& pattern, Handler handler,
             std::optional<RestRole> role = std::nullopt);
  /// Sets who may do what (RestAccessPolicy); before Listen(). Default: everything allowed.
  void SetAccessPolicy(RestAccessPolicy policy);
  /// Serves HTTPS with `tls` (a server context, e.g. RestTlsFromConfig); null: plain HTTP.
  /// Before Listen().
  void SetTls(std::shared_ptr<boost::asio::ssl::context> tls);
  /// Where large request bodies are spooled (created if missing); before Listen(). Default:
  /// the system's temporary directory.
  absl::Status SetSpoolDirectory(const std::string& dir);
  /// Most connections open at once; one more is answered 503 and closed. Before Listen().
  void SetMaxConnections(size_t max_connections);
  /// How long a connection may stay silent (no byte moving either way) before it is closed:
  /// the wait for a request, each read of a body, a response write. Positive; before
  /// Listen(). Default: 60 s.
  void SetIdleTimeout(std::chrono::milliseconds timeout);
  /// Bodies up to this size are held in memory; larger ones go to a spool file.
  static constexpr size_t kInMemoryBodyBytes = 1 << 20;
  /// Binds and starts accepting; port 0 picks a free port. Returns the bound port.
  absl::StatusOr<uint16_t> Listen(const std::string& address, uint16_t port);
  /// Stops accepting and closes open connections.
  void Stop();

  /// Dispatches a request to its route (used by the server, exposed for tests).
  RestResponse Dispatch(const RestRequest& request) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace eddy
