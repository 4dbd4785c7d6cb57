// Fuzzes the data plane's read path (taskmanager/network/) with the bytes a TaskManager reads
// from a data connection. wire::FrameParser cuts them into frames twice, once as the producer
// side (PartitionServerConnection: partition requests, credit, cancels) and once as the
// consumer side (PartitionRequestClient: buffers, partition-not-found, errors). Received data
// buffers go through a RecordReader per channel and each record through DecodeElement, event
// buffers through DecodeTaskEvent, as a task reads its input (taskmanager/task.cc).
// Each side reads the input in one read and in reads of varying sizes: both must decode the
// same, and a decoded partition request must encode back to the bytes it came from.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "api/stream_element.h"
#include "common/check.h"
#include "taskmanager/network/buffer.h"
#include "taskmanager/network/data_protocol.h"
#include "taskmanager/network/record_serializer.h"
#include "taskmanager/runtime/task_events.h"

namespace {

namespace net = eddy::net;
namespace wire = eddy::net::wire;
using wire::MessageType;

// What a sink saw, in order; compared between the two ways of reading the same stream.
using Log = std::vector<std::string>;

std::string Hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes.substr(0, 32)) absl::StrAppend(&out, absl::Hex(c));
  return absl::StrCat(bytes.size(), ":", out);
}

// Producer side: the control messages a PartitionServerConnection reads from a consumer.
class ProducerSink : public wire::FrameSink {
 public:
  explicit ProducerSink(Log* log) : log_(log) {}

  absl::StatusOr<char*> OnBufferHeader(uint32_t, uint32_t, net::BufferKind, size_t) override {
    return absl::DataLossError("unexpected buffer response from a consumer");
  }
  absl::Status OnBufferComplete() override { return absl::OkStatus(); }

  absl::Status OnControl(MessageType type, std::string_view body) override {
    switch (type) {
      case MessageType::kPartitionRequest: {
        auto request = wire::DecodePartitionRequest(body);
        if (!request.ok()) return request.status();
        // The frame re-encoded is the prefix (length, type) and the body it came from.
        const std::string frame = wire::EncodePartitionRequest(*request);
        EDDY_CHECK_EQ(frame.size(), wire::kPrefixBytes + body.size());
        EDDY_CHECK(std::string_view(frame).substr(wire::kPrefixBytes) == body)
            << "partition request " << request->partition.ToString() << " re-encodes differently";
        const bool fresh = credit_.emplace(request->channel, request->credit).second;
        log_->push_back(absl::StrCat("request ", request->channel, " ", request->partition.ToString(),
                                     " sub ", request->subpartition, " credit ", request->credit,
                                     fresh ? "" : " (duplicate)"));
        if (!fresh) {
          // The connection answers with an error response; the consumer must decode it.
          const std::string answer = wire::EncodeErrorResponse(
              request->channel, absl::FailedPreconditionError(
                                    absl::StrCat("channel id ", request->channel, " already in use")));
          uint32_t channel = 0;
          absl::Status decoded = wire::DecodeErrorResponse(
              std::string_view(answer).substr(wire::kPrefixBytes), &channel);
          EDDY_CHECK_EQ(channel, request->channel);
          EDDY_CHECK(decoded.code() == absl::StatusCode::kFailedPrecondition) << decoded;
        }
        return absl::OkStatus();
      }
      case MessageType::kAddCredit: {
        if (body.size() != 8) return absl::DataLossError("malformed add-credit message");
        auto it = credit_.find(wire::ReadU32(body.data()));
        if (it == credit_.end()) return absl::OkStatus();
        uint64_t credit = uint64_t{it->second} + wire::ReadU32(body.data() + 4);
        it->second =
            static_cast<uint32_t>(std::min<uint64_t>(credit, std::numeric_limits<uint32_t>::max()));
        log_->push_back(absl::StrCat("credit ", it->first, " = ", it->second));
        return absl::OkStatus();
      }
      case MessageType::kCancelRequest:
        if (body.size() != 4) return absl::DataLossError("malformed cancel message");
        credit_.erase(wire::ReadU32(body.data()));
        log_->push_back(absl::StrCat("cancel ", wire::ReadU32(body.data())));
        return absl::OkStatus();
      default:
        return absl::DataLossError(
            absl::StrCat("unexpected message type ", static_cast<int>(type), " from a consumer"));
    }
  }

