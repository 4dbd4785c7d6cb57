// Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) with the
// project's own encoders, so that each seed is an input the real peer would send, and the
// dictionaries of the text formats (tests/fuzz/<target>.dict) from the project's own names:
//   build/fuzz/fuzz/make_fuzz_corpus tests/fuzz/corpus
// Rerun it when a wire format changes; files are overwritten, none are removed.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/job_builder.h"
#include "api/serde.h"
#include "api/stream_element.h"
#include "common/check.h"
#include "common/config.h"
#include "common/multipart.h"
#include "common/proto/job.pb.h"
#include "common/proto/rpc.pb.h"
#include "common/rpc/frame.h"
#include "taskmanager/network/buffer.h"
#include "taskmanager/network/data_protocol.h"
#include "taskmanager/runtime/task_events.h"
#include "tests/fuzz/serde_fuzz_types.h"

namespace {

namespace fs = std::filesystem;
namespace wire = eddy::net::wire;

fs::path g_root;

void Write(const std::string& target, const std::string& name, std::string_view bytes) {
  fs::create_directories(g_root / target);
  std::ofstream out(g_root / target / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  EDDY_CHECK(out.good()) << "cannot write " << (g_root / target / name);
}

// Writes a libFuzzer dictionary: one quoted token a line, quotes and backslashes escaped with
// a backslash, bytes outside printable ASCII as \xNN.
void WriteDict(const std::string& target, const std::set<std::string>& tokens) {
  std::ofstream out(g_root.parent_path() / (target + ".dict"), std::ios::trunc);
  out << "# Tokens of " << target << "'s input, written by make_fuzz_corpus.cc.\n";
  for (const std::string& token : tokens) {
    out << '"';
    for (unsigned char c : token) {
      if (c == '"' || c == '\\') {
        out << '\\' << c;
      } else if (c < 0x20 || c >= 0x7f) {
        char escaped[5];
        std::snprintf(escaped, sizeof(escaped), "\\x%02X", c);
        out << escaped;
      } else {
        out << c;
      }
    }
    out << "\"\n";
  }
  EDDY_CHECK(out.good()) << "cannot write the dictionary of " << target;
}

// Adds the JSON names of `message`'s fields and enum values, and of the messages it holds.
void AddJsonNames(const google::protobuf::Descriptor* message, std::set<std::string>* tokens) {
  for (int i = 0; i < message->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = message->field(i);
    if (!tokens->insert("\"" + field->json_name() + "\"").second) continue;
    if (field->enum_type() != nullptr) {
      for (int j = 0; j < field->enum_type()->value_count(); ++j) {
        tokens->insert("\"" + field->enum_type()->value(j)->name() + "\"");
      }
    }
    if (field->message_type() != nullptr) AddJsonNames(field->message_type(), tokens);
  }
}

// ---- rpc_frame_fuzz: the bytes of one control-RPC connection ----

std::string Frame(eddy::rpc::Envelope::Kind kind, uint64_t id, const std::string& method,
                  const google::protobuf::MessageLite& payload) {
  eddy::rpc::Envelope envelope;
  envelope.set_kind(kind);
  envelope.set_correlation_id(id);
  envelope.set_method(method);
  envelope.set_payload(payload.SerializeAsString());
  return eddy::rpc::EncodeFrame(envelope.SerializeAsString());
}

std::string Request(uint64_t id, const std::string& method,
                    const google::protobuf::MessageLite& payload) {
  return Frame(eddy::rpc::Envelope::REQUEST, id, method, payload);
}

eddy::job::JobGraph SampleGraph() {
  eddy::job::JobGraph graph;
  graph.set_name("word count");
  graph.set_max_parallelism(128);
  graph.set_default_parallelism(2);
  graph.set_abi_version(eddy::kAbiVersion);
  const char* kinds[] = {"source", "flat_map", "reduce", "sink"};
  for (int i = 0; i < 4; ++i) {
    auto* op = graph.add_operators();
    op->set_id("op" + std::to_string(i));
    op->set_name(kinds[i]);
    op->set_kind(kinds[i]);
    op->set_parallelism(2);
    if (i > 0) op->add_inputs("op" + std::to_string(i - 1));
  }
  auto* head = graph.add_vertices();
  head->set_id("op0");
  head->set_name("source -> flat_map");
  head->set_parallelism(2);
  head->add_operator_ids("op0");
  head->add_operator_ids("op1");
  auto* tail = graph.add_vertices();
  tail->set_id("op2");
  tail->set_name("reduce -> sink");
  tail->set_parallelism(3);
  tail->add_operator_ids("op2");
  tail->add_operator_ids("op3");
  auto* edge = graph.add_edges();
  edge->set_id("e0");
  edge->set_source_vertex("op0");
  edge->set_target_vertex("op2");
  edge->set_partitioning(eddy::job::HASH);
  edge->set_source_operator("op1");
  edge->set_target_operator("op2");
  (*graph.mutable_config())["restart-strategy"] = "fixed-delay";
  (*graph.mutable_config())["execution.checkpointing.interval"] = "10s";
  return graph;
}

void RpcCorpus() {
  const std::string target = "rpc_frame_fuzz";
  eddy::rpc::Hello hello;
  hello.set_protocol_version(eddy::rpc::kProtocolVersion);
  hello.set_peer_name("taskmanager-1");
  hello.set_eddy_version("0.1.0");
  const std::string handshake = Request(1, "_hello", hello);

  eddy::rpc::RegisterTaskManagerRequest registration;
  registration.set_resource_id("tm-1");
  registration.set_host("127.0.0.1");
  registration.set_data_port(6121);
  registration.set_num_slots(4);
  registration.set_rpc_port(6122);
  eddy::rpc::HeartbeatRequest heartbeat;
  heartbeat.set_resource_id("tm-1");
  auto* task = heartbeat.mutable_report()->add_tasks();
  task->set_job_id("0123456789abcdef");
  task->set_vertex_id("op0");
  task->set_state(eddy::rpc::RUNNING);
  task->set_records_in(42);
  task->add_latency()->set_p99_ms(7);
  Write(target, "register_heartbeat",
        handshake + Request(2, "RegisterTaskManager", registration) +
            Request(3, "Heartbeat", heartbeat));

  eddy::rpc::SubmitTasksRequest submit;
  submit.set_job_id("0123456789abcdef");
  submit.set_job_graph(SampleGraph().SerializeAsString());
  submit.set_library_sha256(std::string(64, 'a'));
  auto* deployment = submit.add_tasks();
  deployment->set_vertex_id("op2");
  deployment->set_subtask(1);
  auto* input = deployment->add_inputs();
  input->set_edge_id("e0");
  auto* channel = input->add_channels();
  channel->set_producer_subtask(0);
  channel->set_host("127.0.0.1");
  channel->set_port(6121);
  eddy::rpc::JobRequest cancel;
  cancel.set_job_id("0123456789abcdef");
  cancel.set_attempt(1);
  Write(target, "submit_cancel",
        handshake + Request(2, "SubmitTasks", submit) + Request(3, "CancelJob", cancel));

  eddy::rpc::TriggerCheckpointRequest trigger;
  trigger.set_job_id("0123456789abcdef");
  trigger.mutable_options()->set_checkpoint_id(7);
  trigger.mutable_options()->set_location("file:///tmp/chk-7");
  eddy::rpc::AcknowledgeCheckpointRequest ack;
  ack.set_job_id("0123456789abcdef");
  ack.set_checkpoint_id(7);
  ack.set_state_size(1024);
  eddy::rpc::NotifyCheckpointRequest notify;
  notify.set_job_id("0123456789abcdef");
  notify.set_checkpoint_id(7);
  notify.set_completed(true);
  Write(target, "checkpoint",
        handshake + Request(2, "TriggerCheckpoint", trigger) +
            Request(3, "AcknowledgeCheckpoint", ack) + Request(4, "NotifyCheckpoint", notify));

  eddy::rpc::HelloAck hello_ack;
  hello_ack.set_protocol_version(eddy::rpc::kProtocolVersion);
  hello_ack.set_peer_name("jobmanager");
  eddy::rpc::Envelope failed;
  failed.set_kind(eddy::rpc::Envelope::RESPONSE);
  failed.set_correlation_id(2);
  failed.set_status_code(5);
  failed.set_status_message("job not found");
  Write(target, "responses",
        Frame(eddy::rpc::Envelope::RESPONSE, 1, "", hello_ack) +
            eddy::rpc::EncodeFrame(failed.SerializeAsString()) + eddy::rpc::EncodeFrame(""));
  // A stream that stops inside a frame.
  const std::string whole = handshake + Request(2, "Heartbeat", heartbeat);
  Write(target, "truncated", std::string_view(whole).substr(0, whole.size() - 3));

  WriteDict(target, {"_hello", "RegisterTaskManager", "Heartbeat", "UpdateTaskState",
                     "AcknowledgeCheckpoint", "DeclineCheckpoint", "SubmitTasks", "CancelJob",
                     "ReleaseJob", "DrainJob", "TriggerCheckpoint", "NotifyCheckpoint"});
}

// ---- data_frame_fuzz: the bytes of one data connection (either direction) ----

std::string BufferFrame(uint32_t channel, uint32_t sequence, eddy::net::BufferKind kind,
                        std::string_view payload) {
  std::array<char, wire::kBufferFrameOverhead> header{};
  wire::EncodeBufferResponseHeader(channel, sequence, kind, payload.size(), &header);
  return std::string(header.data(), header.size()) + std::string(payload);
}

// One length-prefixed record (RecordWriter's format) holding a stream element.
std::string Record(std::string_view element) {
  std::string out;
  eddy::PutVarint64(&out, element.size());
  out.append(element);
  return out;
}

std::string RecordElement(eddy::EventTime timestamp, std::string_view value) {
  char header[9];
  size_t n = eddy::element::EncodeRecordHeader(timestamp, header);
  return std::string(header, n) + std::string(value);
}

void DataCorpus() {
  const std::string target = "data_frame_fuzz";
  wire::PartitionRequest request;
  request.channel = 3;
  request.partition.job_id = "0123456789abcdef";
  request.partition.edge_id = "e0";
  request.partition.producer_subtask = 1;
  request.partition.attempt = 0;
  request.subpartition = 2;
  request.credit = 2;
  Write(target, "consumer_requests",
        wire::EncodePartitionRequest(request) + wire::EncodeAddCredit(3, 1) +
            wire::EncodeChannelMessage(wire::MessageType::kCancelRequest, 3));

  // A producer's answer: records (one spanning two buffers), a watermark, a latency marker,
  // a barrier, end of data and end of partition.
  std::string records = Record(RecordElement(eddy::kNoTimestamp, eddy::Serialize(std::string("hello")))) +
                        Record(RecordElement(1700000000000, eddy::Serialize(int64_t{42})));
  char watermark[9];
  watermark[0] = static_cast<char>(eddy::ElementTag::kWatermark);
  eddy::element::PutFixed64(watermark + 1, 1700000000000);
  records += Record(std::string_view(watermark, 9));
  char marker[eddy::element::kLatencyMarkerBytes];
  eddy::element::EncodeLatencyMarker({.marked_time = 1700000000000, .source = 0, .subtask = 1},
                                     marker);
  records += Record(std::string_view(marker, sizeof(marker)));
  const std::string spanning = Record(RecordElement(eddy::kNoTimestamp, std::string(40, 'x')));
  eddy::checkpoint::CheckpointOptions barrier;
  barrier.set_checkpoint_id(7);
  barrier.set_exactly_once(true);
  barrier.set_location("file:///tmp/chk-7");
  Write(target, "producer_buffers",
        BufferFrame(3, 0, eddy::net::BufferKind::kData, records + spanning.substr(0, 10)) +
            BufferFrame(3, 1, eddy::net::BufferKind::kData, spanning.substr(10)) +
            BufferFrame(3, 2, eddy::net::BufferKind::kEvent, eddy::runtime::EncodeBarrier(barrier)) +
            BufferFrame(3, 3, eddy::net::BufferKind::kEvent, eddy::runtime::EncodeEndOfData()) +
            BufferFrame(3, 4, eddy::net::BufferKind::kEndOfPartition, ""));
  Write(target, "producer_errors",
        wire::EncodeChannelMessage(wire::MessageType::kPartitionNotFound, 4) +
            wire::EncodeErrorResponse(5, absl::NotFoundError("no partition e0 of job x")));
}

// ---- rest_request_fuzz: the bytes of one HTTP connection ----

void RestCorpus() {
  const std::string target = "rest_request_fuzz";
  Write(target, "gets_keep_alive",
        "GET /jobs/overview HTTP/1.1\r\nHost: 127.0.0.1:8081\r\n\r\n"
        "GET /jobs/0123456789abcdef/vertices/op0/watermarks?x=1&y=a%20b+c HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\nAccept: application/json\r\nAccept: */*\r\n\r\n"
        "GET /jobs/a%2Fb/checkpoints/config HTTP/1.1\r\nConnection: close\r\n\r\n");
  auto [content_type, body] = eddy::BuildMultipartFile("jarfile", "word_count.so", "\x7f" "ELF...");
  Write(target, "upload",
        "POST /jars/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + content_type +
            "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  std::string graph_json;
  EDDY_CHECK(google::protobuf::util::MessageToJsonString(SampleGraph(), &graph_json).ok());
  const std::string run = nlohmann::json{{"jobGraph", nlohmann::json::parse(graph_json)},
                                         {"jobName", "wc"}}
                              .dump();
  Write(target, "run",
        "POST /jars/abc_word_count.so/run HTTP/1.1\r\nContent-Type: application/json\r\n"
        "Expect: 100-continue\r\nContent-Length: " +
            std::to_string(run.size()) + "\r\n\r\n" + run);
  Write(target, "savepoint_chunked",
        "POST /jobs/0123456789abcdef/savepoints HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        "10\r\n{\"target-directo\r\n"
        "1a\r\nry\": \"/tmp/sp\", \"drain\": 1}\r\n0\r\n\r\n"
        "PATCH /jobs/0123456789abcdef?mode=cancel HTTP/1.0\r\n\r\n");
  Write(target, "not_found_405", "DELETE /jobs HTTP/1.1\r\n\r\nGET /nope/%zz%41 HTTP/1.1\r\n\r\n");
  // With the tokens of rest_request_fuzz.cc's access-controlled server.
  Write(target, "tokens_origin",
        "OPTIONS /jobs/x HTTP/1.1\r\nOrigin: http://127.0.0.1:8081\r\n\r\n"
        "GET /jobs HTTP/1.1\r\nAuthorization: Bearer viewer-token-0123\r\n\r\n"
        "PATCH /jobs/x?mode=cancel HTTP/1.1\r\nAuthorization: bearer admin-token-89ab\r\n"
        "Origin: http://127.0.0.1:8081\r\n\r\n"
        "POST /jobs/x/stop HTTP/1.1\r\nAuthorization: Bearer submitter-token-4567\r\n"
        "Content-Type: application/json; charset=utf-8\r\nContent-Length: 15\r\n\r\n"
        "{\"drain\": true}"
        "POST /jobs/x/savepoints HTTP/1.1\r\nContent-Type: text/plain\r\n"
        "Content-Length: 2\r\n\r\n{}");

  WriteDict(target,
            {"GET ", "POST ", "PATCH ", "HEAD ", " HTTP/1.1\r\n", " HTTP/1.0\r\n", "\r\n\r\n",
             "Host: ", "Content-Length: ", "Transfer-Encoding: chunked\r\n", "Connection: close",
             "Connection: keep-alive", "Expect: 100-continue", "Content-Type: ",
             "multipart/form-data; boundary=", "application/json", "Content-Disposition: form-data; ",
             "name=\"jarfile\"", "filename=\"", "\r\n--", "--\r\n", "/overview", "/taskmanagers",
             "/healthz", "/jobmanager/config", "/metrics", "/jars", "/jars/upload", "/run", "/jobs",
             "/jobs/overview", "/exceptions", "/vertices/", "/watermarks", "/latency",
             "/checkpoints", "/config", "/savepoints", "/stop", "/blobs/", "?mode=cancel", "&", "=",
             "%2F", "+", "\"target-directory\"", "\"targetDirectory\"", "\"cancel-job\"",
             "\"drain\"", "\"jobGraph\"", "0\r\n\r\n", "OPTIONS ", "DELETE ",
             "Authorization: Bearer ", "viewer-token-0123", "submitter-token-4567",
             "admin-token-89ab", "Origin: http://127.0.0.1:8081", "Origin: ", "text/plain",
             "application/x-www-form-urlencoded", "; charset=utf-8"});
}

// ---- job_graph_json_fuzz: POST /jars/{id}/run bodies ----

void JobGraphCorpus() {
  const std::string target = "job_graph_json_fuzz";
  auto body = [](const eddy::job::JobGraph& graph) {
    std::string graph_json;
    EDDY_CHECK(google::protobuf::util::MessageToJsonString(graph, &graph_json).ok());
    return nlohmann::json{{"jobGraph", nlohmann::json::parse(graph_json)},
                          {"jobName", "word count"},
                          {"programArgsList", nlohmann::json::array({"--input", "/tmp/in"})},
                          {"parallelism", 2}};
  };
  eddy::job::JobGraph graph = SampleGraph();
  Write(target, "word_count", body(graph).dump());

  eddy::job::JobGraph forward = graph;
  forward.mutable_vertices(1)->set_parallelism(2);
  forward.mutable_edges(0)->set_partitioning(eddy::job::FORWARD);
  (*forward.mutable_config())["restart-strategy"] = "exponential-delay";
  nlohmann::json restore = body(forward);
  restore["savepointPath"] = "file:///tmp/savepoints/sp-1";
  restore["allowNonRestoredState"] = true;
  Write(target, "forward_restore", restore.dump());

  eddy::job::JobGraph broadcast = graph;
  broadcast.mutable_edges(0)->set_partitioning(eddy::job::BROADCAST);
  auto* again = broadcast.add_edges();  // a second input of the sink vertex
  *again = broadcast.edges(0);
  again->set_id("e1");
  again->set_partitioning(eddy::job::REBALANCE);
  broadcast.set_bounded(true);
  (*broadcast.mutable_config())["execution.runtime-mode"] = "BATCH";
  Write(target, "broadcast_rebalance", body(broadcast).dump(2));

  eddy::job::JobGraph cycle = graph;
  auto* back = cycle.add_edges();
  back->set_source_vertex("op2");
  back->set_target_vertex("op0");
  back->set_partitioning(eddy::job::REBALANCE);
  Write(target, "cycle", body(cycle).dump());

  std::set<std::string> tokens = {"\"jobGraph\"", "\"jobName\"", "\"savepointPath\"",
                                  "\"allowNonRestoredState\"", "\"fixed-delay\"",
                                  "\"exponential-delay\"", "\"none\"", "\"BATCH\"",
                                  "\"STREAMING\"", "\"10s\"", "\"64mb\"",
                                  std::to_string(eddy::kAbiVersion)};
  AddJsonNames(eddy::job::JobGraph::descriptor(), &tokens);
  for (std::string_view key : eddy::JobConfigKeys()) tokens.insert("\"" + std::string(key) + "\"");
  WriteDict(target, tokens);
}

// ---- serde_fuzz: one byte picking the type, then a value's encoding ----

template <typename T>
struct IsVector : std::false_type {};
template <typename T, typename A>
struct IsVector<std::vector<T, A>> : std::true_type {};

// Returns a value of T with every field set (containers hold two elements, nesting stops at
// depth 3), built from `seed`.
template <typename T>
T Sample(int seed, int depth = 0) {
  T value{};
  if constexpr (std::is_same_v<T, bool>) {
    value = seed % 2 == 1;
  } else if constexpr (std::is_enum_v<T>) {
    value = static_cast<T>(1);
  } else if constexpr (std::is_arithmetic_v<T>) {
    value = static_cast<T>(seed * 37 - 5);
  } else if constexpr (std::is_same_v<T, std::string>) {
    value = "s" + std::to_string(seed);
  } else if constexpr (requires { value.count(); typename T::period; }) {
    value = T(seed * 1000);
  } else if constexpr (requires { value.value(); typename T::value_type; } &&
                       !requires { value.has_value(); }) {
    value = T(Sample<typename T::value_type>(seed, depth));  // NamedType ids
  } else if constexpr (requires { value.has_value(); }) {
    value = Sample<typename T::value_type>(seed, depth + 1);
  } else if constexpr (requires { typename T::mapped_type; }) {
    if (depth < 3) {
      for (int i = 0; i < 2; ++i) {
        value.emplace(Sample<typename T::key_type>(seed + i, depth + 1),
                      Sample<typename T::mapped_type>(seed + i, depth + 1));
      }
    }
  } else if constexpr (requires { typename T::key_type; }) {
    if (depth < 3) {
      for (int i = 0; i < 2; ++i) value.insert(Sample<typename T::key_type>(seed + i, depth + 1));
    }
  } else if constexpr (IsVector<T>::value) {
    if (depth < 3) {
      for (int i = 0; i < 2; ++i) value.push_back(Sample<typename T::value_type>(seed + i, depth + 1));
    }
  } else if constexpr (std::is_same_v<T, eddy::connectors::nexmark::Event>) {
    value.kind = eddy::connectors::nexmark::EventKind::kBid;
    value.bid = Sample<eddy::connectors::nexmark::Bid>(seed, depth + 1);
  } else if constexpr (std::is_same_v<T, eddy::checkpoint::CheckpointOptions>) {
    value.set_checkpoint_id(seed);
    value.set_location("file:///tmp/chk");
  } else if constexpr (std::is_same_v<T, eddy::job::JobGraph>) {
    value = SampleGraph();
  } else if constexpr (std::is_same_v<T, eddy::job::OperatorDef>) {
    value.set_id("op" + std::to_string(seed));
    value.add_inputs("op0");
  } else if constexpr (requires { eddy::kFieldCount<T>; }) {
    eddy::ForEachField(value, [&](std::string_view, auto& field) {
      field = Sample<std::remove_cvref_t<decltype(field)>>(seed + 1, depth + 1);
    });
  } else if constexpr (requires { std::tuple_size<T>::value; }) {
    std::apply([&](auto&... elements) {
      int i = 0;
      ((elements = Sample<std::remove_cvref_t<decltype(elements)>>(seed + i++, depth + 1)), ...);
      (void)i;
    }, value);
  }
  return value;
}

template <size_t I>
void SerdeCase() {
  using T = typename std::tuple_element_t<I, fuzz::Cases>::type;
  const std::string prefix(1, static_cast<char>(I));
  Write("serde_fuzz", "case" + std::to_string(I) + "_empty", prefix + eddy::Serialize(T{}));
  Write("serde_fuzz", "case" + std::to_string(I) + "_sample", prefix + eddy::Serialize(Sample<T>(1)));
}

template <size_t... I>
void SerdeCorpus(std::index_sequence<I...>) {
  (SerdeCase<I>(), ...);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " <corpus dir, e.g. tests/fuzz/corpus>\n";
    return 2;
  }
  g_root = argv[1];
  RpcCorpus();
  DataCorpus();
  RestCorpus();
  JobGraphCorpus();
  SerdeCorpus(std::make_index_sequence<fuzz::kNumCases>());
  std::cout << "seed corpora written to " << g_root << "\n";
  return 0;
}
