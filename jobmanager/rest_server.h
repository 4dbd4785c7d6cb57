// The JobManager's HTTP endpoint (Boost.Beast): routes "METHOD /path/:param" patterns to
// handlers that return JSON. Unknown paths answer 404 and known paths with another method
// 405, both as {"errors": [...]}; a handler that throws answers 500 with its message.
// Routes are added before Listen(); handlers run on the io_context's threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace eddy {

struct RestRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string
  std::map<std::string, std::string> path_params;   // ":jobid" -> value
  std::map<std::string, std::string> query_params;  // decoded
  std::map<std::string, std::string> headers;       // lower-case names
  std::string body;
};

struct RestResponse {
  int status = 200;
  std::string body;  // serialized
  std::string content_type = "application/json";

  static RestResponse Json(const nlohmann::json& value, int status = 200);
  /// Returns {"errors": [message]} with `status`.
  static RestResponse Error(int status, const std::string& message);
};

class RestServer {
 public:
  using Handler = std::function<RestResponse(const RestRequest&)>;

  explicit RestServer(boost::asio::io_context& io, size_t max_body_bytes = 64 << 20);
  ~RestServer();

  /// Adds a route; `pattern` segments starting with ':' capture a path parameter.
  void Route(const std::string& method, const std::string& pattern, Handler handler);
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
