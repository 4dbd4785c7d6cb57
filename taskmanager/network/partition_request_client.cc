#include "taskmanager/network/partition_request_client.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "taskmanager/network/network_environment_impl.h"

namespace eddy::net {
namespace {
constexpr size_t kReadBufferBytes = 128 * 1024;
constexpr std::chrono::milliseconds kMaxRetryBackoff{500};
}  // namespace

PartitionRequestClient::PartitionRequestClient(std::weak_ptr<NetworkEnvironmentImpl> env,
                                               boost::asio::io_context& io,
                                               std::shared_ptr<NetworkStats> stats,
                                               size_t buffer_size,
                                               std::chrono::milliseconds request_timeout,
                                               std::string host, uint16_t port)
    : env_(std::move(env)),
      stats_(std::move(stats)),
      request_timeout_(request_timeout),
      host_(std::move(host)),
      port_(port),
      address_(absl::StrCat(host_, ":", port_)),
      stream_(NetStream::Socket(boost::asio::make_strand(io))),
      resolver_(stream_.get_executor()),
      parser_(buffer_size),
      read_buffer_(new char[kReadBufferBytes]) {}

PartitionRequestClient::~PartitionRequestClient() = default;

void PartitionRequestClient::Start() {
  boost::asio::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->state_ != State::kIdle) return;
    self->state_ = State::kConnecting;
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(self->host_, ec);
    if (!ec) {
      self->stream_.lowest().async_connect(
          boost::asio::ip::tcp::endpoint(address, self->port_),
          [self](const boost::system::error_code& ec) { self->OnConnected(ec); });
      return;
    }
    self->resolver_.async_resolve(
        self->host_, std::to_string(self->port_),
        [self](const boost::system::error_code& ec,
               boost::asio::ip::tcp::resolver::results_type results) {
          if (self->state_ != State::kConnecting) return;
          if (ec) {
            self->OnConnected(ec);
            return;
          }
          boost::asio::async_connect(
              self->stream_.lowest(), results,
              [self](const boost::system::error_code& ec, const boost::asio::ip::tcp::endpoint&) {
                self->OnConnected(ec);
              });
        });
  });
}

void PartitionRequestClient::OnConnected(const boost::system::error_code& ec) {
  if (state_ != State::kConnecting) return;
  if (ec) {
    Fail(absl::UnavailableError(
        absl::StrCat("cannot connect to producer TaskManager at ", address_, ": ", ec.message())));
    return;
  }
  boost::system::error_code ignored;
  stream_.lowest().set_option(boost::asio::ip::tcp::no_delay(true), ignored);
  auto env = env_.lock();
  if (env != nullptr) stream_.UseTls(env->tls());
  stream_.async_handshake(NetStream::Role::kClient,
                          [self = shared_from_this()](const boost::system::error_code& ec) {
                            self->OnHandshake(ec);
                          });
}

void PartitionRequestClient::OnHandshake(const boost::system::error_code& ec) {
  if (state_ != State::kConnecting) return;
  if (ec) {
    EDDY_LOG(WARN) << "data connection to " << address_ << ": TLS handshake failed: " << ec.message();
    Fail(absl::UnavailableError(absl::StrCat("TLS handshake with producer TaskManager at ",
                                             address_, " failed: ", ec.message())));
    return;
  }
  state_ = State::kConnected;
  EDDY_LOG(DEBUG) << "data connection to " << address_ << " established";
  for (auto& [id, channel] : channels_) SendRequest(*channel);
  ReadSome();
  WriteNext();
}

void PartitionRequestClient::AddChannel(std::shared_ptr<RemoteInputChannel> channel) {
  boost::asio::post(stream_.get_executor(), [self = shared_from_this(), channel] {
    if (self->state_ == State::kClosed) {
      channel->Fail(absl::UnavailableError(
          absl::StrCat("connection to producer TaskManager at ", self->address_, " is closed")));
      return;
    }
    self->channels_[channel->id()] = channel;
    if (self->state_ == State::kConnected) self->SendRequest(*channel);
  });
}

void PartitionRequestClient::RemoveChannel(uint32_t channel_id) {
  boost::asio::post(stream_.get_executor(), [self = shared_from_this(), channel_id] {
    if (auto t = self->retry_timers_.find(channel_id); t != self->retry_timers_.end()) {
      t->second->cancel();
      self->retry_timers_.erase(t);
    }
    if (self->channels_.erase(channel_id) == 0) return;
    if (self->state_ == State::kConnected) {
      self->QueueFrame(wire::EncodeChannelMessage(wire::MessageType::kCancelRequest, channel_id));
    }
  });
}

