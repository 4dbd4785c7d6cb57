#include "common/rpc/rpc_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace eddy::rpc {

RpcClient::RpcClient(boost::asio::io_context& io, ConnectionOptions options, std::string name)
    : io_(io), options_(options), name_(std::move(name)), alive_(std::make_shared<bool>(true)) {}

RpcClient::~RpcClient() {
  Close();
  alive_.reset();
}

absl::Status RpcClient::Connect(const std::string& host, uint16_t port,
                                std::chrono::milliseconds timeout, const std::string& credential) {
  namespace ip = boost::asio::ip;
  Close();
  std::string peer = absl::StrCat(host, ":", port);
  auto deadline = std::chrono::steady_clock::now() + timeout;

  boost::system::error_code ec;
  ip::tcp::resolver resolver(io_);
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", peer, ": ", ec.message()));
  }
  auto socket = std::make_shared<ip::tcp::socket>(boost::asio::make_strand(io_));
  auto connected = std::make_shared<std::promise<boost::system::error_code>>();
  auto done = connected->get_future();
  boost::asio::async_connect(*socket, endpoints,
                             [connected](const boost::system::error_code& e, const auto&) {
                               connected->set_value(e);
                             });
  if (done.wait_until(deadline) != std::future_status::ready) {
    boost::asio::post(socket->get_executor(), [socket] {
      boost::system::error_code ignored;
      socket->close(ignored);
    });
    done.wait();
    return absl::DeadlineExceededError(
        absl::StrCat("connecting to ", peer, " timed out after ", timeout.count(), "ms"));
  }
  ec = done.get();
  if (ec) return absl::UnavailableError(absl::StrCat("cannot connect to ", peer, ": ", ec.message()));
  socket->set_option(ip::tcp::no_delay(true), ec);

  auto conn =
      std::make_shared<RpcConnection>(std::move(*socket), options_, peer, NetStream::Role::kClient);
  {
    std::lock_guard<std::mutex> lock(mu_);
    conn_ = conn;
    peer_ = peer;
  }
  std::weak_ptr<bool> alive = alive_;
  uint64_t conn_id = conn->id();
  conn->Start(
      [this, alive](RpcConnection&, Envelope env) {
        if (!alive.expired()) OnEnvelope(std::move(env));
      },
      [this, alive, conn_id](RpcConnection&, const absl::Status& reason) {
        if (!alive.expired()) OnClose(conn_id, reason);
      });

  Hello hello;
  hello.set_protocol_version(kProtocolVersion);
  hello.set_peer_name(name_);
  hello.set_eddy_version(EDDY_VERSION);
  hello.set_credential(credential);
  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  auto ack = Call<HelloAck>("_hello", hello, std::max(remaining, std::chrono::milliseconds(1)));
  if (!ack.ok()) {
    Close();
    return absl::Status(ack.status().code(),
                        absl::StrCat("handshake with ", peer, " failed: ", ack.status().message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RpcClient::CallRaw(const std::string& method,
                                               const std::string& payload,
                                               std::chrono::milliseconds timeout) {
  auto pending = std::make_shared<Pending>();
  auto result = pending->get_future();
  uint64_t correlation_id;
  std::shared_ptr<RpcConnection> conn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!conn_ || conn_->closed()) {
      return absl::UnavailableError(
          absl::StrCat("rpc ", method, ": not connected", peer_.empty() ? "" : " to ", peer_));
    }
    conn = conn_;
    correlation_id = next_correlation_id_++;
    pending_[correlation_id] = pending;
  }
  Envelope request;
  request.set_kind(Envelope::REQUEST);
  request.set_correlation_id(correlation_id);
  request.set_method(method);
  request.set_payload(payload);
  conn->Send(request);
  if (result.wait_for(timeout) != std::future_status::ready) {
    std::lock_guard<std::mutex> lock(mu_);
    if (pending_.erase(correlation_id) > 0) {
      return absl::DeadlineExceededError(absl::StrCat("rpc ", method, " to ", conn->peer(),
                                                      " timed out after ", timeout.count(), "ms"));
    }
    // The response raced the deadline and is already set.
  }
  return result.get();
}

void RpcClient::OnEnvelope(Envelope env) {
  if (env.kind() != Envelope::RESPONSE) {
    EDDY_LOG(WARN) << name_ << ": ignoring request frame from server";
    return;
  }
  std::shared_ptr<Pending> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(env.correlation_id());
    if (it == pending_.end()) return;  // its caller gave up waiting
    pending = std::move(it->second);
    pending_.erase(it);
  }
  if (env.status_code() == 0) {
    pending->set_value(std::move(*env.mutable_payload()));
  } else {
    pending->set_value(
        absl::Status(static_cast<absl::StatusCode>(env.status_code()), env.status_message()));
  }
}

void RpcClient::OnClose(uint64_t connection_id, const absl::Status& reason) {
  std::map<uint64_t, std::shared_ptr<Pending>> failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!conn_ || conn_->id() != connection_id) return;
    failed.swap(pending_);
  }
  absl::Status status = reason.ok() ? absl::UnavailableError("connection closed") : reason;
  if (status.code() != absl::StatusCode::kUnavailable) {
    status = absl::UnavailableError(status.message());
  }
  for (auto& [id, pending] : failed) pending->set_value(status);
}

bool RpcClient::connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return conn_ && !conn_->closed();
}

std::string RpcClient::peer() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peer_;
}

void RpcClient::Close() {
  std::shared_ptr<RpcConnection> conn;
  std::map<uint64_t, std::shared_ptr<Pending>> failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    conn = std::move(conn_);
    conn_.reset();
    failed.swap(pending_);
  }
  if (conn) conn->Close();
  for (auto& [id, pending] : failed) pending->set_value(absl::UnavailableError("client closed"));
}

}  // namespace eddy::rpc
