// PartitionServerConnection: the producer side of one data connection accepted on the
// TaskManager's data port. Serves the subpartitions consumers request over it: polls a
// subpartition only while its channel has credit (one credit = one data or event buffer),
// writes BufferResponse frames straight from the partition's buffers (header + payload
// gathered in one write, several frames per write) and drops each buffer once written, which
// frees the producer's quota. A malformed or truncated frame closes this connection only.
// All state lives on the connection's strand; Close() and NotifyDataAvailable() may be
// called from any thread.
#pragma once

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/net_stream.h"
#include "taskmanager/network/data_protocol.h"
#include "taskmanager/network/pipelined_partition.h"

namespace eddy::net {

class NetworkEnvironmentImpl;

class PartitionServerConnection final
    : public std::enable_shared_from_this<PartitionServerConnection>,
      private wire::FrameSink {
 public:
  PartitionServerConnection(boost::asio::ip::tcp::socket socket,
                            std::weak_ptr<NetworkEnvironmentImpl> env,
                            std::shared_ptr<NetworkStats> stats, size_t buffer_size,
                            std::chrono::milliseconds frame_timeout, std::string peer,
                            std::shared_ptr<boost::asio::ssl::context> tls);
  ~PartitionServerConnection() override;

  /// Runs the TLS handshake (if any, within the frame timeout), then the read loop.
  void Start();
  /// Closes the connection and lets go of every subpartition it serves.
  void Close(absl::Status reason);
  /// Called by a served subpartition that received data (any thread).
  void NotifyDataAvailable(uint32_t channel_id);

  const std::string& peer() const { return peer_; }

 private:
  struct ServedChannel {
    uint32_t id = 0;
    std::shared_ptr<PipelinedPartition> partition;
    int subpartition = 0;
    uint32_t credit = 0;
    uint32_t sequence = 0;
    bool maybe_available = true;     // the subpartition may hold buffers
    bool head_needs_credit = false;  // ... and the first is not an end-of-partition
    bool queued = false;             // in ready_
  };
  struct OutFrame {
    std::array<char, wire::kBufferFrameOverhead> header{};
    Buffer buffer;        // BufferResponse payload (kind != kEndOfPartition)
    std::string control;  // or a whole control frame
    bool is_buffer = false;
  };

  void ReadSome();
  void OnRead(const boost::system::error_code& ec, size_t n);
  /// Arms (or disarms) the deadline for the partial frame received so far.
  void ArmFrameTimer();
  void CloseOnStrand(const absl::Status& reason);
  void MaybeEnqueue(ServedChannel& channel);
  void DropChannel(uint32_t channel_id);
  void QueueControl(std::string frame);
  void WriteNext();
  void OnWritten(const boost::system::error_code& ec);
  absl::Status OnPartitionRequest(std::string_view body);

  // wire::FrameSink
  absl::StatusOr<char*> OnBufferHeader(uint32_t channel, uint32_t sequence, BufferKind kind,
                                       size_t payload_bytes) override;
  absl::Status OnBufferComplete() override;
  absl::Status OnControl(wire::MessageType type, std::string_view body) override;

  const std::weak_ptr<NetworkEnvironmentImpl> env_;
  const std::shared_ptr<NetworkStats> stats_;
  const std::chrono::milliseconds frame_timeout_;
  const std::string peer_;

  // Strand only.
  NetStream stream_;
  bool handshaken_ = false;  // reads start once the TLS handshake is done
  boost::asio::steady_timer frame_timer_;
  bool frame_timer_armed_ = false;
  bool closed_ = false;
  wire::FrameParser parser_;
  std::unique_ptr<char[]> read_buffer_;
  std::unordered_map<uint32_t, ServedChannel> channels_;
  std::deque<uint32_t> ready_;  // channels with data and credit, round robin
  std::deque<std::string> control_;
  std::vector<OutFrame> batch_;  // being written
  std::vector<boost::asio::const_buffer> iov_;
  bool write_in_flight_ = false;
};

}  // namespace eddy::net
