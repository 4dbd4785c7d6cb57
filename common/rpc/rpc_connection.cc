#include "common/rpc/rpc_connection.h"

#include <atomic>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace eddy::rpc {
namespace {
std::atomic<uint64_t> g_next_connection_id{1};
}

RpcConnection::RpcConnection(boost::asio::ip::tcp::socket socket, ConnectionOptions options,
                             std::string peer, NetStream::Role role)
    : stream_(std::move(socket), options.tls),
      role_(role),
      frame_timer_(stream_.get_executor()),
      options_(options),
      peer_(std::move(peer)),
      id_(g_next_connection_id.fetch_add(1)),
      decoder_(options.max_frame_bytes) {}

void RpcConnection::Start(EnvelopeHandler on_envelope, CloseHandler on_close) {
  on_envelope_ = std::move(on_envelope);
  on_close_ = std::move(on_close);
  boost::asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (self->closed_) return;
    if (self->stream_.tls()) {
      // A peer that connects and never completes the handshake must not hold a connection.
      self->timer_armed_ = true;
      self->frame_timer_.expires_after(self->options_.frame_timeout);
      self->frame_timer_.async_wait([self](const boost::system::error_code& ec) {
        if (ec || self->closed_ || self->handshaken_) return;
        self->OnHandshake(boost::asio::error::timed_out);
      });
    }
    self->stream_.async_handshake(self->role_, [self](const boost::system::error_code& ec) {
      self->OnHandshake(ec);
    });
  });
}

void RpcConnection::OnHandshake(const boost::system::error_code& ec) {
  if (closed_ || handshaken_) return;
  if (ec) {
    std::string message = absl::StrCat("TLS handshake with ", peer_, " failed: ",
                                       ec == boost::asio::error::timed_out
                                           ? absl::StrCat("not done within ", options_.frame_timeout.count(), "ms")
                                           : ec.message());
    // A peer that closed before sending anything (a TCP liveness probe, a port scan) is
    // not worth a warning; a failed exchange is.
    const bool silent_close = ec == boost::asio::error::eof ||
                              ec == boost::asio::ssl::error::stream_truncated;
    if (silent_close) {
      EDDY_LOG(DEBUG) << "rpc: " << message << "; closing";
    } else {
      EDDY_LOG(WARN) << "rpc: " << message << "; closing";
    }
    CloseOnStrand(absl::UnavailableError(message));
    return;
  }
  handshaken_ = true;
  if (timer_armed_) {
    timer_armed_ = false;
    frame_timer_.cancel();
  }
  ReadSome();
  if (!write_queue_.empty()) WriteNext();
}

void RpcConnection::ReadSome() {
  if (closed_) return;
  stream_.async_read_some(boost::asio::buffer(read_buffer_),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      size_t n) { self->OnRead(ec, n); });
}

void RpcConnection::OnRead(const boost::system::error_code& ec, size_t n) {
  if (closed_) return;
  if (ec) {
    if (ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset) {
      absl::Status tail = decoder_.Finish();
      if (!tail.ok()) {
        EDDY_LOG(ERROR) << "rpc connection from " << peer_ << ": " << tail.message()
                        << "; closing";
      }
      CloseOnStrand(tail.ok() ? absl::UnavailableError(absl::StrCat("connection to ", peer_,
                                                                    " closed by peer"))
                              : tail);
    } else {
      CloseOnStrand(absl::UnavailableError(
          absl::StrCat("connection to ", peer_, " failed: ", ec.message())));
    }
    return;
  }
  absl::Status fed = decoder_.Feed(std::string_view(read_buffer_.data(), n));
  while (auto body = decoder_.Next()) {
    Envelope envelope;
    if (!envelope.ParseFromString(*body)) {
      EDDY_LOG(ERROR) << "rpc connection from " << peer_ << ": undecodable frame of "
                      << body->size() << " bytes; closing";
      CloseOnStrand(absl::DataLossError(absl::StrCat("undecodable frame from ", peer_)));
      return;
    }
    on_envelope_(*this, std::move(envelope));
    if (closed_) return;
  }
  if (!fed.ok()) {
    EDDY_LOG(ERROR) << "rpc connection from " << peer_ << ": " << fed.message() << "; closing";
    CloseOnStrand(fed);
    return;
  }
  ArmFrameTimer();
  ReadSome();
}

void RpcConnection::ArmFrameTimer() {
  if (!decoder_.HasPartialFrame()) {
    if (timer_armed_) {
      frame_timer_.cancel();
      timer_armed_ = false;
    }
    return;
  }
  if (timer_armed_) return;  // the deadline runs from the first byte of the frame
  timer_armed_ = true;
  frame_timer_.expires_after(options_.frame_timeout);
  frame_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->closed_ || !self->timer_armed_) return;
    std::string message =
        absl::StrCat("truncated frame: only ", self->decoder_.DescribePartial(), " arrived within ",
                     self->options_.frame_timeout.count(), "ms");
    EDDY_LOG(ERROR) << "rpc connection from " << self->peer_ << ": " << message << "; closing";
    self->CloseOnStrand(absl::DataLossError(message));
  });
}

void RpcConnection::Send(const Envelope& envelope) {
  std::string frame = EncodeFrame(envelope.SerializeAsString());
  boost::asio::post(stream_.get_executor(),
                    [self = shared_from_this(), frame = std::move(frame)]() mutable {
                      if (self->closed_) return;
                      self->write_queue_.push_back(std::move(frame));
                      if (self->write_queue_.size() == 1 && self->handshaken_) self->WriteNext();
                    });
}

void RpcConnection::WriteNext() {
  boost::asio::async_write(
      stream_, boost::asio::buffer(write_queue_.front()),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
        if (self->closed_) return;
        if (ec) {
          self->CloseOnStrand(absl::UnavailableError(
              absl::StrCat("write to ", self->peer_, " failed: ", ec.message())));
          return;
        }
        self->write_queue_.pop_front();
        if (!self->write_queue_.empty()) {
          self->WriteNext();
        } else if (self->close_after_flush_) {
          self->CloseOnStrand(*self->close_after_flush_);
        }
      });
}

void RpcConnection::Close(absl::Status reason) {
  boost::asio::post(stream_.get_executor(), [self = shared_from_this(), reason] {
    self->CloseOnStrand(reason);
  });
}

void RpcConnection::CloseWhenFlushed(absl::Status reason) {
  boost::asio::post(stream_.get_executor(), [self = shared_from_this(), reason] {
    if (self->write_queue_.empty() || !self->handshaken_) {
      self->CloseOnStrand(reason);
    } else {
      self->close_after_flush_ = reason;
    }
  });
}

void RpcConnection::CloseOnStrand(absl::Status reason) {
  if (closed_.exchange(true)) return;
  stream_.Close();
  frame_timer_.cancel();
  write_queue_.clear();
  if (on_close_) {
    auto handler = std::move(on_close_);
    on_close_ = nullptr;
    handler(*this, reason);
  }
  on_envelope_ = nullptr;
}

}  // namespace eddy::rpc