 private:
  Log* log_;
  std::map<uint32_t, uint32_t> credit_;  // channel -> credit
};

// Consumer side: what a PartitionRequestClient reads from a producer, and what the task then
// makes of each buffer. Every channel counts as requested until its end of partition.
class ConsumerSink : public wire::FrameSink {
 public:
  ConsumerSink(net::BufferPool* pool, Log* log) : pool_(pool), log_(log) {}

  absl::StatusOr<char*> OnBufferHeader(uint32_t channel_id, uint32_t sequence, net::BufferKind kind,
                                       size_t payload_bytes) override {
    rx_channel_ = nullptr;
    rx_kind_ = kind;
    rx_bytes_ = payload_bytes;
    if (ended_.count(channel_id) != 0) return nullptr;  // released meanwhile: discard
    Channel& channel = channels_[channel_id];
    if (sequence != channel.next_sequence) {
      return absl::DataLossError(absl::StrCat("buffer ", sequence, " of channel ", channel_id,
                                              " arrived where ", channel.next_sequence,
                                              " was expected"));
    }
    ++channel.next_sequence;
    rx_channel_ = &channel;
    rx_channel_id_ = channel_id;
    if (kind == net::BufferKind::kEndOfPartition) return nullptr;
    rx_buffer_ = pool_->TryRequest();
    EDDY_CHECK(static_cast<bool>(rx_buffer_)) << "a buffer was not given back";
    if (payload_bytes > rx_buffer_.capacity()) {
      return absl::DataLossError(absl::StrCat("buffer of ", payload_bytes, " bytes exceeds the ",
                                              rx_buffer_.capacity(), " bytes of a network buffer"));
    }
    return rx_buffer_.data();
  }

  absl::Status OnBufferComplete() override {
    Channel* channel = rx_channel_;
    rx_channel_ = nullptr;
    if (channel == nullptr) return absl::OkStatus();
    const uint32_t id = rx_channel_id_;
    switch (rx_kind_) {
      case net::BufferKind::kEndOfPartition:
        log_->push_back(absl::StrCat("end ", id, " ", Status(channel->reader.Finish())));
        channels_.erase(id);
        ended_.insert(id);
        break;
      case net::BufferKind::kEvent: {
        auto event = eddy::runtime::DecodeTaskEvent(std::string_view(rx_buffer_.data(), rx_bytes_));
        log_->push_back(absl::StrCat("event ", id, " ",
                                     event.ok() ? absl::StrCat(static_cast<int>(event->type), " ",
                                                               event->barrier.ShortDebugString())
                                                : Status(event.status())));
        rx_buffer_.Reset();
        break;
      }
      case net::BufferKind::kData:
        rx_buffer_.set_size(rx_bytes_);
        rx_buffer_.set_kind(net::BufferKind::kData);
        ReadRecords(id, *channel, std::move(rx_buffer_));
        break;
    }
    return absl::OkStatus();
  }

  absl::Status OnControl(MessageType type, std::string_view body) override {
    switch (type) {
      case MessageType::kPartitionNotFound:
        if (body.size() != 4) return absl::DataLossError("malformed partition-not-found message");
        log_->push_back(absl::StrCat("not found ", wire::ReadU32(body.data())));
        return absl::OkStatus();
      case MessageType::kErrorResponse: {
        uint32_t channel_id = 0;
        absl::Status error = wire::DecodeErrorResponse(body, &channel_id);
        if (error.code() == absl::StatusCode::kDataLoss && body.size() < 8) return error;
        EDDY_CHECK(!error.ok()) << "an error response decoded as OK";
        log_->push_back(absl::StrCat("error ", channel_id, " ", Status(error)));
        return absl::OkStatus();
      }
      default:
        return absl::DataLossError(
            absl::StrCat("unexpected message type ", static_cast<int>(type), " from a producer"));
    }
  }

