#include "taskmanager/network/partition_server.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "taskmanager/network/network_environment_impl.h"

namespace eddy::net {
namespace {

constexpr size_t kReadBufferBytes = 16 * 1024;
constexpr size_t kMaxFramesPerWrite = 64;
constexpr size_t kMaxBytesPerWrite = 512 * 1024;

/// Forwards "subpartition has data" to the connection's strand.
class ServerChannelListener final : public SubpartitionListener {
 public:
  ServerChannelListener(std::weak_ptr<PartitionServerConnection> conn, uint32_t channel_id)
      : conn_(std::move(conn)), channel_id_(channel_id) {}
  void OnDataAvailable() override {
    if (auto conn = conn_.lock()) conn->NotifyDataAvailable(channel_id_);
  }

 private:
  std::weak_ptr<PartitionServerConnection> conn_;
  uint32_t channel_id_;
};

}  // namespace

PartitionServerConnection::PartitionServerConnection(boost::asio::ip::tcp::socket socket,
                                                     std::weak_ptr<NetworkEnvironmentImpl> env,
                                                     std::shared_ptr<NetworkStats> stats,
                                                     size_t buffer_size,
                                                     std::chrono::milliseconds frame_timeout,
                                                     std::string peer,
                                                     std::shared_ptr<boost::asio::ssl::context> tls)
    : env_(std::move(env)),
      stats_(std::move(stats)),
      frame_timeout_(frame_timeout),
      peer_(std::move(peer)),
      stream_(std::move(socket), std::move(tls)),
      frame_timer_(stream_.get_executor()),
      parser_(buffer_size),
      read_buffer_(new char[kReadBufferBytes]) {}

PartitionServerConnection::~PartitionServerConnection() {
  for (auto& [id, channel] : channels_) channel.partition->DetachReader(channel.subpartition);
}

void PartitionServerConnection::Start() {
  boost::asio::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->closed_) return;
    if (self->stream_.tls()) {
      // A peer that connects and never completes the handshake must not hold a connection.
      self->frame_timer_.expires_after(self->frame_timeout_);
      self->frame_timer_.async_wait([self](const boost::system::error_code& ec) {
        if (ec || self->closed_ || self->handshaken_) return;
        EDDY_LOG(WARN) << "data connection from " << self->peer_ << ": TLS handshake not done within "
                       << self->frame_timeout_.count() << " ms; closing";
        self->CloseOnStrand(absl::DeadlineExceededError("TLS handshake timed out"));
      });
    }
    self->stream_.async_handshake(NetStream::Role::kServer, [self](const boost::system::error_code& ec) {
      if (self->closed_) return;
      if (ec) {
        EDDY_LOG(WARN) << "data connection from " << self->peer_ << ": TLS handshake failed: "
                       << ec.message() << "; closing";
        self->CloseOnStrand(absl::UnavailableError(absl::StrCat("TLS handshake failed: ", ec.message())));
        return;
      }
      self->handshaken_ = true;
      self->frame_timer_.cancel();
      self->ReadSome();
      self->WriteNext();
    });
  });
}

void PartitionServerConnection::Close(absl::Status reason) {
  boost::asio::post(stream_.get_executor(),
                    [self = shared_from_this(), reason] { self->CloseOnStrand(reason); });
}

void PartitionServerConnection::NotifyDataAvailable(uint32_t channel_id) {
  boost::asio::post(stream_.get_executor(), [self = shared_from_this(), channel_id] {
    if (self->closed_) return;
    auto it = self->channels_.find(channel_id);
    if (it == self->channels_.end()) return;
    it->second.maybe_available = true;
    it->second.head_needs_credit = false;  // unknown: polling tells
    self->MaybeEnqueue(it->second);
    self->WriteNext();
  });
}

void PartitionServerConnection::ReadSome() {
  if (closed_) return;
  stream_.async_read_some(boost::asio::buffer(read_buffer_.get(), kReadBufferBytes),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      size_t n) { self->OnRead(ec, n); });
}

void PartitionServerConnection::OnRead(const boost::system::error_code& ec, size_t n) {
  if (closed_) return;
  if (ec) {
    if (parser_.in_frame()) {
      EDDY_LOG(ERROR) << "data connection from " << peer_ << ": truncated frame ("
                      << parser_.DescribePartial() << ") at end of stream; closing";
      CloseOnStrand(absl::DataLossError(
          absl::StrCat("truncated frame from ", peer_, ": ", parser_.DescribePartial())));
    } else {
      CloseOnStrand(absl::UnavailableError(absl::StrCat(
          "connection from ", peer_, " closed: ",
          ec == boost::asio::error::eof ? std::string("closed by peer") : ec.message())));
    }
    return;
  }
  absl::Status fed = parser_.Feed(read_buffer_.get(), n, *this);
  if (closed_) return;
  if (!fed.ok()) {
    EDDY_LOG(ERROR) << "data connection from " << peer_ << ": " << fed.message() << "; closing";
    CloseOnStrand(fed);
    return;
  }
  ArmFrameTimer();
  ReadSome();
}

