#include "common/rpc/frame.h"

#include "absl/strings/str_cat.h"

namespace eddy::rpc {
namespace {
uint32_t ReadBigEndian32(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}
}  // namespace

std::string EncodeFrame(std::string_view body) {
  std::string out;
  out.reserve(kFrameHeaderBytes + body.size());
  auto n = static_cast<uint32_t>(body.size());
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.append(body);
  return out;
}

absl::Status FrameDecoder::CheckHeader() {
  size_t available = buffer_.size() - consumed_;
  if (available < kFrameHeaderBytes) return absl::OkStatus();
  uint32_t length = ReadBigEndian32(buffer_.data() + consumed_);
  if (length > max_frame_bytes_) {
    status_ = absl::ResourceExhaustedError(
        absl::StrCat("frame of ", length, " bytes exceeds the limit of ", max_frame_bytes_,
                     " bytes (rpc.max-frame-size)"));
  }
  return status_;
}

absl::Status FrameDecoder::Feed(std::string_view bytes) {
  if (!status_.ok()) return status_;
  buffer_.append(bytes);
  return CheckHeader();
}

std::optional<std::string> FrameDecoder::Next() {
  if (!status_.ok()) return std::nullopt;
  size_t available = buffer_.size() - consumed_;
  if (available < kFrameHeaderBytes) return std::nullopt;
  uint32_t length = ReadBigEndian32(buffer_.data() + consumed_);
  if (available < kFrameHeaderBytes + length) return std::nullopt;
  std::string body = buffer_.substr(consumed_ + kFrameHeaderBytes, length);
  consumed_ += kFrameHeaderBytes + length;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ > (64u << 10)) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  // The next frame's header may already be here; reject it early if oversized.
  (void)CheckHeader();
  return body;
}

std::string FrameDecoder::DescribePartial() const {
  size_t available = buffer_.size() - consumed_;
  if (available < kFrameHeaderBytes) {
    return absl::StrCat(available, " of ", kFrameHeaderBytes, " header bytes");
  }
  uint32_t length = ReadBigEndian32(buffer_.data() + consumed_);
  return absl::StrCat(available - kFrameHeaderBytes, " of ", length, " body bytes");
}

absl::Status FrameDecoder::Finish() const {
  if (!status_.ok()) return status_;
  if (buffer_.size() > consumed_) {
    return absl::DataLossError(absl::StrCat("truncated frame: stream ended after ",
                                            DescribePartial()));
  }
  return absl::OkStatus();
}

}  // namespace eddy::rpc