 private:
  struct Channel {
    uint32_t next_sequence = 0;
    net::RecordReader reader;
    bool failed = false;
  };

  static std::string Status(const absl::Status& s) { return s.ToString(); }

  // Reads the records of one data buffer and decodes each as a stream element; a malformed
  // record stream fails that channel's task, not the connection.
  void ReadRecords(uint32_t id, Channel& channel, net::Buffer buffer) {
    if (channel.failed) return;
    channel.reader.SetBuffer(std::move(buffer));
    std::string_view record;
    while (true) {
      auto more = channel.reader.Next(&record);
      if (!more.ok()) {
        log_->push_back(absl::StrCat("records ", id, " ", Status(more.status())));
        channel.failed = true;
        return;
      }
      if (!*more) return;
      eddy::element::ElementView view;
      if (!eddy::element::DecodeElement(record, &view)) {
        log_->push_back(absl::StrCat("malformed element ", id, " ", Hex(record)));
        channel.failed = true;
        channel.reader = net::RecordReader();  // the failed task drops its input
        return;
      }
      log_->push_back(absl::StrCat("element ", id, " ", static_cast<int>(view.tag), " ",
                                   view.time, " ", static_cast<int>(view.status), " ",
                                   view.source, " ", view.subtask, " ", Hex(view.payload)));
    }
  }

  net::BufferPool* pool_;
  Log* log_;
  std::map<uint32_t, Channel> channels_;
  std::set<uint32_t> ended_;
  Channel* rx_channel_ = nullptr;
  uint32_t rx_channel_id_ = 0;
  net::BufferKind rx_kind_ = net::BufferKind::kData;
  size_t rx_bytes_ = 0;
  net::Buffer rx_buffer_;  // declared last: given back to the pool before the sink goes
};

// Reads `stream` as a connection's read loop does, one Feed() per read of the sizes
// `next_read` returns, until the parser fails; returns what the sink saw.
template <typename Sink>
Log Read(std::string_view stream, const std::function<size_t(size_t offset)>& next_read) {
  Log log;
  // One buffer, so that ASan sees the end of its allocation as the end of the buffer.
  net::BufferPool pool(1, net::kDefaultBufferSize);
  {
    std::unique_ptr<Sink> sink;
    if constexpr (std::is_same_v<Sink, ConsumerSink>) {
      sink = std::make_unique<Sink>(&pool, &log);
    } else {
      sink = std::make_unique<Sink>(&log);
    }
    wire::FrameParser parser(pool.buffer_size());
    size_t offset = 0;
    absl::Status status;
    while (offset < stream.size() && status.ok()) {
      const size_t n = std::min(next_read(offset), stream.size() - offset);
      status = parser.Feed(stream.data() + offset, n, *sink);
      offset += n;
    }
    log.push_back(absl::StrCat("status ", status.ToString()));
    if (status.ok() && parser.in_frame()) log.push_back("partial " + parser.DescribePartial());
  }
  EDDY_CHECK_EQ(pool.available(), pool.total()) << "a network buffer was not given back";
  return log;
}

template <typename Sink>
void ReadBothWays(std::string_view stream) {
  const Log whole = Read<Sink>(stream, [](size_t) { return SIZE_MAX; });
  // Reads of 1 to 32 bytes, their sizes taken from the stream itself.
  const Log split = Read<Sink>(stream, [stream](size_t offset) {
    return size_t{1} + static_cast<uint8_t>(stream[offset]) % 32;
  });
  if (whole != split) {
    for (size_t i = 0; i < std::max(whole.size(), split.size()); ++i) {
      fprintf(stderr, "%zu: %s | %s\n", i, i < whole.size() ? whole[i].c_str() : "-",
              i < split.size() ? split[i].c_str() : "-");
    }
    EDDY_CHECK(false) << "reading the stream in one read and in small reads decoded differently";
  }
}

}  // namespace

// Protobuf logs every string field that is not UTF-8; the fuzzer makes many.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view stream(reinterpret_cast<const char*>(data), size);
  ReadBothWays<ProducerSink>(stream);
  ReadBothWays<ConsumerSink>(stream);
  return 0;
}
