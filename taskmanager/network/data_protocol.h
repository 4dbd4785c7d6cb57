// Wire format of the data plane (one TCP connection per pair of TaskManagers, opened by the
// consumer). Every frame is [u32 big-endian length][u8 message type][body], the length
// counting type and body. BufferResponse bodies are a fixed 9-byte header (receiver channel,
// sequence number, kind) followed by the buffer's bytes, which FrameParser hands straight
// into the receiver's buffer instead of copying the frame first. Not thread-safe: one
// parser per connection, used by its read loop only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "taskmanager/network/buffer.h"
#include "taskmanager/network/network_environment.h"

namespace eddy::net::wire {

enum class MessageType : uint8_t {
  // consumer -> producer
  kPartitionRequest = 1,  // channel, subpartition, initial credit, partition id, credential
  kAddCredit = 2,         // channel, credit
  kCancelRequest = 3,     // channel: the consumer no longer reads it
  // producer -> consumer
  kBufferResponse = 10,     // channel, sequence number, kind, payload
  kPartitionNotFound = 11,  // channel: not (yet) produced there; the consumer retries
  kErrorResponse = 12,      // channel, status code, message: the channel failed there
};

inline constexpr size_t kLengthBytes = 4;
inline constexpr size_t kPrefixBytes = 5;                // length + type
inline constexpr size_t kBufferResponseHeaderBytes = 9;  // channel u32, sequence u32, kind u8
/// Bytes a BufferResponse adds to its payload on the wire.
inline constexpr size_t kBufferFrameOverhead = kPrefixBytes + kBufferResponseHeaderBytes;
/// Largest body of a control message (partition requests carry two ids).
inline constexpr size_t kMaxControlBodyBytes = 64 * 1024;

struct PartitionRequest {
  uint32_t channel = 0;
  PartitionId partition;
  int32_t subpartition = 0;
  uint32_t credit = 0;
  std::string credential;  // the job's data-plane credential
};

std::string EncodePartitionRequest(const PartitionRequest& request);
absl::StatusOr<PartitionRequest> DecodePartitionRequest(std::string_view body);
/// Encodes AddCredit, CancelRequest and PartitionNotFound (channel [, value]).
std::string EncodeAddCredit(uint32_t channel, uint32_t credit);
std::string EncodeChannelMessage(MessageType type, uint32_t channel);
std::string EncodeErrorResponse(uint32_t channel, const absl::Status& status);
/// Decodes an ErrorResponse body into its channel and status.
absl::Status DecodeErrorResponse(std::string_view body, uint32_t* channel);

/// Writes the first kBufferFrameOverhead bytes of a BufferResponse frame.
void EncodeBufferResponseHeader(uint32_t channel, uint32_t sequence, BufferKind kind,
                                size_t payload_bytes, std::array<char, kBufferFrameOverhead>* out);

uint32_t ReadU32(const char* p);

/// Receives what FrameParser decodes; its errors close the connection.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  /// A BufferResponse header arrived; returns where to put the `payload_bytes` that follow
  /// (nullptr: discard them).
  virtual absl::StatusOr<char*> OnBufferHeader(uint32_t channel, uint32_t sequence, BufferKind kind,
                                               size_t payload_bytes) = 0;
  /// The payload announced by the last OnBufferHeader is complete.
  virtual absl::Status OnBufferComplete() = 0;
  /// A control message (any type but kBufferResponse) arrived whole.
  virtual absl::Status OnControl(MessageType type, std::string_view body) = 0;
};

/// Incremental decoder: survives frames split across reads at any byte.
class FrameParser {
 public:
  /// `max_payload_bytes`: the largest BufferResponse payload (the buffer size).
  explicit FrameParser(size_t max_payload_bytes) : max_payload_bytes_(max_payload_bytes) {}

  /// Decodes `n` received bytes, calling `sink` for each complete piece. An error is sticky.
  absl::Status Feed(const char* data, size_t n, FrameSink& sink);
  /// Returns true while part of a frame has been received but not all of it.
  bool in_frame() const { return state_ != State::kPrefix || filled_ > 0; }
  /// Describes the partial frame for error messages.
  std::string DescribePartial() const;

 private:
  enum class State { kPrefix, kBufferHeader, kPayload, kControl };
  absl::Status OnPrefix();

  const size_t max_payload_bytes_;
  State state_ = State::kPrefix;
  std::array<char, kBufferResponseHeaderBytes> header_{};  // prefix, then buffer header
  size_t filled_ = 0;                                      // bytes of header_ received
  uint32_t frame_length_ = 0;
  MessageType type_ = MessageType::kPartitionRequest;
  char* target_ = nullptr;  // payload destination (nullptr: discard)
  size_t payload_bytes_ = 0;
  size_t payload_done_ = 0;
  std::string control_;
  absl::Status status_;
};

}  // namespace eddy::net::wire
