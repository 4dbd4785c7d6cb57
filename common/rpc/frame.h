// Length-prefixed framing for the control RPC: a 4-byte big-endian length, then the body.
// FrameDecoder turns a byte stream into whole frames and rejects oversized ones.
// Not thread-safe: one decoder per connection, used by its read loop only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace eddy::rpc {

inline constexpr size_t kFrameHeaderBytes = 4;
/// Version of the control protocol, checked in the handshake.
inline constexpr uint32_t kProtocolVersion = 1;

/// Returns `body` prefixed with its length.
std::string EncodeFrame(std::string_view body);

class FrameDecoder {
 public:
  explicit FrameDecoder(size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

  /// Appends received bytes. Returns an error (and stays failed) when a frame header
  /// announces more than the configured maximum.
  absl::Status Feed(std::string_view bytes);
  /// Returns the next whole frame body, if one has been received.
  std::optional<std::string> Next();
  /// Returns true while part of a frame has been received but not all of it.
  bool HasPartialFrame() const { return buffer_.size() > consumed_; }
  /// Describes the partial frame for error messages ("12 of 4096 bytes").
  std::string DescribePartial() const;
  /// Call at end of stream: an error if the stream stopped inside a frame.
  absl::Status Finish() const;

 private:
  absl::Status CheckHeader();

  size_t max_frame_bytes_;
  std::string buffer_;
  size_t consumed_ = 0;  // bytes of buffer_ already returned as frames
  absl::Status status_;
};

}  // namespace eddy::rpc
