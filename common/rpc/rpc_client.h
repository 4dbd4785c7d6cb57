// Control-RPC client: one connection to one server, with request/response correlation and
// a deadline per call. Connect() and Call() block the calling thread, so never call them
// on the io_context's own threads; every method is thread-safe. A lost connection fails
// all calls in flight with UNAVAILABLE; Connect() again to reconnect.
#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/io_context.hpp>

#include "absl/status/statusor.h"
#include "common/rpc/rpc_connection.h"

namespace eddy::rpc {

class RpcClient {
 public:
  RpcClient(boost::asio::io_context& io, ConnectionOptions options, std::string name);
  ~RpcClient();

  /// Connects to host:port and performs the version handshake within `timeout`, presenting
  /// `credential` to a server that requires one (RpcServer::RequireCredential).
  absl::Status Connect(const std::string& host, uint16_t port, std::chrono::milliseconds timeout,
                       const std::string& credential = {});
  /// Sends a request and waits for its response up to `timeout`.
  absl::StatusOr<std::string> CallRaw(const std::string& method, const std::string& payload,
                                      std::chrono::milliseconds timeout);
  /// Typed call with protobuf messages.
  template <typename Resp, typename Req>
  absl::StatusOr<Resp> Call(const std::string& method, const Req& request,
                            std::chrono::milliseconds timeout) {
    auto raw = CallRaw(method, request.SerializeAsString(), timeout);
    if (!raw.ok()) return raw.status();
    Resp response;
    if (!response.ParseFromString(*raw)) {
      return absl::DataLossError("cannot decode response of " + method);
    }
    return response;
  }
  /// Returns true while the connection is open.
  bool connected() const;
  /// Closes the connection; calls in flight fail.
  void Close();
  /// Returns "host:port" of the server, once Connect() was called.
  std::string peer() const;

 private:
  using Pending = std::promise<absl::StatusOr<std::string>>;
  void OnEnvelope(Envelope env);
  void OnClose(uint64_t connection_id, const absl::Status& reason);

  boost::asio::io_context& io_;
  ConnectionOptions options_;
  std::string name_;
  mutable std::mutex mu_;
  std::shared_ptr<RpcConnection> conn_;                        // guarded by mu_
  std::map<uint64_t, std::shared_ptr<Pending>> pending_;       // guarded by mu_
  uint64_t next_correlation_id_ = 1;                           // guarded by mu_
  std::string peer_;                                           // guarded by mu_
  std::shared_ptr<bool> alive_;
};

}  // namespace eddy::rpc
