// JobBuilder records the operators a job's builder function declares, with type-erased
// factories that the TaskManager uses to instantiate each operator, network writer and
// record decoder; ToJobGraph() chains operators into vertices and emits the JobGraph proto.
// The builder is deterministic: running the same library with the same arguments gives
// the same operator ids everywhere. Single-threaded (one builder per build).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "api/operator.h"
#include "common/proto/job.pb.h"

namespace eddy {

/// Version of the job plugin ABI: bump when a type crossing the plugin boundary changes.
inline constexpr uint32_t kJobApiVersion = 1;
/// The full ABI stamp also covers the compiler and standard library layout.
inline constexpr uint32_t kAbiVersion =
    (kJobApiVersion << 16) | (static_cast<uint32_t>(__GNUC__) << 8) |
    (static_cast<uint32_t>(_GLIBCXX_USE_CXX11_ABI) << 4) | static_cast<uint32_t>(sizeof(void*));

/// Thrown by network writers when the task is cancelled, to unwind the chain.
struct TaskCancelled {};

/// Writes serialized records to the channels of one network edge (implemented by the
/// TaskManager's network stack). Throws TaskCancelled if the task is cancelled meanwhile.
class RecordChannelWriter {
 public:
  virtual ~RecordChannelWriter() = default;
  virtual int num_channels() const = 0;
  virtual void Write(int channel, std::string_view record) = 0;
  virtual void Broadcast(std::string_view record) = 0;
};

/// Decodes serialized records of one type and emits them into an operator.
class RecordDecoder {
 public:
  virtual ~RecordDecoder() = default;
  virtual absl::Status Push(std::string_view record) = 0;
};

/// What the task calls to run a chain's source without knowing its record type.
class SourceOperatorBase : public OperatorBase {
 public:
  /// Runs the source to its end (bounded) or until the task is cancelled.
  virtual void Run() = 0;
};

/// An instantiated operator (or writer) and the Output<In>* through which it is fed.
struct ChainLink {
  std::unique_ptr<OperatorBase> op;
  void* input = nullptr;  // Output<In>*; nullptr for sources
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

  struct Input {
    int node = -1;
    std::optional<job::Partitioning> partitioning;  // unset: forward if parallelism matches
    /// Makes the Output<T> (T = the input node's output type) that writes to the network
    /// with the edge's resolved partitioning.
    std::function<ChainLink(RecordChannelWriter*, RuntimeContext*, job::Partitioning)> make_writer;
  };
  std::vector<Input> inputs;

  /// Instantiates the operator emitting into `downstream` (Output<Out>*, or nullptr for sinks).
  std::function<ChainLink(void* downstream)> make_operator;
  /// For this node's output type: an Output<Out> forwarding to several Output<Out>*.
  std::function<ChainLink(std::vector<void*> outputs)> make_fanout;
  /// For this node's output type: decodes records and emits them into `downstream`.
  std::function<std::unique_ptr<RecordDecoder>(void* downstream, RuntimeContext*)> make_decoder;
};

template <typename T>
class DataStream;

/// Describes a source: what `JobBuilder::source` needs from a connector.
template <typename T>
struct SourceDef {
  std::string name;
  bool bounded = true;
  std::function<std::unique_ptr<SourceFunction<T>>()> factory;
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

  /// Adds a source; see connectors/ for datagen, files, ...
  template <typename T>
  DataStream<T> source(SourceDef<T> def);

  /// Sets the job's name (the CLI's --name wins over it).
  void set_name(std::string name) { name_ = std::move(name); }
  const std::string& name() const { return name_; }
  int default_parallelism() const { return default_parallelism_; }
  int max_parallelism() const { return max_parallelism_; }

  // Used by DataStream and the runtime.
  int AddNode(OperatorNode node);
  OperatorNode& node(int index) { return nodes_[index]; }
  const std::vector<OperatorNode>& nodes() const { return nodes_; }
  /// Returns the node with `id`, or nullptr.
  const OperatorNode* FindNode(std::string_view id) const;
  int EffectiveParallelism(const OperatorNode& node) const;

  /// Validates the graph, chains operators into vertices and returns the JobGraph.
  absl::StatusOr<job::JobGraph> ToJobGraph() const;

 private:
  std::string name_;
  int default_parallelism_;
  int max_parallelism_;
  std::vector<OperatorNode> nodes_;
};

}  // namespace eddy
