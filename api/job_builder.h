// JobBuilder records the operators a job's builder function declares, with type-erased
// factories that the TaskManager uses to instantiate each operator, network writer and
// record decoder; ToJobGraph() chains operators into vertices and emits the JobGraph proto.
// The builder is deterministic: running the same library with the same arguments gives
// the same operator ids everywhere. Single-threaded (one builder per build).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "api/operator.h"
#include "api/source.h"
#include "common/proto/job.pb.h"
#include "common/write_window.h"

namespace eddy {

/// Version of the job plugin ABI: bump when a type crossing the plugin boundary changes.
inline constexpr uint32_t kJobApiVersion = 1;
/// The full ABI stamp also covers the compiler and standard library layout.
inline constexpr uint32_t kAbiVersion =
    (kJobApiVersion << 16) | (static_cast<uint32_t>(__GNUC__) << 8) |
    (static_cast<uint32_t>(_GLIBCXX_USE_CXX11_ABI) << 4) | static_cast<uint32_t>(sizeof(void*));

/// Writes serialized elements to the channels of one network edge (implemented by the
/// TaskManager's network stack). Writers serialize a record straight into the free part of
/// the channel's current network buffer, window(channel), as a varint length and the
/// element; the virtual calls are for the rare cases: a buffer is full (Refill), an element
/// does not fit (Write, which spans buffers), broadcast. A write fails only when the task
/// is being cancelled; then the writer drops what it is given (windows stay empty) and
/// reports the status once.
class RecordChannelWriter {
 public:
  RecordChannelWriter(int num_channels, WriteWindow* windows)
      : num_channels_(num_channels), windows_(windows) {}
  virtual ~RecordChannelWriter() = default;
  int num_channels() const { return num_channels_; }
  WriteWindow& window(int channel) { return windows_[channel]; }
  /// Sends `channel`'s buffer on if it holds data and takes a fresh one (blocks under
  /// backpressure); the window stays empty only if the task is cancelled.
  virtual void Refill(int channel) = 0;
  /// Appends one element (length-prefixed here), spanning buffers as needed.
  virtual void Write(int channel, std::string_view element) = 0;
  virtual void Broadcast(std::string_view element) = 0;

 private:
  int num_channels_;
  WriteWindow* windows_;
};

/// Decodes the record elements of one channel into batches for an operator input.
class ElementDecoder {
 public:
  virtual ~ElementDecoder() = default;
  /// Decodes `records` (record elements, in order) and hands them to the input as one batch.
  virtual absl::Status DecodeBatch(std::span<const element::ElementView> records) = 0;
};

/// What the task calls to drive a chain's source without knowing its record type.
class SourceOperatorBase {
 public:
  virtual ~SourceOperatorBase() = default;
  /// Emits one unit of input (a batch of records) into the chain.
  virtual InputStatus EmitNext() = 0;
  /// Gives the reader its waker (before Open()).
  virtual void SetWaker(SourceWaker* waker) = 0;
};

/// An instantiated operator and its typed inputs.
struct OperatorInstance {
  std::unique_ptr<StreamOperator> op;
  std::vector<ErasedInput> inputs;       // one per logical input; empty for sources
  SourceOperatorBase* source = nullptr;  // sources only (points into op)
};

/// Everything the builder knows of one operator.
struct OperatorNode {
  std::string id;
  std::string name;
  std::string kind;
  std::string uid;
  int parallelism = 0;  // 0: the job's default
  bool is_source = false;
  bool bounded = false;
  /// Side-output nodes: the OutputTag id of the producer output they read.
  std::string side_tag;
  /// Logical inputs of the operator (1 for union, 2 for connect).
  int num_logical_inputs = 1;

  struct Input {
    int node = -1;
    std::optional<job::Partitioning> partitioning;  // unset: forward if parallelism matches
    int logical_input = 0;  // which input of the operator this stream feeds
    /// Makes the operator (T = the input node's output type) that writes to the network
    /// with the edge's resolved partitioning.
    std::function<std::unique_ptr<StreamOperator>(RecordChannelWriter*, RuntimeContext*,
                                                  job::Partitioning, ErasedInput*)>
        make_writer;
  };
  std::vector<Input> inputs;

  /// Instantiates the operator emitting into `out` (Output<Out>*, nullptr for sinks).
  std::function<OperatorInstance(OutputBase* out)> make_operator;
  /// Makes an empty Output<Out> for this node's output type.
  std::function<std::unique_ptr<OutputBase>()> make_output;
  /// For this node's output type: decodes records into `target` (an Input<Out>).
  std::function<std::unique_ptr<ElementDecoder>(ErasedInput target, RuntimeContext*)> make_decoder;
};

template <typename T>
class DataStream;

/// Describes a source: what `JobBuilder::source` needs from a connector.
template <typename T>
struct SourceDef {
  std::string name;
  bool bounded = true;
  std::function<std::unique_ptr<SourceReader<T>>()> factory;
};

/// Describes a sink: what `DataStream<T>::sink` needs from a connector.
template <typename T>
struct SinkDef {
  std::string name;
  std::function<std::unique_ptr<SinkFunction<T>>()> factory;
};

class JobBuilder {
 public:
  JobBuilder(std::string name, int default_parallelism, int max_parallelism = 128)
      : name_(std::move(name)),
        default_parallelism_(default_parallelism),
        max_parallelism_(max_parallelism) {}

  /// Adds a source; see connectors/ for datagen, files, ... Its records keep the
  /// timestamps the reader gives; no watermarks until the end of a bounded input.
  template <typename T>
  DataStream<T> source(SourceDef<T> def);
  /// Adds a source that generates watermarks per split following `strategy` from the
  /// timestamps its reader gives (ReaderOutput::Collect(value, ts)); it emits the minimum
  /// over its active splits (Flink's fromSource(source, strategy, name)).
  template <typename T>
  DataStream<T> source(SourceDef<T> def, WatermarkStrategy strategy);
  /// Adds a source whose records get event timestamps from `extractor` (int64 ms from a
  /// record, or a member pointer; inlined) and watermarks per split following `strategy`.
  template <typename T, typename Extractor>
  DataStream<T> source(SourceDef<T> def, Extractor extractor, WatermarkStrategy strategy);

  /// Sets the job's name (the CLI's --name wins over it).
  void set_name(std::string name) { name_ = std::move(name); }
  const std::string& name() const { return name_; }
  int default_parallelism() const { return default_parallelism_; }
  int max_parallelism() const { return max_parallelism_; }

  // Used by DataStream and the runtime.
  int AddNode(OperatorNode node);
  OperatorNode& node(int index) { return nodes_[index]; }
  /// Makes `uid` the operator id of node `index` (stable across job versions).
  void SetUid(int index, std::string uid) {
    nodes_[index].uid = uid;
    nodes_[index].id = std::move(uid);
  }
  const std::vector<OperatorNode>& nodes() const { return nodes_; }
  /// Returns the node with `id`, or nullptr.
  const OperatorNode* FindNode(std::string_view id) const;
  int EffectiveParallelism(const OperatorNode& node) const;

  /// Validates the graph, chains operators into vertices and returns the JobGraph.
  absl::StatusOr<job::JobGraph> ToJobGraph() const;

 private:
  /// Adds a source node whose operator is `make_op(reader, output)`.
  template <typename T, typename MakeOperator>
  DataStream<T> AddSource(SourceDef<T> def, MakeOperator make_op);

  std::string name_;
  int default_parallelism_;
  int max_parallelism_;
  std::vector<OperatorNode> nodes_;
};

}  // namespace eddy