void PartitionRequestClient::AnnounceCredit(std::shared_ptr<RemoteInputChannel> channel) {
  boost::asio::post(stream_.get_executor(), [self = shared_from_this(), channel] {
    uint32_t credit = channel->TakePendingCredit();
    if (credit == 0 || self->state_ != State::kConnected) return;
    auto it = self->channels_.find(channel->id());
    if (it == self->channels_.end() || it->second != channel) return;
    self->QueueFrame(wire::EncodeAddCredit(channel->id(), credit));
  });
}

void PartitionRequestClient::Close(absl::Status reason) {
  boost::asio::post(stream_.get_executor(),
                    [self = shared_from_this(), reason] { self->Fail(reason); });
}

void PartitionRequestClient::SendRequest(RemoteInputChannel& channel) {
  if (!channel.request_deadline) {
    channel.request_deadline = DeadlineAfter(request_timeout_);
  }
  wire::PartitionRequest request;
  request.channel = channel.id();
  request.partition = channel.spec().partition;
  request.subpartition = channel.spec().subpartition;
  request.credit = channel.initial_credit();
  request.credential = channel.spec().credential;
  QueueFrame(wire::EncodePartitionRequest(request));
}

void PartitionRequestClient::QueueFrame(std::string frame) {
  pending_writes_.push_back(std::move(frame));
  WriteNext();
}

void PartitionRequestClient::WriteNext() {
  if (write_in_flight_ || state_ != State::kConnected || pending_writes_.empty()) return;
  writing_.clear();
  std::vector<boost::asio::const_buffer> iov;
  while (!pending_writes_.empty() && writing_.size() < 64) {
    writing_.push_back(std::move(pending_writes_.front()));
    pending_writes_.pop_front();
  }
  iov.reserve(writing_.size());
  for (const std::string& frame : writing_) iov.emplace_back(frame.data(), frame.size());
  write_in_flight_ = true;
  boost::asio::async_write(
      stream_, iov, [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
        self->write_in_flight_ = false;
        if (self->state_ == State::kClosed) return;
        if (ec) {
          self->Fail(absl::UnavailableError(absl::StrCat("connection to producer TaskManager at ",
                                                         self->address_, " lost: ", ec.message())));
          return;
        }
        self->writing_.clear();
        self->WriteNext();
      });
}

void PartitionRequestClient::ReadSome() {
  stream_.async_read_some(boost::asio::buffer(read_buffer_.get(), kReadBufferBytes),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      size_t n) { self->OnRead(ec, n); });
}

void PartitionRequestClient::OnRead(const boost::system::error_code& ec, size_t n) {
  if (state_ == State::kClosed) return;
  if (ec) {
    std::string how = ec == boost::asio::error::eof ? "closed by peer" : ec.message();
    if (parser_.in_frame())
      absl::StrAppend(&how, " inside a frame (", parser_.DescribePartial(), ")");
    Fail(absl::UnavailableError(
        absl::StrCat("connection to producer TaskManager at ", address_, " lost: ", how)));
    return;
  }
  absl::Status fed = parser_.Feed(read_buffer_.get(), n, *this);
  if (state_ == State::kClosed) return;
  if (!fed.ok()) {
    EDDY_LOG(ERROR) << "data connection to " << address_ << ": " << fed.message() << "; closing";
    Fail(absl::DataLossError(absl::StrCat("connection to producer TaskManager at ", address_,
                                          " broken: ", fed.message())));
    return;
  }
  ReadSome();
}

absl::StatusOr<char*> PartitionRequestClient::OnBufferHeader(uint32_t channel_id, uint32_t sequence,
                                                             BufferKind kind,
                                                             size_t payload_bytes) {
  rx_channel_.reset();
  rx_kind_ = kind;
  rx_bytes_ = payload_bytes;
  auto it = channels_.find(channel_id);
  if (it == channels_.end()) return nullptr;  // cancelled meanwhile: discard
  RemoteInputChannel& channel = *it->second;
  if (sequence != channel.next_sequence) {
    return absl::DataLossError(absl::StrCat("buffer ", sequence, " of channel ", channel_id,
                                            " arrived where ", channel.next_sequence,
                                            " was expected"));
  }
  ++channel.next_sequence;
  if (kind == BufferKind::kEndOfPartition) {
    rx_channel_ = it->second;
    return nullptr;
  }
  bool released = false;
  Buffer segment = channel.TakeSegment(&released);
  if (released) return nullptr;
  if (!segment) {
    return absl::DataLossError(
        absl::StrCat("buffer ", sequence, " of channel ", channel_id, " sent without credit"));
  }
  if (payload_bytes > segment.capacity()) {
    return absl::DataLossError(absl::StrCat("buffer of ", payload_bytes, " bytes exceeds the ",
                                            segment.capacity(), " bytes of a network buffer"));
  }
  rx_channel_ = it->second;
  rx_buffer_ = std::move(segment);
  return rx_buffer_.data();
}

