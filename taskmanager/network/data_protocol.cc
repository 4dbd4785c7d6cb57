#include "taskmanager/network/data_protocol.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace eddy::net::wire {
namespace {

void PutU32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v >> 24));
  out->push_back(static_cast<char>(v >> 16));
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

void PutU32At(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}

void PutString(std::string* out, const std::string& s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

/// Starts a frame of `type` whose body will be `body_bytes` long.
std::string StartFrame(MessageType type, size_t body_bytes) {
  std::string out;
  out.reserve(kPrefixBytes + body_bytes);
  PutU32(&out, static_cast<uint32_t>(1 + body_bytes));
  out.push_back(static_cast<char>(type));
  return out;
}

class BodyReader {
 public:
  explicit BodyReader(std::string_view body) : body_(body) {}
  bool U32(uint32_t* v) {
    if (body_.size() - pos_ < 4) return false;
    *v = ReadU32(body_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool String(std::string* s) {
    uint32_t n = 0;
    if (!U32(&n) || body_.size() - pos_ < n) return false;
    s->assign(body_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == body_.size(); }

 private:
  std::string_view body_;
  size_t pos_ = 0;
};

bool IsControlType(uint8_t t) {
  switch (static_cast<MessageType>(t)) {
    case MessageType::kPartitionRequest:
    case MessageType::kAddCredit:
    case MessageType::kCancelRequest:
    case MessageType::kPartitionNotFound:
    case MessageType::kErrorResponse:
      return true;
    case MessageType::kBufferResponse:
      return false;
  }
  return false;
}

}  // namespace

uint32_t ReadU32(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

std::string EncodePartitionRequest(const PartitionRequest& r) {
  size_t body = 5 * 4 + 12 + r.partition.job_id.size() + r.partition.edge_id.size() +
                r.credential.size();
  std::string out = StartFrame(MessageType::kPartitionRequest, body);
  PutU32(&out, r.channel);
  PutU32(&out, static_cast<uint32_t>(r.subpartition));
  PutU32(&out, r.credit);
  PutU32(&out, static_cast<uint32_t>(r.partition.producer_subtask));
  PutU32(&out, static_cast<uint32_t>(r.partition.attempt));
  PutString(&out, r.partition.job_id);
  PutString(&out, r.partition.edge_id);
  PutString(&out, r.credential);
  return out;
}

absl::StatusOr<PartitionRequest> DecodePartitionRequest(std::string_view body) {
  BodyReader in(body);
  PartitionRequest r;
  uint32_t subpartition = 0, producer = 0, attempt = 0;
  if (!in.U32(&r.channel) || !in.U32(&subpartition) || !in.U32(&r.credit) || !in.U32(&producer) ||
      !in.U32(&attempt) ||
      !in.String(&r.partition.job_id) || !in.String(&r.partition.edge_id) ||
      !in.String(&r.credential) || !in.done()) {
    return absl::DataLossError(
        absl::StrCat("malformed partition request of ", body.size(), " bytes"));
  }
  r.subpartition = static_cast<int32_t>(subpartition);
  r.partition.producer_subtask = static_cast<int32_t>(producer);
  r.partition.attempt = static_cast<int32_t>(attempt);
  return r;
}

std::string EncodeAddCredit(uint32_t channel, uint32_t credit) {
  std::string out = StartFrame(MessageType::kAddCredit, 8);
  PutU32(&out, channel);
  PutU32(&out, credit);
  return out;
}

std::string EncodeChannelMessage(MessageType type, uint32_t channel) {
  std::string out = StartFrame(type, 4);
  PutU32(&out, channel);
  return out;
}

std::string EncodeErrorResponse(uint32_t channel, const absl::Status& status) {
  std::string_view message(status.message().data(), status.message().size());
  message = message.substr(0, kMaxControlBodyBytes - 8);
  std::string out = StartFrame(MessageType::kErrorResponse, 8 + message.size());
  PutU32(&out, channel);
  PutU32(&out, static_cast<uint32_t>(status.code()));
  out.append(message);
  return out;
}

absl::Status DecodeErrorResponse(std::string_view body, uint32_t* channel) {
  if (body.size() < 8) return absl::DataLossError("malformed error response");
  *channel = ReadU32(body.data());
  uint32_t code = ReadU32(body.data() + 4);
  if (code == 0 || code > static_cast<uint32_t>(absl::StatusCode::kUnauthenticated)) {
    code = static_cast<uint32_t>(absl::StatusCode::kUnknown);
  }
  return absl::Status(static_cast<absl::StatusCode>(code),
                      absl::string_view(body.data() + 8, body.size() - 8));
}

void EncodeBufferResponseHeader(uint32_t channel, uint32_t sequence, BufferKind kind,
                                size_t payload_bytes, std::array<char, kBufferFrameOverhead>* out) {
  char* p = out->data();
  PutU32At(p, static_cast<uint32_t>(1 + kBufferResponseHeaderBytes + payload_bytes));
  p[4] = static_cast<char>(MessageType::kBufferResponse);
  PutU32At(p + 5, channel);
  PutU32At(p + 9, sequence);
  p[13] = static_cast<char>(kind);
}

absl::Status FrameParser::OnPrefix() {
  frame_length_ = ReadU32(header_.data());
  uint8_t type = static_cast<uint8_t>(header_[4]);
  if (frame_length_ < 1) return absl::DataLossError("frame without a message type");
  size_t body = frame_length_ - 1;
  if (type == static_cast<uint8_t>(MessageType::kBufferResponse)) {
    if (body < kBufferResponseHeaderBytes ||
        body - kBufferResponseHeaderBytes > max_payload_bytes_) {
      return absl::DataLossError(absl::StrCat("buffer frame of ", frame_length_,
                                              " bytes outside the allowed 10..",
                                              1 + kBufferResponseHeaderBytes + max_payload_bytes_));
    }
    type_ = MessageType::kBufferResponse;
    state_ = State::kBufferHeader;
    return absl::OkStatus();
  }
  if (!IsControlType(type)) {
    return absl::DataLossError(absl::StrCat("unknown message type ", int{type}));
  }
  if (body > kMaxControlBodyBytes) {
    return absl::DataLossError(absl::StrCat("control frame of ", frame_length_,
                                            " bytes exceeds the limit of ",
                                            kMaxControlBodyBytes + 1));
  }
  type_ = static_cast<MessageType>(type);
  control_.clear();
  state_ = State::kControl;
  return absl::OkStatus();
}

absl::Status FrameParser::Feed(const char* data, size_t n, FrameSink& sink) {
  if (!status_.ok()) return status_;
  auto fail = [&](absl::Status s) {
    status_ = std::move(s);
    return status_;
  };
  size_t pos = 0;
  while (true) {
    switch (state_) {
      case State::kPrefix: {
        size_t take = std::min(kPrefixBytes - filled_, n - pos);
        std::memcpy(header_.data() + filled_, data + pos, take);
        filled_ += take;
        pos += take;
        if (filled_ < kPrefixBytes) return absl::OkStatus();
        filled_ = 0;
        if (absl::Status s = OnPrefix(); !s.ok()) return fail(std::move(s));
        break;
      }
      case State::kBufferHeader: {
        size_t take = std::min(kBufferResponseHeaderBytes - filled_, n - pos);
        std::memcpy(header_.data() + filled_, data + pos, take);
        filled_ += take;
        pos += take;
        if (filled_ < kBufferResponseHeaderBytes) return absl::OkStatus();
        filled_ = 0;
        uint32_t channel = ReadU32(header_.data());
        uint32_t sequence = ReadU32(header_.data() + 4);
        uint8_t kind = static_cast<uint8_t>(header_[8]);
        payload_bytes_ = frame_length_ - 1 - kBufferResponseHeaderBytes;
        payload_done_ = 0;
        if (kind > static_cast<uint8_t>(BufferKind::kEvent)) {
          return fail(absl::DataLossError(absl::StrCat("unknown buffer kind ", int{kind})));
        }
        if (kind == static_cast<uint8_t>(BufferKind::kEndOfPartition) && payload_bytes_ != 0) {
          return fail(absl::DataLossError("end-of-partition with a payload"));
        }
        auto target =
            sink.OnBufferHeader(channel, sequence, static_cast<BufferKind>(kind), payload_bytes_);
        if (!target.ok()) return fail(target.status());
        target_ = *target;
        state_ = State::kPayload;
        break;
      }
      case State::kPayload: {
        size_t take = std::min(payload_bytes_ - payload_done_, n - pos);
        if (target_ != nullptr && take > 0) std::memcpy(target_ + payload_done_, data + pos, take);
        payload_done_ += take;
        pos += take;
        if (payload_done_ < payload_bytes_) return absl::OkStatus();
        state_ = State::kPrefix;
        target_ = nullptr;
        if (absl::Status s = sink.OnBufferComplete(); !s.ok()) return fail(std::move(s));
        break;
      }
      case State::kControl: {
        size_t body = frame_length_ - 1;
        size_t take = std::min(body - control_.size(), n - pos);
        control_.append(data + pos, take);
        pos += take;
        if (control_.size() < body) return absl::OkStatus();
        state_ = State::kPrefix;
        if (absl::Status s = sink.OnControl(type_, control_); !s.ok()) return fail(std::move(s));
        break;
      }
    }
    if (pos == n && state_ == State::kPrefix) return absl::OkStatus();
  }
}

std::string FrameParser::DescribePartial() const {
  switch (state_) {
    case State::kPrefix:
      return absl::StrCat(filled_, " of ", kPrefixBytes, " frame header bytes");
    case State::kBufferHeader:
      return absl::StrCat(filled_, " of ", kBufferResponseHeaderBytes, " buffer header bytes");
    case State::kPayload:
      return absl::StrCat(payload_done_, " of ", payload_bytes_, " buffer payload bytes");
    case State::kControl:
      return absl::StrCat(control_.size(), " of ", frame_length_ - 1, " message body bytes");
  }
  return "";
}

}  // namespace eddy::net::wire
