// Fuzzes the control-RPC read path (common/rpc/) with the bytes a JobManager or TaskManager
// reads from a peer on its RPC port: FrameDecoder cuts them into frames, each frame is parsed
// as an Envelope (RpcConnection::OnRead), the first request must be the "_hello" handshake
// (RpcServer::OnEnvelope), and each later payload is parsed as the message its method takes
// (RpcServer::Register), a response's status as RpcClient::OnEnvelope reads it.
// The input is decoded twice, in one read and in reads of varying sizes; both must give the
// same frames and the same error, and the frames re-encoded must give back the stream.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "absl/status/status.h"
#include "common/check.h"
#include "common/proto/job.pb.h"
#include "common/proto/rpc.pb.h"
#include "common/rpc/frame.h"
#include "common/rpc/rpc_connection.h"

namespace {

using eddy::rpc::FrameDecoder;

struct Decoded {
  std::vector<std::string> frames;
  std::string end_status;  // FrameDecoder's state when the stream ends (Finish())
};

// Reads `stream` as RpcConnection::OnRead does, one Feed() per read of the sizes `next_read`
// returns: after each read every whole frame, then the read's error ends the connection.
Decoded Decode(std::string_view stream, size_t max_frame_bytes,
               const std::function<size_t(size_t offset)>& next_read) {
  FrameDecoder decoder(max_frame_bytes);
  Decoded out;
  size_t offset = 0;
  while (offset < stream.size()) {
    const size_t n = std::min(next_read(offset), stream.size() - offset);
    absl::Status fed = decoder.Feed(stream.substr(offset, n));
    offset += n;
    while (auto body = decoder.Next()) out.frames.push_back(std::move(*body));
    if (!fed.ok()) break;
  }
  if (decoder.HasPartialFrame()) (void)decoder.DescribePartial();  // the frame timeout's message
  out.end_status = decoder.Finish().ToString();
  return out;
}

// The request message of every method a JobManager or TaskManager serves.
bool ParseRequest(const std::string& method, const std::string& payload) {
  using namespace eddy::rpc;
  static const std::map<std::string, std::function<bool(const std::string&)>> kMethods = {
      {"RegisterTaskManager", [](const std::string& p) { return RegisterTaskManagerRequest().ParseFromString(p); }},
      {"Heartbeat", [](const std::string& p) { return HeartbeatRequest().ParseFromString(p); }},
      {"UpdateTaskState", [](const std::string& p) { return UpdateTaskStateRequest().ParseFromString(p); }},
      {"AcknowledgeCheckpoint", [](const std::string& p) { return AcknowledgeCheckpointRequest().ParseFromString(p); }},
      {"DeclineCheckpoint", [](const std::string& p) { return DeclineCheckpointRequest().ParseFromString(p); }},
      {"SubmitTasks",
       [](const std::string& p) {
         SubmitTasksRequest request;
         if (!request.ParseFromString(p)) return false;
         eddy::job::JobGraph graph;  // the TaskManager's job runner decodes the graph next
         return graph.ParseFromString(request.job_graph());
       }},
      {"CancelJob", [](const std::string& p) { return JobRequest().ParseFromString(p); }},
      {"ReleaseJob", [](const std::string& p) { return JobRequest().ParseFromString(p); }},
      {"DrainJob", [](const std::string& p) { return JobRequest().ParseFromString(p); }},
      {"TriggerCheckpoint", [](const std::string& p) { return TriggerCheckpointRequest().ParseFromString(p); }},
      {"NotifyCheckpoint", [](const std::string& p) { return NotifyCheckpointRequest().ParseFromString(p); }},
  };
  auto it = kMethods.find(method);
  return it != kMethods.end() && it->second(payload);
}

// What a server and a client do with the envelopes of one connection, until one closes it.
void HandleEnvelopes(const std::vector<std::string>& frames) {
  bool handshaken = false;
  for (const std::string& frame : frames) {
    eddy::rpc::Envelope envelope;
    if (!envelope.ParseFromString(frame)) return;  // undecodable frame: closed
    if (envelope.kind() == eddy::rpc::Envelope::RESPONSE) {
      if (envelope.status_code() != 0) {
        absl::Status status(static_cast<absl::StatusCode>(envelope.status_code()),
                            envelope.status_message());
        EDDY_CHECK(!status.ok());
        (void)status.ToString();
      } else {
        eddy::rpc::HelloAck ack;  // a client's first response is the handshake's
        (void)ack.ParseFromString(envelope.payload());
      }
      continue;
    }
    if (!handshaken) {
      eddy::rpc::Hello hello;
      if (envelope.method() != "_hello" || !hello.ParseFromString(envelope.payload())) return;
      if (hello.protocol_version() != eddy::rpc::kProtocolVersion) return;
      handshaken = true;
      continue;
    }
    (void)ParseRequest(envelope.method(), envelope.payload());
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
  const size_t max_frame_bytes = eddy::rpc::ConnectionOptions{}.max_frame_bytes;

  const Decoded whole = Decode(stream, max_frame_bytes, [](size_t) { return SIZE_MAX; });
  // Reads of 1 to 16 bytes, their sizes taken from the stream itself.
  const Decoded split = Decode(stream, max_frame_bytes, [stream](size_t offset) {
    return size_t{1} + static_cast<uint8_t>(stream[offset]) % 16;
  });
  EDDY_CHECK(whole.frames == split.frames) << whole.frames.size() << " frames in one read, "
                                           << split.frames.size() << " in small reads";
  EDDY_CHECK_EQ(whole.end_status, split.end_status);

  std::string reencoded;
  for (const std::string& frame : whole.frames) reencoded += eddy::rpc::EncodeFrame(frame);
  EDDY_CHECK(stream.substr(0, reencoded.size()) == reencoded)
      << "the frames re-encoded differ from the stream they were read from";
  if (whole.end_status == absl::OkStatus().ToString()) {
    EDDY_CHECK_EQ(reencoded.size(), size) << "a stream that ended cleanly was not all frames";
  }

  HandleEnvelopes(whole.frames);
  return 0;
}
