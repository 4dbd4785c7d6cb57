// PartitionRequestClient: the consumer's one TCP connection to a producer TaskManager's
// data port, shared by every remote input channel reading from that TaskManager. Sends
// PartitionRequest / AddCredit / CancelRequest, retries requests answered PartitionNotFound
// with backoff until the channel's deadline, and copies each BufferResponse payload straight
// from the socket into one of the channel's exclusive buffers. A broken connection fails
// every channel on it. All state lives on the connection's strand; the public methods may
// be called from any thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/net_stream.h"
#include "taskmanager/network/data_protocol.h"
#include "taskmanager/network/single_input_gate.h"

namespace eddy::net {

class NetworkEnvironmentImpl;

class PartitionRequestClient final : public std::enable_shared_from_this<PartitionRequestClient>,
                                     private wire::FrameSink {
 public:
  PartitionRequestClient(std::weak_ptr<NetworkEnvironmentImpl> env, boost::asio::io_context& io,
                         std::shared_ptr<NetworkStats> stats, size_t buffer_size,
                         std::chrono::milliseconds request_timeout, std::string host,
                         uint16_t port);
  ~PartitionRequestClient() override;

  /// Starts connecting.
  void Start();
  /// Requests the channel's subpartition (once connected).
  void AddChannel(std::shared_ptr<RemoteInputChannel> channel);
  /// Forgets a channel and tells the producer to stop serving it.
  void RemoveChannel(uint32_t channel_id);
  /// Sends the credit the channel has granted since its last announcement.
  void AnnounceCredit(std::shared_ptr<RemoteInputChannel> channel);
  /// Closes the connection, failing every channel on it with `reason`.
  void Close(absl::Status reason);

  /// "host:port" of the producer.
  const std::string& address() const { return address_; }
  bool closed() const { return closed_.load(); }

 private:
  enum class State { kIdle, kConnecting, kConnected, kClosed };

  void OnConnected(const boost::system::error_code& ec);
  void OnHandshake(const boost::system::error_code& ec);
  void ReadSome();
  void OnRead(const boost::system::error_code& ec, size_t n);
  void SendRequest(RemoteInputChannel& channel);
  void QueueFrame(std::string frame);
  void WriteNext();
  void Fail(absl::Status reason);
  void OnPartitionNotFound(uint32_t channel_id);
  void FailChannel(uint32_t channel_id, absl::Status status);

  // wire::FrameSink
  absl::StatusOr<char*> OnBufferHeader(uint32_t channel, uint32_t sequence, BufferKind kind,
                                       size_t payload_bytes) override;
  absl::Status OnBufferComplete() override;
  absl::Status OnControl(wire::MessageType type, std::string_view body) override;

  const std::weak_ptr<NetworkEnvironmentImpl> env_;
  const std::shared_ptr<NetworkStats> stats_;
  const std::chrono::milliseconds request_timeout_;
  const std::string host_;
  const uint16_t port_;
  const std::string address_;
  std::atomic<bool> closed_{false};

  // Strand only.
  NetStream stream_;
  boost::asio::ip::tcp::resolver resolver_;
  State state_ = State::kIdle;
  std::unordered_map<uint32_t, std::shared_ptr<RemoteInputChannel>> channels_;
  std::unordered_map<uint32_t, std::shared_ptr<boost::asio::steady_timer>> retry_timers_;
  std::deque<std::string> pending_writes_;
  std::vector<std::string> writing_;
  bool write_in_flight_ = false;
  wire::FrameParser parser_;
  std::unique_ptr<char[]> read_buffer_;
  // The BufferResponse being received.
  std::shared_ptr<RemoteInputChannel> rx_channel_;
  Buffer rx_buffer_;
  BufferKind rx_kind_ = BufferKind::kData;
  size_t rx_bytes_ = 0;
};

}  // namespace eddy::net
