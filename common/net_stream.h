// A TCP connection that is either plain or TLS (security.ssl.internal.enabled), with the
// operations the control RPC and the data plane use: async_read_some / async_write_some
// (so boost::asio::async_write works on it), a handshake that is a no-op without TLS, and
// close. The choice is made per connection at run time; handlers see the same signatures
// either way. Not thread-safe: use from the connection's strand only.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

namespace eddy {

class NetStream {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  using executor_type = Socket::executor_type;
  enum class Role { kClient, kServer };

  /// A plain connection over `socket`.
  explicit NetStream(Socket socket) : plain_(std::move(socket)) {}
  /// A TLS connection over `socket` (the handshake is still to be run); `context` may be
  /// null, which makes a plain connection.
  NetStream(Socket socket, std::shared_ptr<boost::asio::ssl::context> context)
      : context_(std::move(context)) {
    if (context_) {
      tls_.emplace(std::move(socket), *context_);
    } else {
      plain_.emplace(std::move(socket));
    }
  }

  executor_type get_executor() { return lowest().get_executor(); }
  Socket& lowest() { return tls_ ? tls_->next_layer() : *plain_; }
  bool tls() const { return tls_.has_value(); }

  /// Turns a plain connection (connected by the caller) into a TLS one with `context`
  /// (null: stays plain). Call before any read or write.
  void UseTls(std::shared_ptr<boost::asio::ssl::context> context) {
    if (!context || tls_) return;
    context_ = std::move(context);
    tls_.emplace(std::move(*plain_), *context_);
    plain_.reset();
  }

  /// Runs the TLS handshake in `role`; without TLS calls `handler` with success (posted).
  template <typename Handler>
  void async_handshake(Role role, Handler&& handler) {
    if (!tls_) {
      boost::asio::post(get_executor(), [h = std::forward<Handler>(handler)]() mutable {
        h(boost::system::error_code());
      });
      return;
    }
    tls_->async_handshake(role == Role::kClient ? boost::asio::ssl::stream_base::client
                                                : boost::asio::ssl::stream_base::server,
                          std::forward<Handler>(handler));
  }

  template <typename MutableBuffers, typename Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_read_some(buffers, std::forward<Handler>(handler));
    } else {
      plain_->async_read_some(buffers, std::forward<Handler>(handler));
    }
  }

  template <typename ConstBuffers, typename Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_write_some(buffers, std::forward<Handler>(handler));
    } else {
      plain_->async_write_some(buffers, std::forward<Handler>(handler));
    }
  }

  /// Shuts the TCP connection down and closes it (no TLS close_notify: the peers of a
  /// cluster treat a closed connection as the end, and a stalled peer cannot hold us).
  void Close() {
    boost::system::error_code ignored;
    lowest().shutdown(Socket::shutdown_both, ignored);
    lowest().close(ignored);
  }

 private:
  std::shared_ptr<boost::asio::ssl::context> context_;  // outlives tls_
  std::optional<Socket> plain_;
  std::optional<boost::asio::ssl::stream<Socket>> tls_;
};

}  // namespace eddy