void PartitionServerConnection::ArmFrameTimer() {
  if (!parser_.in_frame()) {
    if (frame_timer_armed_) {
      frame_timer_armed_ = false;
      frame_timer_.cancel();
    }
    return;
  }
  if (frame_timer_armed_) return;  // the deadline runs from the frame's first byte
  frame_timer_armed_ = true;
  frame_timer_.expires_after(frame_timeout_);
  frame_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->closed_ || !self->frame_timer_armed_) return;
    std::string message = absl::StrCat("truncated frame: only ", self->parser_.DescribePartial(),
                                       " arrived within ", self->frame_timeout_.count(), " ms");
    EDDY_LOG(ERROR) << "data connection from " << self->peer_ << ": " << message << "; closing";
    self->CloseOnStrand(absl::DataLossError(message));
  });
}

void PartitionServerConnection::CloseOnStrand(const absl::Status& reason) {
  if (closed_) return;
  closed_ = true;
  EDDY_LOG(DEBUG) << "data connection from " << peer_ << " closed: " << reason.message();
  stream_.Close();
  frame_timer_armed_ = false;
  frame_timer_.cancel();
  for (auto& [id, channel] : channels_) channel.partition->DetachReader(channel.subpartition);
  channels_.clear();
  ready_.clear();
  control_.clear();
  if (!write_in_flight_) batch_.clear();
  if (auto env = env_.lock()) env->RemoveServerConnection(this);
}

absl::StatusOr<char*> PartitionServerConnection::OnBufferHeader(uint32_t, uint32_t, BufferKind,
                                                                size_t) {
  return absl::DataLossError("unexpected buffer response from a consumer");
}

absl::Status PartitionServerConnection::OnBufferComplete() { return absl::OkStatus(); }

absl::Status PartitionServerConnection::OnControl(wire::MessageType type, std::string_view body) {
  switch (type) {
    case wire::MessageType::kPartitionRequest:
      return OnPartitionRequest(body);
    case wire::MessageType::kAddCredit: {
      if (body.size() != 8) return absl::DataLossError("malformed add-credit message");
      auto it = channels_.find(wire::ReadU32(body.data()));
      if (it == channels_.end()) return absl::OkStatus();  // finished or cancelled meanwhile
      ServedChannel& channel = it->second;
      uint64_t credit = uint64_t{channel.credit} + wire::ReadU32(body.data() + 4);
      channel.credit =
          static_cast<uint32_t>(std::min<uint64_t>(credit, std::numeric_limits<uint32_t>::max()));
      MaybeEnqueue(channel);
      WriteNext();
      return absl::OkStatus();
    }
    case wire::MessageType::kCancelRequest:
      if (body.size() != 4) return absl::DataLossError("malformed cancel message");
      DropChannel(wire::ReadU32(body.data()));
      return absl::OkStatus();
    default:
      return absl::DataLossError(
          absl::StrCat("unexpected message type ", static_cast<int>(type), " from a consumer"));
  }
}

absl::Status PartitionServerConnection::OnPartitionRequest(std::string_view body) {
  auto request = wire::DecodePartitionRequest(body);
  if (!request.ok()) return request.status();
  const uint32_t id = request->channel;
  if (channels_.count(id) != 0) {
    QueueControl(wire::EncodeErrorResponse(
        id, absl::FailedPreconditionError(absl::StrCat("channel id ", id, " already in use"))));
    return absl::OkStatus();
  }
  auto env = env_.lock();
  if (env == nullptr) {
    QueueControl(wire::EncodeErrorResponse(
        id, absl::UnavailableError("the TaskManager's network environment is stopped")));
    return absl::OkStatus();
  }
  std::shared_ptr<PipelinedPartition> partition = env->FindPartition(request->partition);
  if (partition == nullptr) {
    stats_->partition_requests_not_found.fetch_add(1, std::memory_order_relaxed);
    QueueControl(wire::EncodeChannelMessage(wire::MessageType::kPartitionNotFound, id));
    return absl::OkStatus();
  }
  if (!env->CredentialMatches(request->partition.job_id, request->credential)) {
    stats_->partition_requests_refused.fetch_add(1, std::memory_order_relaxed);
    std::string message = absl::StrCat(
        "partition request for ", request->partition.ToString(), " from ", peer_,
        request->credential.empty() ? " carried no credential"
                                    : " carried a credential that is not its job's",
        ": refused");
    EDDY_LOG(WARN) << message;
    QueueControl(wire::EncodeErrorResponse(id, absl::PermissionDeniedError(message)));
    return absl::OkStatus();
  }
  absl::Status attached = partition->AttachReader(
      request->subpartition, std::make_shared<ServerChannelListener>(weak_from_this(), id));
  if (!attached.ok()) {
    QueueControl(wire::EncodeErrorResponse(id, attached));
    return absl::OkStatus();
  }
  ServedChannel channel;
  channel.id = id;
  channel.partition = std::move(partition);
  channel.subpartition = request->subpartition;
  channel.credit = request->credit;
  auto [it, inserted] = channels_.emplace(id, std::move(channel));
  MaybeEnqueue(it->second);
  WriteNext();
  return absl::OkStatus();
}

