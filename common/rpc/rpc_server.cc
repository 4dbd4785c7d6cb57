#include "common/rpc/rpc_server.h"

#include <boost/asio/strand.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/secrets.h"

namespace eddy::rpc {

struct RpcServer::Session {
  bool handshaken = false;
  CallContext context;
};

namespace {
Envelope MakeResponse(uint64_t correlation_id, const absl::StatusOr<std::string>& result) {
  Envelope response;
  response.set_kind(Envelope::RESPONSE);
  response.set_correlation_id(correlation_id);
  if (result.ok()) {
    response.set_payload(*result);
  } else {
    response.set_status_code(static_cast<int>(result.status().code()));
    response.set_status_message(std::string(result.status().message()));
  }
  return response;
}
}  // namespace

RpcServer::RpcServer(boost::asio::io_context& io, ConnectionOptions options, std::string name)
    : io_(io), options_(options), name_(std::move(name)), alive_(std::make_shared<bool>(true)) {}

RpcServer::~RpcServer() { Stop(); }

void RpcServer::RegisterRaw(const std::string& method, Handler handler) {
  handlers_[method] = std::move(handler);
}

absl::StatusOr<uint16_t> RpcServer::Listen(const std::string& address, uint16_t port) {
  namespace ip = boost::asio::ip;
  boost::system::error_code ec;
  auto addr = ip::make_address(address, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("bad rpc address '", address, "'"));
  auto acceptor = std::make_shared<ip::tcp::acceptor>(boost::asio::make_strand(io_));
  ip::tcp::endpoint endpoint(addr, port);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (!ec) acceptor->listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for rpc on ", address, ":", port, ": ", ec.message()));
  }
  acceptor_ = acceptor;
  Accept(acceptor);
  return acceptor->local_endpoint().port();
}

void RpcServer::Accept(std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor) {
  std::weak_ptr<bool> alive = alive_;
  acceptor->async_accept(
      boost::asio::make_strand(io_),
      [this, acceptor, alive](const boost::system::error_code& ec,
                              boost::asio::ip::tcp::socket socket) {
        if (alive.expired() || !acceptor->is_open()) return;
        if (ec) {
          EDDY_LOG(WARN) << name_ << ": accept failed: " << ec.message();
        } else {
          boost::system::error_code ignored;
          auto remote = socket.remote_endpoint(ignored);
          std::string peer = absl::StrCat(remote.address().to_string(), ":", remote.port());
          socket.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
          auto conn = std::make_shared<RpcConnection>(std::move(socket), options_, peer,
                                                      NetStream::Role::kServer);
          auto session = std::make_shared<Session>();
          session->context.connection_id = conn->id();
          session->context.peer = peer;
          {
            std::lock_guard<std::mutex> lock(mu_);
            connections_[conn->id()] = conn;
          }
          conn->Start(
              [this, session](RpcConnection& c, Envelope env) {
                OnEnvelope(session, c, std::move(env));
              },
              [this, alive](RpcConnection& c, const absl::Status& reason) {
                if (alive.expired()) return;
                EDDY_LOG(DEBUG) << name_ << ": connection " << c.peer()
                                << " closed: " << reason.ToString();
                {
                  std::lock_guard<std::mutex> lock(mu_);
                  connections_.erase(c.id());
                }
                if (on_closed_) on_closed_(c.id());
              });
        }
        Accept(acceptor);
      });
}

void RpcServer::OnEnvelope(const std::shared_ptr<Session>& session, RpcConnection& conn,
                           Envelope env) {
  if (env.kind() != Envelope::REQUEST) {
    EDDY_LOG(ERROR) << name_ << ": unexpected non-request frame from " << conn.peer()
                    << "; closing";
    conn.Close(absl::InvalidArgumentError("unexpected response frame"));
    return;
  }
  if (!session->handshaken) {
    Hello hello;
    if (env.method() != "_hello" || !hello.ParseFromString(env.payload())) {
      EDDY_LOG(ERROR) << name_ << ": connection from " << conn.peer()
                      << " did not start with a handshake; closing";
      conn.Close(absl::FailedPreconditionError("missing handshake"));
      return;
    }
    if (hello.protocol_version() != kProtocolVersion) {
      std::string message =
          absl::StrCat("protocol version mismatch: peer '", absl::CHexEscape(hello.peer_name()), "' speaks ",
                       hello.protocol_version(), ", ", name_, " speaks ", kProtocolVersion);
      EDDY_LOG(ERROR) << name_ << ": " << message << " (" << conn.peer() << "); closing";
      conn.Send(MakeResponse(env.correlation_id(), absl::FailedPreconditionError(message)));
      conn.CloseWhenFlushed(absl::FailedPreconditionError(message));
      return;
    }
    if (!credential_.empty() && !SecretMatches(credential_, hello.credential())) {
      std::string message = absl::StrCat(
          name_, " accepts calls only from the JobManager it registered with; '",
          absl::CHexEscape(hello.peer_name()), "' at ", conn.peer(),
          hello.credential().empty() ? " presented no credential" : " presented a wrong credential");
      EDDY_LOG(WARN) << "refused a connection: " << message;
      conn.Send(MakeResponse(env.correlation_id(), absl::PermissionDeniedError(message)));
      conn.CloseWhenFlushed(absl::PermissionDeniedError(message));
      return;
    }
    session->handshaken = true;
    session->context.peer_name = hello.peer_name();
    HelloAck ack;
    ack.set_protocol_version(kProtocolVersion);
    ack.set_peer_name(name_);
    conn.Send(MakeResponse(env.correlation_id(), ack.SerializeAsString()));
    return;
  }
  auto it = handlers_.find(env.method());
  absl::StatusOr<std::string> result =
      it == handlers_.end()
          ? absl::StatusOr<std::string>(
                absl::UnimplementedError(absl::StrCat("unknown rpc method '", env.method(), "'")))
          : it->second(session->context, env.payload());
  conn.Send(MakeResponse(env.correlation_id(), result));
}

void RpcServer::Stop() {
  if (acceptor_) {
    auto acceptor = acceptor_;
    boost::asio::post(acceptor->get_executor(), [acceptor] {
      boost::system::error_code ignored;
      acceptor->close(ignored);
    });
    acceptor_.reset();
  }
  std::map<uint64_t, std::shared_ptr<RpcConnection>> connections;
  {
    std::lock_guard<std::mutex> lock(mu_);
    connections.swap(connections_);
  }
  for (auto& [id, conn] : connections) conn->Close();
}

size_t RpcServer::connection_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_.size();
}

}  // namespace eddy::rpc
