#include "taskmanager/task.h"

#include <deque>
#include <exception>
#include <map>

#include "absl/strings/str_cat.h"
#include "api/job_args.h"
#include "common/logging.h"
#include "taskmanager/network/record_serializer.h"

namespace eddy {
namespace {

/// Adapts the network RecordWriter to the API's RecordChannelWriter.
class ChannelWriter final : public RecordChannelWriter {
 public:
  explicit ChannelWriter(std::shared_ptr<net::ResultPartition> partition)
      : writer_(std::move(partition)) {}
  int num_channels() const override { return writer_.num_channels(); }
  void Write(int channel, std::string_view record) override {
    if (!writer_.Write(channel, record).ok()) throw TaskCancelled{};
  }
  void Broadcast(std::string_view record) override {
    if (!writer_.Broadcast(record).ok()) throw TaskCancelled{};
  }
  net::RecordWriter& writer() { return writer_; }

 private:
  net::RecordWriter writer_;
};

int IndexOf(const JobBuilder& plan, const std::string& id) {
  const auto& nodes = plan.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

struct Task::Runtime {
  RuntimeContext ctx;
  std::vector<std::unique_ptr<ChannelWriter>> writers;
  std::vector<ChainLink> writer_links;
  std::optional<ChainLink> fanout;
  std::deque<ChainLink> chain;  // head first
  std::unique_ptr<net::InputGate> gate;
  std::vector<std::unique_ptr<RecordDecoder>> decoders;  // per channel
  std::vector<net::RecordReader> readers;                // per channel
  std::chrono::steady_clock::time_point last_publish;
};

Task::Task(TaskSetup setup, StateListener listener)
    : setup_(std::move(setup)), listener_(std::move(listener)) {
  std::string vertex_name = setup_.deployment.vertex_id();
  int parallelism = 1;
  for (const auto& v : setup_.graph->vertices()) {
    if (v.id() == setup_.deployment.vertex_id()) {
      vertex_name = v.name();
      parallelism = v.parallelism();
    }
  }
  name_ = absl::StrCat(vertex_name, " (", setup_.deployment.subtask() + 1, "/", parallelism, ")");
}

Task::~Task() {
  Cancel();
  if (thread_.joinable()) thread_.join();
}

void Task::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Task::Cancel() {
  if (cancelled_.exchange(true)) return;
  // Wake the task if it waits on the network (for input or for buffers).
  std::lock_guard<std::mutex> lock(mu_);
  if (rt_ && rt_->gate) rt_->gate->Cancel();
  for (auto& p : partitions_) p->Cancel();
}

bool Task::terminal() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_ == "FINISHED" || state_ == "CANCELED" || state_ == "FAILED";
}

rpc::TaskReport Task::Report() const {
  rpc::TaskReport report;
  report.set_job_id(setup_.job_id);
  report.set_vertex_id(setup_.deployment.vertex_id());
  report.set_subtask(setup_.deployment.subtask());
  report.set_attempt(setup_.deployment.attempt());
  report.set_records_in(records_in_.load());
  report.set_records_out(records_out_.load());
  std::lock_guard<std::mutex> lock(mu_);
  rpc::ExecutionState state = rpc::EXECUTION_STATE_UNSPECIFIED;
  rpc::ExecutionState_Parse(state_, &state);
  report.set_state(state);
  report.set_failure(failure_);
  return report;
}

void Task::SetState(const std::string& state, const std::string& failure) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_ = state;
    failure_ = failure;
  }
  listener_(Report());
}

void Task::Poll() {
  Runtime& rt = *rt_;
  if (cancelled_.load(std::memory_order_relaxed)) throw TaskCancelled{};
  for (auto& w : rt.writers) {
    if (w->writer().OldestPendingAge() >= setup_.buffer_timeout) {
      if (!w->writer().FlushAll().ok()) throw TaskCancelled{};
    }
  }
  records_in_.store(rt.ctx.records_in, std::memory_order_relaxed);
  records_out_.store(rt.ctx.records_out, std::memory_order_relaxed);
}

