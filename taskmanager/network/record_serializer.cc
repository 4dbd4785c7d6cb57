#include "taskmanager/network/record_serializer.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status.h"

namespace eddy::net {
namespace {

constexpr size_t kMaxVarintBytes = 5;  // enough for kMaxRecordBytes
/// How much a spanning record reserves up front: a forged length must not allocate.
constexpr size_t kMaxPartialReserve = size_t{1} << 20;

size_t EncodeVarint(uint64_t value, char* out) {
  size_t n = 0;
  while (value >= 0x80) {
    out[n++] = static_cast<char>(static_cast<uint8_t>(value) | 0x80);
    value >>= 7;
  }
  out[n++] = static_cast<char>(value);
  return n;
}

}  // namespace

RecordWriter::RecordWriter(std::shared_ptr<ResultPartition> partition)
    : partition_(std::move(partition)),
      current_(static_cast<size_t>(partition_->num_subpartitions())),
      windows_(current_.size()) {}

RecordWriter::~RecordWriter() = default;

int RecordWriter::num_channels() const { return static_cast<int>(current_.size()); }

absl::Status RecordWriter::TakeBuffer(int channel) {
  Buffer& buffer = current_[static_cast<size_t>(channel)];
  EDDY_ASSIGN_OR_RETURN(buffer, partition_->RequestBuffer());
  buffer.set_size(0);
  buffer.set_kind(BufferKind::kData);
  windows_[static_cast<size_t>(channel)] = {buffer.data(), buffer.data() + buffer.capacity()};
  if (!has_pending_) {
    has_pending_ = true;
    oldest_pending_ = std::chrono::steady_clock::now();
  }
  return absl::OkStatus();
}

absl::Status RecordWriter::Write(int channel, std::string_view record) {
  EDDY_CHECK(channel >= 0 && channel < num_channels())
      << "channel " << channel << " of " << num_channels();
  if (record.size() > kMaxRecordBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "record of ", record.size(), " bytes exceeds the limit of ", kMaxRecordBytes, " bytes"));
  }
  char prefix[kMaxVarintBytes];
  const size_t prefix_bytes = EncodeVarint(record.size(), prefix);
  WriteWindow& window = windows_[static_cast<size_t>(channel)];
  if (window.free() > prefix_bytes + record.size()) {
    // Common case: the record fits and leaves room, so the buffer stays current.
    std::memcpy(window.pos, prefix, prefix_bytes);
    if (!record.empty()) std::memcpy(window.pos + prefix_bytes, record.data(), record.size());
    window.pos += prefix_bytes + record.size();
    return absl::OkStatus();
  }
  EDDY_RETURN_IF_ERROR(WriteBytes(channel, prefix, prefix_bytes));
  return WriteBytes(channel, record.data(), record.size());
}

absl::Status RecordWriter::WriteBytes(int channel, const char* data, size_t n) {
  WriteWindow& window = windows_[static_cast<size_t>(channel)];
  while (n > 0) {
    if (!current_[static_cast<size_t>(channel)]) EDDY_RETURN_IF_ERROR(TakeBuffer(channel));
    const size_t take = std::min(n, window.free());
    std::memcpy(window.pos, data, take);
    window.pos += take;
    data += take;
    n -= take;
    if (window.free() == 0) EDDY_RETURN_IF_ERROR(Flush(channel));
  }
  return absl::OkStatus();
}

absl::Status RecordWriter::Broadcast(std::string_view record) {
  for (int c = 0; c < num_channels(); ++c) EDDY_RETURN_IF_ERROR(Write(c, record));
  return absl::OkStatus();
}

absl::Status RecordWriter::Flush(int channel) {
  Buffer& buffer = current_[static_cast<size_t>(channel)];
  WriteWindow& window = windows_[static_cast<size_t>(channel)];
  if (buffer && window.pos != buffer.data()) {
    buffer.set_size(static_cast<size_t>(window.pos - buffer.data()));
    partition_->Add(channel, std::move(buffer));
    buffer.Reset();
    window = {};
  }
  return absl::OkStatus();
}

absl::Status RecordWriter::Refill(int channel) {
  EDDY_RETURN_IF_ERROR(Flush(channel));
  if (current_[static_cast<size_t>(channel)]) return absl::OkStatus();  // kept: still empty
  return TakeBuffer(channel);
}

absl::Status RecordWriter::WriteEvent(int channel, std::string_view payload) {
  EDDY_CHECK(channel >= 0 && channel < num_channels())
      << "channel " << channel << " of " << num_channels();
  EDDY_RETURN_IF_ERROR(Flush(channel));
  EDDY_ASSIGN_OR_RETURN(Buffer event, partition_->RequestBuffer());
  if (payload.size() > event.capacity()) {
    return absl::InvalidArgumentError(absl::StrCat("event of ", payload.size(),
                                                   " bytes does not fit a network buffer of ",
                                                   event.capacity(), " bytes"));
  }
  if (!payload.empty()) std::memcpy(event.data(), payload.data(), payload.size());
  event.set_size(payload.size());
  event.set_kind(BufferKind::kEvent);
  partition_->Add(channel, std::move(event));
  return absl::OkStatus();
}

