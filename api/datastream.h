// The DataStream API: DataStream<T> with map, filter, flat_map, key_by, union_with,
// rebalance, broadcast and sink; KeyedStream<T, K> with rolling reduce, sum and count.
// Each call records an operator in the JobBuilder with factories that instantiate it in
// the TaskManager; user functions are inlined into the operator templates, so a chain of
// operators costs one virtual call per operator per record and no serialization.
// Builder-time objects; single-threaded.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "api/job_builder.h"
#include "api/network_io.h"

namespace eddy {

namespace internal {

/// Deduces R from a flat_map function taking (const In&, Collector<R>&).
template <typename F>
struct CollectorArg : CollectorArg<decltype(&F::operator())> {};
template <typename C, typename Ret, typename A, typename R>
struct CollectorArg<Ret (C::*)(A, Collector<R>&) const> {
  using type = R;
};
template <typename C, typename Ret, typename A, typename R>
struct CollectorArg<Ret (C::*)(A, Collector<R>&)> {
  using type = R;
};
template <typename Ret, typename A, typename R>
struct CollectorArg<Ret (*)(A, Collector<R>&)> {
  using type = R;
};

template <typename In, typename Out, typename F>
class MapOperator final : public OperatorBase, public Output<In> {
 public:
  MapOperator(F f, Output<Out>* out) : f_(std::move(f)), out_(out) {}
  void Emit(const In& value) override { out_->Emit(std::invoke(f_, value)); }

 private:
  F f_;
  Output<Out>* out_;
};

template <typename T, typename F>
class FilterOperator final : public OperatorBase, public Output<T> {
 public:
  FilterOperator(F f, Output<T>* out) : f_(std::move(f)), out_(out) {}
  void Emit(const T& value) override {
    if (std::invoke(f_, value)) out_->Emit(value);
  }

 private:
  F f_;
  Output<T>* out_;
};

template <typename In, typename Out, typename F>
class FlatMapOperator final : public OperatorBase, public Output<In> {
 public:
  FlatMapOperator(F f, Output<Out>* out) : f_(std::move(f)), collector_(out) {}
  void Emit(const In& value) override { std::invoke(f_, value, collector_); }

 private:
  F f_;
  Collector<Out> collector_;
};

template <typename T>
class IdentityOperator final : public OperatorBase, public Output<T> {
 public:
  explicit IdentityOperator(Output<T>* out) : out_(out) {}
  void Emit(const T& value) override { out_->Emit(value); }

 private:
  Output<T>* out_;
};

/// Deterministic hasher for keyed state maps (see key_hash.h).
template <typename K>
struct StateKeyHasher {
  size_t operator()(const K& key) const { return static_cast<size_t>(KeyHash(key)); }
};

/// Rolling reduce per key. Streaming: emits the updated value after every record.
/// Batch mode (all sources bounded): emits each key's final value once, at end of input.
template <typename T, typename K, typename KeyFn, typename ReduceFn>
class KeyedReduceOperator final : public OperatorBase, public Output<T> {
 public:
  KeyedReduceOperator(KeyFn key_fn, ReduceFn reduce_fn, Output<T>* out)
      : key_fn_(std::move(key_fn)), reduce_fn_(std::move(reduce_fn)), out_(out) {}
  void Open(RuntimeContext& ctx) override { batch_ = ctx.batch_mode; }
  void Emit(const T& value) override {
    auto [it, inserted] = state_.try_emplace(std::invoke(key_fn_, value), value);
    if (!inserted) it->second = std::invoke(reduce_fn_, std::as_const(it->second), value);
    if (!batch_) out_->Emit(it->second);
  }
  void Finish() override {
    if (batch_) {
      for (const auto& [key, value] : state_) out_->Emit(value);
    }
  }

 private:
  KeyFn key_fn_;
  ReduceFn reduce_fn_;
  Output<T>* out_;
  bool batch_ = false;
  absl::flat_hash_map<K, T, StateKeyHasher<K>> state_;
};

template <typename T>
class SinkOperator final : public OperatorBase, public Output<T> {
 public:
  explicit SinkOperator(std::unique_ptr<SinkFunction<T>> sink) : sink_(std::move(sink)) {}
  void Open(RuntimeContext& ctx) override {
    ctx_ = &ctx;
    sink_->Open(ctx);
  }
  void Emit(const T& value) override {
    ++ctx_->records_out;
    sink_->Emit(value);
  }
  void Finish() override { sink_->Finish(); }
  void Close() override { sink_->Close(); }

 private:
  std::unique_ptr<SinkFunction<T>> sink_;
  RuntimeContext* ctx_ = nullptr;
};

template <typename T>
class SourceOperator final : public SourceOperatorBase {
 public:
  SourceOperator(std::unique_ptr<SourceFunction<T>> source, Output<T>* out)
      : source_(std::move(source)), out_(out) {}
  void Open(RuntimeContext& ctx) override {
    ctx_ = &ctx;
    source_->Open(ctx);
  }
  void Run() override {
    SourceContext<T> sc(out_, ctx_);
    source_->Run(sc);
  }
  void Finish() override { source_->Finish(); }
  void Close() override { source_->Close(); }