void PartitionServerConnection::MaybeEnqueue(ServedChannel& channel) {
  if (channel.queued || !channel.maybe_available) return;
  if (channel.credit == 0 && channel.head_needs_credit) return;
  channel.queued = true;
  ready_.push_back(channel.id);
}

void PartitionServerConnection::DropChannel(uint32_t channel_id) {
  auto it = channels_.find(channel_id);
  if (it == channels_.end()) return;
  it->second.partition->DetachReader(it->second.subpartition);
  channels_.erase(it);
}

void PartitionServerConnection::QueueControl(std::string frame) {
  control_.push_back(std::move(frame));
  WriteNext();
}

void PartitionServerConnection::WriteNext() {
  if (write_in_flight_ || closed_ || !handshaken_) return;
  batch_.clear();
  size_t bytes = 0;
  while (!control_.empty() && batch_.size() < kMaxFramesPerWrite) {
    OutFrame frame;
    frame.control = std::move(control_.front());
    control_.pop_front();
    bytes += frame.control.size();
    batch_.push_back(std::move(frame));
  }
  while (!ready_.empty() && batch_.size() < kMaxFramesPerWrite && bytes < kMaxBytesPerWrite) {
    const uint32_t id = ready_.front();
    ready_.pop_front();
    auto it = channels_.find(id);
    if (it == channels_.end()) continue;
    ServedChannel& channel = it->second;
    channel.queued = false;
    auto polled = channel.partition->Poll(channel.subpartition, channel.credit > 0);
    if (!polled.ok()) {
      OutFrame frame;
      frame.control = wire::EncodeErrorResponse(id, polled.status());
      batch_.push_back(std::move(frame));
      DropChannel(id);
      continue;
    }
    if (!polled->buffer) {
      channel.maybe_available = polled->more;
      channel.head_needs_credit = polled->next_needs_credit;
      MaybeEnqueue(channel);
      continue;
    }
    const BufferKind kind = polled->buffer.kind();
    const size_t size = kind == BufferKind::kEndOfPartition ? 0 : polled->buffer.size();
    OutFrame frame;
    frame.is_buffer = true;
    wire::EncodeBufferResponseHeader(id, channel.sequence++, kind, size, &frame.header);
    bytes += wire::kBufferFrameOverhead + size;
    if (kind == BufferKind::kEndOfPartition) {
      batch_.push_back(std::move(frame));
      DropChannel(id);  // the subpartition is consumed
      continue;
    }
    --channel.credit;
    frame.buffer = std::move(polled->buffer);
    batch_.push_back(std::move(frame));
    channel.maybe_available = polled->more;
    channel.head_needs_credit = polled->next_needs_credit;
    MaybeEnqueue(channel);
  }
  if (batch_.empty()) return;
  iov_.clear();
  for (const OutFrame& frame : batch_) {
    if (frame.is_buffer) {
      iov_.emplace_back(frame.header.data(), frame.header.size());
      if (frame.buffer.size() > 0) iov_.emplace_back(frame.buffer.data(), frame.buffer.size());
    } else {
      iov_.emplace_back(frame.control.data(), frame.control.size());
    }
  }
  write_in_flight_ = true;
  boost::asio::async_write(
      stream_, iov_, [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
        self->OnWritten(ec);
      });
}

void PartitionServerConnection::OnWritten(const boost::system::error_code& ec) {
  write_in_flight_ = false;
  if (closed_) {
    batch_.clear();
    return;
  }
  if (ec) {
    batch_.clear();
    CloseOnStrand(absl::UnavailableError(
        absl::StrCat("write to consumer ", peer_, " failed: ", ec.message())));
    return;
  }
  uint64_t bytes = 0, buffers = 0;
  for (const OutFrame& frame : batch_) {
    if (!frame.is_buffer) continue;
    bytes += wire::kBufferFrameOverhead + frame.buffer.size();
    ++buffers;
  }
  stats_->bytes_sent_remote.fetch_add(bytes, std::memory_order_relaxed);
  stats_->buffers_sent_remote.fetch_add(buffers, std::memory_order_relaxed);
  batch_.clear();  // recycles the buffers: frees the producers' quota
  WriteNext();
}

}  // namespace eddy::net