absl::Status PartitionRequestClient::OnBufferComplete() {
  stats_->bytes_received_remote.fetch_add(wire::kBufferFrameOverhead + rx_bytes_,
                                          std::memory_order_relaxed);
  stats_->buffers_received_remote.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<RemoteInputChannel> channel = std::move(rx_channel_);
  rx_channel_ = nullptr;
  if (channel == nullptr) return absl::OkStatus();
  if (rx_kind_ == BufferKind::kEndOfPartition) {
    channels_.erase(channel->id());
    channel->Release();
    channel->Deliver(Buffer::EndOfPartition());
    return absl::OkStatus();
  }
  Buffer buffer = std::move(rx_buffer_);
  buffer.set_size(rx_bytes_);
  buffer.set_kind(rx_kind_);
  buffer.AttachRecycler(channel);
  channel->Deliver(std::move(buffer));
  return absl::OkStatus();
}

absl::Status PartitionRequestClient::OnControl(wire::MessageType type, std::string_view body) {
  switch (type) {
    case wire::MessageType::kPartitionNotFound: {
      if (body.size() != 4) return absl::DataLossError("malformed partition-not-found message");
      OnPartitionNotFound(wire::ReadU32(body.data()));
      return absl::OkStatus();
    }
    case wire::MessageType::kErrorResponse: {
      uint32_t channel_id = 0;
      absl::Status error = wire::DecodeErrorResponse(body, &channel_id);
      if (error.code() == absl::StatusCode::kDataLoss && body.size() < 8) return error;
      FailChannel(channel_id,
                  absl::Status(error.code(), absl::StrCat("producer TaskManager at ", address_,
                                                          ": ", error.message())));
      return absl::OkStatus();
    }
    default:
      return absl::DataLossError(
          absl::StrCat("unexpected message type ", static_cast<int>(type), " from a producer"));
  }
}

void PartitionRequestClient::OnPartitionNotFound(uint32_t channel_id) {
  auto it = channels_.find(channel_id);
  if (it == channels_.end()) return;
  std::shared_ptr<RemoteInputChannel> channel = it->second;
  auto now = std::chrono::steady_clock::now();
  auto deadline = channel->request_deadline.value_or(now);
  if (now >= deadline) {
    FailChannel(channel_id,
                absl::NotFoundError(absl::StrCat("partition ", channel->spec().partition.ToString(),
                                                 " (subpartition ", channel->spec().subpartition,
                                                 ") not found at producer TaskManager ", address_,
                                                 " within ", request_timeout_.count(), " ms")));
    return;
  }
  auto delay = std::min(channel->retry_backoff,
                        std::chrono::ceil<std::chrono::milliseconds>(deadline - now));
  channel->retry_backoff = std::min(channel->retry_backoff * 2, kMaxRetryBackoff);
  auto timer = std::make_shared<boost::asio::steady_timer>(stream_.get_executor(), delay);
  retry_timers_[channel_id] = timer;
  timer->async_wait(
      [self = shared_from_this(), timer, channel_id,
       weak = std::weak_ptr<RemoteInputChannel>(channel)](const boost::system::error_code& ec) {
        auto t = self->retry_timers_.find(channel_id);
        if (t != self->retry_timers_.end() && t->second == timer) self->retry_timers_.erase(t);
        if (ec || self->state_ != State::kConnected) return;
        auto it = self->channels_.find(channel_id);
        if (it == self->channels_.end() || it->second != weak.lock()) return;
        self->SendRequest(*it->second);
      });
}

void PartitionRequestClient::FailChannel(uint32_t channel_id, absl::Status status) {
  auto it = channels_.find(channel_id);
  if (it == channels_.end()) return;
  std::shared_ptr<RemoteInputChannel> channel = std::move(it->second);
  channels_.erase(it);
  channel->Release();
  channel->Fail(std::move(status));
}

void PartitionRequestClient::Fail(absl::Status reason) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  closed_ = true;
  resolver_.cancel();
  stream_.Close();
  for (auto& [id, timer] : retry_timers_) timer->cancel();
  retry_timers_.clear();
  auto channels = std::move(channels_);
  channels_.clear();
  pending_writes_.clear();
  rx_buffer_.Reset();
  rx_channel_.reset();
  if (!channels.empty()) {
    EDDY_LOG(WARN) << "data connection to " << address_ << " closed with " << channels.size()
                   << " open channels: " << reason.message();
  }
  for (auto& [id, channel] : channels) {
    channel->Release();
    channel->Fail(reason);
  }
  if (auto env = env_.lock()) env->RemoveClient(this);
}

}  // namespace eddy::net