 private:
  std::unique_ptr<SourceFunction<T>> source_;
  Output<T>* out_;
  RuntimeContext* ctx_ = nullptr;
};

/// Fills the factories that depend on a node's output type T.
template <typename T>
void SetOutputType(OperatorNode& node) {
  node.make_fanout = [](std::vector<void*> outputs) {
    std::vector<Output<T>*> typed;
    for (void* o : outputs) typed.push_back(static_cast<Output<T>*>(o));
    auto fan = std::make_unique<FanOut<T>>(std::move(typed));
    ChainLink link;
    link.input = static_cast<Output<T>*>(fan.get());
    link.op = std::move(fan);
    return link;
  };
  node.make_decoder = [](void* downstream, RuntimeContext* ctx) -> std::unique_ptr<RecordDecoder> {
    return std::make_unique<Decoder<T>>(static_cast<Output<T>*>(downstream), ctx);
  };
}

template <typename Op, typename In>
ChainLink Link(std::unique_ptr<Op> op) {
  ChainLink link;
  link.input = static_cast<Output<In>*>(op.get());
  link.op = std::move(op);
  return link;
}

}  // namespace internal

template <typename T, typename K, typename KeyFn>
class KeyedStream;

template <typename T>
class DataStream {
 public:
  using value_type = T;
  DataStream(JobBuilder* builder, int node) : builder_(builder), node_(node) {}

  /// Applies `f` to every record: R f(const T&).
  template <typename F>
  auto map(F f, std::string name = "Map") {
    using R = std::decay_t<std::invoke_result_t<F&, const T&>>;
    return Then<R>(std::move(name), "map", [f](void* down) {
      return internal::Link<internal::MapOperator<T, R, F>, T>(
          std::make_unique<internal::MapOperator<T, R, F>>(f, static_cast<Output<R>*>(down)));
    });
  }

  /// Keeps the records for which `f` returns true.
  template <typename F>
  DataStream<T> filter(F f, std::string name = "Filter") {
    return Then<T>(std::move(name), "filter", [f](void* down) {
      return internal::Link<internal::FilterOperator<T, F>, T>(
          std::make_unique<internal::FilterOperator<T, F>>(f, static_cast<Output<T>*>(down)));
    });
  }

  /// Emits zero or more records per record: void f(const T&, Collector<R>&).
  template <typename F, typename R = typename internal::CollectorArg<F>::type>
  DataStream<R> flat_map(F f, std::string name = "FlatMap") {
    return Then<R>(std::move(name), "flat_map", [f](void* down) {
      return internal::Link<internal::FlatMapOperator<T, R, F>, T>(
          std::make_unique<internal::FlatMapOperator<T, R, F>>(f, static_cast<Output<R>*>(down)));
    });
  }

  /// Partitions by the key `key_fn` extracts (a function or a member pointer).
  template <typename KeyFn>
  auto key_by(KeyFn key_fn) {
    using K = std::decay_t<std::invoke_result_t<KeyFn&, const T&>>;
    return KeyedStream<T, K, KeyFn>(builder_, node_, std::move(key_fn));
  }

  /// Merges streams of the same type.
  template <typename... More>
  DataStream<T> union_with(const More&... others) {
    OperatorNode node;
    node.name = "Union";
    node.kind = "union";
    node.inputs.push_back(InputFrom(*this));
    (node.inputs.push_back(InputFrom(others)), ...);
    node.make_operator = [](void* down) {
      return internal::Link<internal::IdentityOperator<T>, T>(
          std::make_unique<internal::IdentityOperator<T>>(static_cast<Output<T>*>(down)));
    };
    internal::SetOutputType<T>(node);
    return DataStream<T>(builder_, builder_->AddNode(std::move(node)));
  }

  /// Distributes records round robin over the next operator's subtasks.
  DataStream<T> rebalance() const { return WithPartitioning(job::REBALANCE); }
  /// Sends every record to every subtask of the next operator.
  DataStream<T> broadcast() const { return WithPartitioning(job::BROADCAST); }

  /// Ends the stream in a sink.
  DataStream<T> sink(SinkDef<T> def) {
    OperatorNode node;
    node.name = def.name;
    node.kind = "sink";
    node.inputs.push_back(InputFrom(*this));
    auto factory = def.factory;
    node.make_operator = [factory](void*) {
      return internal::Link<internal::SinkOperator<T>, T>(
          std::make_unique<internal::SinkOperator<T>>(factory()));
    };
    internal::SetOutputType<T>(node);
    return DataStream<T>(builder_, builder_->AddNode(std::move(node)));
  }

  /// Names the operator that produces this stream (shown in the REST API and CLI).
  DataStream<T>& name(std::string name) {
    builder_->node(node_).name = std::move(name);
    return *this;
  }
  /// Gives the producing operator a stable id (kept across job versions for state).
  DataStream<T>& uid(std::string uid) {
    builder_->node(node_).uid = std::move(uid);
    return *this;
  }
  /// Sets the producing operator's parallelism.
  DataStream<T>& parallelism(int p) {
    builder_->node(node_).parallelism = p;
    return *this;
  }