absl::Status RecordWriter::BroadcastEvent(std::string_view payload) {
  for (int c = 0; c < num_channels(); ++c) EDDY_RETURN_IF_ERROR(WriteEvent(c, payload));
  return absl::OkStatus();
}

absl::Status RecordWriter::FlushAll() {
  for (int c = 0; c < num_channels(); ++c) {
    EDDY_RETURN_IF_ERROR(Flush(c));
    // An empty buffer kept current would take bytes without restarting the pending clock.
    current_[static_cast<size_t>(c)].Reset();
    windows_[static_cast<size_t>(c)] = {};
  }
  has_pending_ = false;
  return absl::OkStatus();
}

std::chrono::nanoseconds RecordWriter::OldestPendingAge() const {
  if (!has_pending_) return std::chrono::nanoseconds(0);
  return std::chrono::steady_clock::now() - oldest_pending_;
}

absl::Status RecordWriter::Finish() {
  EDDY_RETURN_IF_ERROR(FlushAll());
  partition_->Finish();
  return absl::OkStatus();
}

void RecordReader::SetBuffer(Buffer buffer) {
  EDDY_CHECK(!buffer_) << "RecordReader::SetBuffer() before the previous buffer was used up";
  if (!status_.ok()) return;
  if (buffer.kind() != BufferKind::kData) {
    status_ = absl::InvalidArgumentError("RecordReader was given a non-data buffer");
    return;
  }
  buffer_ = std::move(buffer);
  pos_ = 0;
}

absl::Status RecordReader::Fail(std::string message) {
  status_ = absl::DataLossError(absl::StrCat("malformed record stream: ", message));
  buffer_.Reset();
  pos_ = 0;
  partial_.clear();
  need_ = 0;
  reading_length_ = false;
  return status_;
}

absl::StatusOr<bool> RecordReader::Next(std::string_view* record) {
  if (!status_.ok()) return status_;
  if (partial_returned_) {
    partial_.clear();
    partial_returned_ = false;
  }
  if (!buffer_) return false;
  const char* data = buffer_.data();
  const size_t size = buffer_.size();
  auto used_up = [&] {
    if (retain_used_) {
      retired_ = std::move(buffer_);  // records returned from it stay valid
    } else {
      buffer_.Reset();
    }
    pos_ = 0;
    return false;
  };
  auto check_length = [&](uint64_t length) -> absl::Status {
    if (length > kMaxRecordBytes) {
      return Fail(absl::StrCat("record length ", length, " exceeds the limit of ", kMaxRecordBytes,
                               " bytes"));
    }
    return absl::OkStatus();
  };

  if (reading_length_) {  // a length prefix continues from the previous buffer
    while (true) {
      if (pos_ == size) return used_up();
      const auto byte = static_cast<uint8_t>(data[pos_++]);
      partial_.push_back(static_cast<char>(byte));
      if ((byte & 0x80) == 0) break;
      if (partial_.size() >= kMaxVarintBytes) return Fail("record length prefix too long");
    }
    uint64_t length = 0;
    for (size_t i = 0; i < partial_.size(); ++i) {
      length |= uint64_t{static_cast<uint8_t>(partial_[i]) & 0x7fu} << (7 * i);
    }
    EDDY_RETURN_IF_ERROR(check_length(length));
    partial_.clear();
    reading_length_ = false;
    if (length == 0) {
      *record = std::string_view();
      return true;
    }
    partial_.reserve(std::min<uint64_t>(length, kMaxPartialReserve));
    need_ = length;
  }

  if (need_ > 0) {  // a record body continues from the previous buffer
    const size_t take = static_cast<size_t>(std::min<uint64_t>(need_, size - pos_));
    partial_.append(data + pos_, take);
    pos_ += take;
    need_ -= take;
    if (need_ > 0) return used_up();
    *record = partial_;
    partial_returned_ = true;
    return true;
  }

  if (pos_ == size) return used_up();
  uint64_t length = 0;
  size_t p = pos_;
  for (size_t i = 0;; ++i) {
    if (p == size) {  // the length prefix spans into the next buffer
      partial_.assign(data + pos_, size - pos_);
      reading_length_ = true;
      return used_up();
    }
    const auto byte = static_cast<uint8_t>(data[p++]);
    length |= uint64_t{byte & 0x7fu} << (7 * i);
    if ((byte & 0x80) == 0) break;
    if (i + 1 >= kMaxVarintBytes) return Fail("record length prefix too long");
  }
  EDDY_RETURN_IF_ERROR(check_length(length));
  pos_ = p;
  if (length <= size - pos_) {
    *record = std::string_view(data + pos_, static_cast<size_t>(length));
    pos_ += static_cast<size_t>(length);
    return true;
  }
  partial_.reserve(std::min<uint64_t>(length, kMaxPartialReserve));
  partial_.assign(data + pos_, size - pos_);
  need_ = length - (size - pos_);
  return used_up();
}

absl::Status RecordReader::Finish() const {
  if (!status_.ok()) return status_;
  if (reading_length_) {
    return absl::DataLossError("malformed record stream: it ended inside a record length");
  }
  if (need_ > 0) {
    return absl::DataLossError(absl::StrCat("malformed record stream: it ended inside a record (",
                                            partial_.size(), " bytes received, ", need_,
                                            " missing)"));
  }
  return absl::OkStatus();
}

}  // namespace eddy::net
