// Control-RPC server: accepts TCP connections, checks the version handshake, decodes
// request Envelopes and answers each with the result of its registered method. A broken
// connection (bad frame, failed handshake) is logged and closed; others are not disturbed.
// Methods are registered before Listen(); handlers run on io_context threads, must not
// block, and must be thread-safe if the io_context has several threads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "absl/status/statusor.h"
#include "common/rpc/rpc_connection.h"

namespace eddy::rpc {

/// What a handler knows of the caller.
struct CallContext {
  uint64_t connection_id;
  std::string peer;  // "host:port"
  std::string peer_name;  // from the handshake
};

class RpcServer {
 public:
  using Handler =
      std::function<absl::StatusOr<std::string>(const CallContext&, const std::string& payload)>;

  RpcServer(boost::asio::io_context& io, ConnectionOptions options, std::string name);
  ~RpcServer();

  /// Registers a method taking and returning serialized messages.
  void RegisterRaw(const std::string& method, Handler handler);
  /// Registers a method taking Req and returning Resp (protobuf messages).
  template <typename Req, typename Resp>
  void Register(const std::string& method,
                std::function<absl::StatusOr<Resp>(const CallContext&, const Req&)> handler) {
    RegisterRaw(method, [method, handler = std::move(handler)](
                            const CallContext& ctx,
                            const std::string& payload) -> absl::StatusOr<std::string> {
      Req request;
      if (!request.ParseFromString(payload)) {
        return absl::InvalidArgumentError("cannot decode request of " + method);
      }
      auto response = handler(ctx, request);
      if (!response.ok()) return response.status();
      return response->SerializeAsString();
    });
  }

  /// Sets a function called (on an io thread, without locks held) with the id of every
  /// connection that closes. Call before Listen().
  void OnConnectionClosed(std::function<void(uint64_t connection_id)> on_closed) {
    on_closed_ = std::move(on_closed);
  }
  /// Makes every connection present `credential` in its handshake (Hello.credential); one
  /// that does not is logged and closed before any call is read. Call before Listen().
  void RequireCredential(std::string credential) { credential_ = std::move(credential); }
  /// Binds and starts accepting; port 0 picks a free port. Returns the bound port.
  absl::StatusOr<uint16_t> Listen(const std::string& address, uint16_t port);
  /// Stops accepting and closes every connection.
  void Stop();
  /// Returns the number of open connections.
  size_t connection_count() const;

 private:
  struct Session;
  void Accept(std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor);
  void OnEnvelope(const std::shared_ptr<Session>& session, RpcConnection& conn, Envelope env);

  boost::asio::io_context& io_;
  ConnectionOptions options_;
  std::string name_;
  std::map<std::string, Handler> handlers_;
  std::function<void(uint64_t)> on_closed_;
  std::string credential_;  // empty: any peer may call
  std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  mutable std::mutex mu_;
  std::map<uint64_t, std::shared_ptr<RpcConnection>> connections_;  // guarded by mu_
  std::shared_ptr<bool> alive_;
};

}  // namespace eddy::rpc