  int node_index() const { return node_; }
  JobBuilder* builder() const { return builder_; }

  /// Adds an operator consuming this stream (used by the methods above and connectors).
  template <typename R>
  DataStream<R> Then(std::string name, std::string kind,
                     std::function<ChainLink(void*)> make_operator) {
    OperatorNode node;
    node.name = std::move(name);
    node.kind = std::move(kind);
    node.inputs.push_back(InputFrom(*this));
    node.make_operator = std::move(make_operator);
    internal::SetOutputType<R>(node);
    return DataStream<R>(builder_, builder_->AddNode(std::move(node)));
  }

 private:
  template <typename, typename, typename>
  friend class KeyedStream;

  DataStream<T> WithPartitioning(job::Partitioning p) const {
    DataStream<T> copy = *this;
    copy.partitioning_ = p;
    return copy;
  }

  static OperatorNode::Input InputFrom(const DataStream<T>& s) {
    OperatorNode::Input in;
    in.node = s.node_;
    in.partitioning = s.partitioning_;
    in.make_writer = [](RecordChannelWriter* w, RuntimeContext* ctx, job::Partitioning p) {
      return internal::MakePlainWriter<T>(p, w, ctx);
    };
    return in;
  }

  JobBuilder* builder_;
  int node_;
  std::optional<job::Partitioning> partitioning_;
};

template <typename T, typename K, typename KeyFn>
class KeyedStream {
 public:
  KeyedStream(JobBuilder* builder, int node, KeyFn key_fn)
      : builder_(builder), node_(node), key_fn_(std::move(key_fn)) {}

  /// Rolling reduce: T f(const T& accumulated, const T& next), per key.
  template <typename F>
  DataStream<T> reduce(F f, std::string name = "Reduce") {
    OperatorNode node;
    node.name = std::move(name);
    node.kind = "reduce";
    node.inputs.push_back(HashInput());
    KeyFn key_fn = key_fn_;
    node.make_operator = [key_fn, f](void* down) {
      using Op = internal::KeyedReduceOperator<T, K, KeyFn, F>;
      return internal::Link<Op, T>(std::make_unique<Op>(key_fn, f, static_cast<Output<T>*>(down)));
    };
    internal::SetOutputType<T>(node);
    return DataStream<T>(builder_, builder_->AddNode(std::move(node)));
  }

  /// Rolling sum of a numeric member (e.g. &std::pair<std::string, int64_t>::second).
  template <typename M, typename U = T>
  DataStream<T> sum(M U::*field) {
    return reduce(
        [field](const T& acc, const T& next) {
          T out = acc;
          out.*field += next.*field;
          return out;
        },
        "Sum");
  }

  /// Rolling sum of the records themselves (T arithmetic).
  DataStream<T> sum() {
    static_assert(std::is_arithmetic_v<T>, "sum() without a field needs an arithmetic type");
    return reduce([](const T& a, const T& b) { return static_cast<T>(a + b); }, "Sum");
  }

  /// Rolling count per key: emits (key, count).
  DataStream<std::pair<K, int64_t>> count(std::string name = "Count") {
    KeyFn key_fn = key_fn_;
    auto counted = DataStream<T>(builder_, node_).map(
        [key_fn](const T& v) { return std::pair<K, int64_t>(std::invoke(key_fn, v), 1); },
        name + " (key)");
    return counted.key_by(&std::pair<K, int64_t>::first)
        .sum(&std::pair<K, int64_t>::second)
        .name(std::move(name));
  }

 private:
  OperatorNode::Input HashInput() const {
    OperatorNode::Input in;
    in.node = node_;
    in.partitioning = job::HASH;
    KeyFn key_fn = key_fn_;
    in.make_writer = [key_fn](RecordChannelWriter* w, RuntimeContext* ctx, job::Partitioning) {
      auto writer = std::make_unique<internal::HashWriter<T, KeyFn>>(w, ctx, key_fn);
      ChainLink link;
      link.input = static_cast<Output<T>*>(writer.get());
      link.op = std::move(writer);
      return link;
    };
    return in;
  }

  JobBuilder* builder_;
  int node_;
  KeyFn key_fn_;
};

template <typename T>
DataStream<T> JobBuilder::source(SourceDef<T> def) {
  OperatorNode node;
  node.name = def.name;
  node.kind = "source";
  node.is_source = true;
  node.bounded = def.bounded;
  auto factory = def.factory;
  node.make_operator = [factory](void* down) {
    ChainLink link;
    link.op = std::make_unique<internal::SourceOperator<T>>(factory(),
                                                           static_cast<Output<T>*>(down));
    return link;
  };
  internal::SetOutputType<T>(node);
  return DataStream<T>(this, AddNode(std::move(node)));
}

}  // namespace eddy
