// One control-RPC TCP connection: reads frames into Envelopes, writes Envelopes in order,
// and closes itself on a broken stream (truncated, oversized or undecodable frame, or a
// partial frame that stalls longer than the frame timeout). With TLS (ConnectionOptions::tls)
// it runs the handshake first, within the frame timeout; nothing is read or written before
// it succeeded, and a failed one closes the connection with its reason. Used by both RpcServer and
// RpcClient. All socket work runs on the connection's strand; Send() and Close() may be
// called from any thread.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "absl/status/status.h"
#include "common/proto/rpc.pb.h"
#include "common/net_stream.h"
#include "common/rpc/frame.h"

namespace eddy::rpc {

struct ConnectionOptions {
  size_t max_frame_bytes = 16u << 20;
  /// How long a partially received frame may wait for its remaining bytes.
  std::chrono::milliseconds frame_timeout{10000};
  /// Mutual TLS (security.ssl.internal.*); null: plain TCP.
  std::shared_ptr<boost::asio::ssl::context> tls;
};

class RpcConnection : public std::enable_shared_from_this<RpcConnection> {
 public:
  using EnvelopeHandler = std::function<void(RpcConnection&, Envelope)>;
  /// Called once when the connection closes; OK for an orderly close.
  using CloseHandler = std::function<void(RpcConnection&, const absl::Status&)>;

  /// `role`: which side of the TLS handshake this end plays (the accepting side is the
  /// server).
  RpcConnection(boost::asio::ip::tcp::socket socket, ConnectionOptions options,
                std::string peer, NetStream::Role role);

  /// Starts the read loop. Handlers run on the connection's strand.
  void Start(EnvelopeHandler on_envelope, CloseHandler on_close);
  /// Queues an envelope for writing.
  void Send(const Envelope& envelope);
  /// Closes the socket; `reason` is passed to the close handler.
  void Close(absl::Status reason = absl::OkStatus());
  /// Closes the socket once every queued envelope has been written.
  void CloseWhenFlushed(absl::Status reason);

  const std::string& peer() const { return peer_; }
  uint64_t id() const { return id_; }
  bool closed() const { return closed_.load(); }

 private:
  void OnHandshake(const boost::system::error_code& ec);
  void ReadSome();
  void OnRead(const boost::system::error_code& ec, size_t n);
  void WriteNext();
  void CloseOnStrand(absl::Status reason);
  void ArmFrameTimer();

  NetStream stream_;
  const NetStream::Role role_;
  boost::asio::steady_timer frame_timer_;
  ConnectionOptions options_;
  std::string peer_;
  uint64_t id_;
  FrameDecoder decoder_;
  std::array<char, 64 * 1024> read_buffer_;
  std::deque<std::string> write_queue_;
  EnvelopeHandler on_envelope_;
  CloseHandler on_close_;
  std::atomic<bool> closed_{false};
  bool timer_armed_ = false;
  bool handshaken_ = false;  // reads and writes start once the TLS handshake is done
  std::optional<absl::Status> close_after_flush_;
};

}  // namespace eddy::rpc