void Task::Run() {
  SetState("RUNNING");
  std::string failure;
  bool was_cancelled = false;
  try {
    RunChain();
  } catch (const TaskCancelled&) {
    was_cancelled = true;
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  if (rt_) {
    for (auto& link : rt_->chain) {
      try {
        link.op->Close();
      } catch (...) {
      }
    }
    records_in_.store(rt_->ctx.records_in);
    records_out_.store(rt_->ctx.records_out);
  }
  if (!failure.empty()) {
    EDDY_LOG(WARN) << "task " << name_ << " of job " << setup_.job_id << " failed: " << failure;
    SetState("FAILED", absl::StrCat(name_, ": ", failure));
  } else if (was_cancelled || cancelled_.load()) {
    SetState("CANCELED");
  } else {
    SetState("FINISHED");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (rt_ && rt_->gate) rt_->gate->Cancel();
}

void Task::RunChain() {
  const job::JobGraph& graph = *setup_.graph;
  const JobBuilder& plan = *setup_.plan;
  const auto& dep = setup_.deployment;
  const job::JobVertexDef* vertex = nullptr;
  for (const auto& v : graph.vertices()) {
    if (v.id() == dep.vertex_id()) vertex = &v;
  }
  if (vertex == nullptr) throw std::runtime_error("unknown vertex " + dep.vertex_id());

  {
    std::lock_guard<std::mutex> lock(mu_);
    rt_ = std::make_unique<Runtime>();
  }
  Runtime& rt = *rt_;
  rt.ctx.job_id = setup_.job_id;
  rt.ctx.task_name = name_;
  rt.ctx.subtask = dep.subtask();
  rt.ctx.attempt = dep.attempt();
  rt.ctx.parallelism = vertex->parallelism();
  rt.ctx.max_parallelism = graph.max_parallelism();
  rt.ctx.batch_mode = graph.bounded();
  rt.ctx.args = setup_.args.get();
  rt.ctx.cancel_flag = &cancelled_;
  rt.ctx.poll = [this] { Poll(); };

  // Output side: one partition and writer per outgoing edge.
  const std::string& tail_id = vertex->operator_ids(vertex->operator_ids_size() - 1);
  int tail_index = IndexOf(plan, tail_id);
  std::vector<void*> outputs;
  for (const auto& edge : graph.edges()) {
    if (edge.source_vertex() != vertex->id()) continue;
    int target_parallelism = 1;
    for (const auto& v : graph.vertices()) {
      if (v.id() == edge.target_vertex()) target_parallelism = v.parallelism();
    }
    int subpartitions = edge.partitioning() == job::FORWARD ? 1 : target_parallelism;
    auto partition = setup_.network->CreatePartition(
        net::PartitionId{setup_.job_id, edge.id(), dep.subtask(), dep.attempt()}, subpartitions);
    if (!partition.ok()) throw std::runtime_error(std::string(partition.status().message()));
    {
      std::lock_guard<std::mutex> lock(mu_);
      partitions_.push_back(*partition);
      if (cancelled_) (*partition)->Cancel();
    }
    rt.writers.push_back(std::make_unique<ChannelWriter>(*partition));
    int target_index = IndexOf(plan, edge.target_operator());
    if (target_index < 0) throw std::runtime_error("unknown operator " + edge.target_operator());
    const OperatorNode& target = plan.nodes()[target_index];
    const OperatorNode::Input* input = nullptr;
    for (const auto& in : target.inputs) {
      if (in.node == tail_index) input = &in;
    }
    if (input == nullptr) throw std::runtime_error("edge " + edge.id() + " has no typed input");
    rt.writer_links.push_back(input->make_writer(rt.writers.back().get(), &rt.ctx,
                                                 edge.partitioning()));
    outputs.push_back(rt.writer_links.back().input);
  }
  void* downstream = nullptr;
  if (outputs.size() == 1) {
    downstream = outputs[0];
  } else if (outputs.size() > 1) {
    rt.fanout = plan.nodes()[tail_index].make_fanout(outputs);
    downstream = rt.fanout->input;
  }

  // The chain, built from its tail so that each operator knows its downstream.
  for (int i = vertex->operator_ids_size() - 1; i >= 0; --i) {
    int index = IndexOf(plan, vertex->operator_ids(i));
    if (index < 0) throw std::runtime_error("unknown operator " + vertex->operator_ids(i));
    rt.chain.push_front(plan.nodes()[index].make_operator(downstream));
    downstream = rt.chain.front().input;
  }
  const OperatorNode& head = plan.nodes()[IndexOf(plan, vertex->operator_ids(0))];

  // Input side: one gate over the channels of every incoming edge.
  if (!head.is_source) {
    std::vector<net::ChannelSpec> channels;
    for (const auto& in : dep.inputs()) {
      const job::JobEdgeDef* edge = nullptr;
      for (const auto& e : graph.edges()) {
        if (e.id() == in.edge_id()) edge = &e;
      }
      if (edge == nullptr) throw std::runtime_error("unknown edge " + in.edge_id());
      int source_index = IndexOf(plan, edge->source_operator());
      for (const auto& ch : in.channels()) {
        net::ChannelSpec spec;
        spec.partition = net::PartitionId{setup_.job_id, edge->id(), ch.producer_subtask(),
                                         ch.producer_attempt()};
        spec.subpartition = ch.subpartition();
        spec.local = ch.local();
        spec.host = ch.host();
        spec.port = static_cast<uint16_t>(ch.port());
        channels.push_back(std::move(spec));
        rt.decoders.push_back(plan.nodes()[source_index].make_decoder(rt.chain.front().input, &rt.ctx));
      }
    }
    auto gate = setup_.network->CreateInputGate(std::move(channels));
    if (!gate.ok()) throw std::runtime_error(std::string(gate.status().message()));
    {
      std::lock_guard<std::mutex> lock(mu_);
      rt.gate = std::move(*gate);
      if (cancelled_) rt.gate->Cancel();
    }
    rt.readers.resize(rt.decoders.size());
  }

  for (auto it = rt.chain.rbegin(); it != rt.chain.rend(); ++it) it->op->Open(rt.ctx);

  if (head.is_source) {
    static_cast<SourceOperatorBase*>(rt.chain.front().op.get())->Run();
    if (cancelled_) throw TaskCancelled{};
  } else {
    const auto wait = std::max(setup_.buffer_timeout, std::chrono::milliseconds(1));
    while (true) {
      auto next = rt.gate->Next(wait);
      if (!next.ok()) {
        if (cancelled_) throw TaskCancelled{};
        throw std::runtime_error(std::string(next.status().message()));
      }
      if (!next->has_value()) {
        if (rt.gate->finished()) break;
        Poll();
        continue;
      }
      net::InputBuffer& in = **next;
      if (in.buffer.kind() == net::BufferKind::kData) {
        net::RecordReader& reader = rt.readers[in.channel];
        reader.SetBuffer(std::move(in.buffer));
        std::string_view record;
        while (true) {
          auto more = reader.Next(&record);
          if (!more.ok()) throw std::runtime_error(std::string(more.status().message()));
          if (!*more) break;
          // A slow operator may take long over one buffer: cancel between records.
          if (cancelled_.load(std::memory_order_relaxed)) throw TaskCancelled{};
          auto pushed = rt.decoders[in.channel]->Push(record);
          if (!pushed.ok()) throw std::runtime_error(std::string(pushed.message()));
        }
      }
      Poll();
    }
  }

  // End of input: finish head to tail (each may still emit), then end the partitions.
  for (auto& link : rt.chain) link.op->Finish();
  for (auto& w : rt.writers) {
    if (!w->writer().Finish().ok()) throw TaskCancelled{};
  }
  Poll();
}

}  // namespace eddy
