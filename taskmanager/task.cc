#include "taskmanager/task.h"

#include <algorithm>
#include <exception>
#include <map>

#include "absl/strings/str_cat.h"
#include "api/job_args.h"
#include "api/watermark_valve.h"
#include "common/config.h"
#include "common/logging.h"
#include "common/status.h"
#include "taskmanager/channel_writer.h"
#include "taskmanager/network/record_serializer.h"
#include "taskmanager/runtime/mailbox.h"
#include "taskmanager/runtime/task_events.h"
#include "api/keyed_operator.h"
#include "taskmanager/state/state_backend_factory.h"
#include "taskmanager/task_runtime.h"

namespace eddy {
namespace {

using Clock = std::chrono::steady_clock;

/// Record elements of one channel decoded and handed on together (one virtual call).
constexpr size_t kDecodeBatch = 256;

int IndexOf(const JobBuilder& plan, const std::string& id) {
  const auto& nodes = plan.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

int64_t JobDurationMs(const job::JobGraph& graph, const std::string& key, int64_t fallback) {
  auto it = graph.config().find(key);
  if (it == graph.config().end()) return fallback;
  auto parsed = ParseDuration(it->second);
  return parsed.ok() ? parsed->count() : fallback;
}

/// Makes the keyed state backends of a task's keyed operators: the type and options the
/// TaskManager's configuration and the job's -D keys name, over the subtask's key groups.
class TaskStateBackends final : public KeyedStateBackendFactory {
 public:
  TaskStateBackends(Config config, state::StateBackendParams params)
      : config_(std::move(config)), params_(std::move(params)) {}
  absl::StatusOr<std::unique_ptr<KeyedStateBackend>> Create(
      std::string_view operator_id) override {
    state::StateBackendParams p = params_;
    p.operator_id = std::string(operator_id);
    return state::CreateKeyedStateBackend(config_, p);
  }

 private:
  Config config_;
  state::StateBackendParams params_;
};

}  // namespace

Task::Task(TaskSetup setup, StateListener listener)
    : setup_(std::move(setup)), listener_(std::move(listener)), watermark_(kMinWatermark) {
  std::string vertex_name = setup_.deployment.vertex_id();
  int parallelism = 1;
  for (const auto& v : setup_.graph->vertices()) {
    if (v.id() == setup_.deployment.vertex_id()) {
      vertex_name = v.name();
      parallelism = v.parallelism();
    }
  }
  name_ = absl::StrCat(vertex_name, " (", setup_.deployment.subtask() + 1, "/", parallelism, ")");
  rt_ = std::make_unique<Runtime>();
  snapshots_ = std::make_unique<SerialExecutor>();
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
  // Queued uploads of a cancelled attempt are dropped: they would only delay its release.
  snapshots_->DropPending();
  // A mail wakes the loop; cancelling the partitions and the gate also ends a wait for a
  // buffer inside a unit of input (the only place the task may block).
  rt_->mailbox.Put([] {});
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& w : rt_->writers) w->partition().Cancel();
  if (rt_->gate) rt_->gate->Cancel();
}

bool Task::terminal() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_ == rpc::FINISHED || state_ == rpc::CANCELED || state_ == rpc::FAILED;
}

rpc::TaskReport Task::Report() const {
  rpc::TaskReport report;
  report.set_job_id(setup_.job_id);
  report.set_vertex_id(setup_.deployment.vertex_id());
  report.set_subtask(setup_.deployment.subtask());
  report.set_attempt(setup_.deployment.attempt());
  report.set_records_in(records_in_.load());
  report.set_records_out(records_out_.load());
  report.set_current_input_watermark(watermark_.load(std::memory_order_relaxed));
  report.set_end_of_input(end_of_input_.load(std::memory_order_relaxed));
  std::lock_guard<std::mutex> lock(mu_);
  report.set_state(state_);
  report.set_failure(failure_);
  for (const auto& h : latency_) *report.add_latency() = h;
  return report;
}

void Task::PublishLatency() {
  Runtime& rt = *rt_;
  if (rt.latency.empty()) return;
  std::vector<rpc::LatencyHistogram> out;
  const auto& nodes = setup_.plan->nodes();
  for (const LatencyStats::Summary& s : rt.latency.Summaries()) {
    rpc::LatencyHistogram h;
    if (s.source >= 0 && static_cast<size_t>(s.source) < nodes.size()) {
      h.set_source_operator(nodes[static_cast<size_t>(s.source)].id);
    }
    h.set_source_subtask(s.subtask);
    h.set_count(s.count);
    h.set_min_ms(s.min);
    h.set_max_ms(s.max);
    h.set_p50_ms(s.p50);
    h.set_p95_ms(s.p95);
    h.set_p99_ms(s.p99);
    h.set_mean_ms(s.mean);
    out.push_back(std::move(h));
  }
  std::lock_guard<std::mutex> lock(mu_);
  latency_ = std::move(out);
}

void Task::SetState(rpc::ExecutionState state, const std::string& failure) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_ = state;
    failure_ = failure;
  }
  listener_(Report());
}

void Task::Run() {
  SetState(rpc::INITIALIZING);
  absl::Status status;
  try {
    status = RunChain();
  } catch (const std::exception& e) {
    status = absl::InternalError(e.what());
  } catch (...) {
    status = absl::InternalError("unknown exception");
  }
  Runtime& rt = *rt_;
  // The operators' state goes away with Close(): first finish the upload that reads it (the
  // queued ones of a failed or cancelled attempt are dropped).
  if (cancelled_.load() || !status.ok()) snapshots_->DropPending();
  snapshots_->WaitIdle();
  for (auto it = rt.ops.rbegin(); it != rt.ops.rend(); ++it) {
    try {
      it->op->Close();
    } catch (const std::exception& e) {
      if (status.ok()) status = absl::InternalError(absl::StrCat("closing: ", e.what()));
    } catch (...) {
    }
  }
  records_in_.store(rt.ctx.records_in);
  records_out_.store(rt.ctx.records_out);
  PublishLatency();
  if (cancelled_.load()) {
    SetState(rpc::CANCELED);
  } else if (!status.ok()) {
    EDDY_LOG(WARN) << "task " << name_ << " of job " << setup_.job_id << " failed: "
                   << status.message();
    SetState(rpc::FAILED, absl::StrCat(name_, ": ", status.message()));
  } else {
    SetState(rpc::FINISHED);
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (rt.gate) rt.gate->Cancel();
}

absl::Status Task::RunChain() {
  const job::JobGraph& graph = *setup_.graph;
  const JobBuilder& plan = *setup_.plan;
  const auto& dep = setup_.deployment;
  Runtime& rt = *rt_;
  const job::JobVertexDef* vertex = nullptr;
  for (const auto& v : graph.vertices()) {
    if (v.id() == dep.vertex_id()) vertex = &v;
  }
  if (vertex == nullptr) return absl::InvalidArgumentError("unknown vertex " + dep.vertex_id());

  rt.job_config.insert(graph.config().begin(), graph.config().end());
  rt.ctx.job_id = setup_.job_id;
  rt.ctx.task_name = name_;
  rt.ctx.subtask = dep.subtask();
  rt.ctx.attempt = dep.attempt();
  rt.ctx.parallelism = vertex->parallelism();
  rt.ctx.max_parallelism = graph.max_parallelism();
  auto mode = graph.config().find(opt::kRuntimeMode);
  rt.ctx.batch_mode = mode == graph.config().end() || mode->second == "automatic"
                          ? graph.bounded()
                          : mode->second == "batch";
  rt.ctx.args = setup_.args.get();
  rt.ctx.cancel_flag = &cancelled_;
  rt.ctx.processing_time = &rt;
  rt.ctx.auto_watermark_interval_ms =
      JobDurationMs(graph, opt::kAutoWatermarkInterval, 200);
  rt.ctx.latency_interval_ms = JobDurationMs(graph, opt::kLatencyInterval, 0);
  rt.ctx.latency = &rt.latency;
  rt.ctx.job_config = &rt.job_config;
  rt.ctx.checkpointing = setup_.checkpoint_interval_ms > 0;
  rt.await_final = rt.ctx.checkpointing;
  rt.key_groups = KeyGroupRangeFor(dep.subtask(), graph.max_parallelism(), vertex->parallelism());
  {
    Config config = *setup_.config;
    EDDY_RETURN_IF_ERROR(config.ApplyJobConfig(rt.job_config));
    rt.config = config;
    rt.ctx.config = &rt.config;
    state::StateBackendParams params;
    params.job_id = setup_.job_id;
    params.subtask = dep.subtask();
    params.max_parallelism = graph.max_parallelism();
    params.key_groups =
        KeyGroupRangeFor(dep.subtask(), graph.max_parallelism(), vertex->parallelism());
    rt.keyed_state = std::make_unique<TaskStateBackends>(std::move(config), std::move(params));
    rt.ctx.keyed_state = rt.keyed_state.get();
  }

  // The vertex's operators, by plan index, in topological (plan) order.
  std::vector<int> members;
  for (const auto& id : vertex->operator_ids()) {
    int index = IndexOf(plan, id);
    if (index < 0) return absl::InvalidArgumentError("unknown operator " + id);
    members.push_back(index);
  }
  std::sort(members.begin(), members.end());

  // Output side: one partition and writer per outgoing edge.
  std::map<int, std::vector<ErasedInput>> network_targets;  // producer plan index -> writers
  for (const auto& edge : graph.edges()) {
    if (edge.source_vertex() != vertex->id()) continue;
    int target_parallelism = 1;
    for (const auto& v : graph.vertices()) {
      if (v.id() == edge.target_vertex()) target_parallelism = v.parallelism();
    }
    int subpartitions = edge.partitioning() == job::FORWARD ? 1 : target_parallelism;
    auto partition = setup_.network->CreatePartition(
        net::PartitionId{setup_.job_id, edge.id(), dep.subtask(), dep.attempt()}, subpartitions);
    if (!partition.ok()) return partition.status();
    (*partition)->SetAvailabilityListener(rt.waker);
    {
      std::lock_guard<std::mutex> lock(mu_);
      rt.writers.push_back(std::make_unique<ChannelWriter>(*partition));
      if (cancelled_) (*partition)->Cancel();
    }
    int source_index = IndexOf(plan, edge.source_operator());
    int target_index = IndexOf(plan, edge.target_operator());
    if (source_index < 0 || target_index < 0) {
      return absl::InvalidArgumentError("edge " + edge.id() + " names an unknown operator");
    }
    const OperatorNode& target = plan.nodes()[target_index];
    const OperatorNode::Input* input = nullptr;
    for (const auto& in : target.inputs) {
      if (in.node == source_index && in.make_writer) input = &in;
    }
    if (input == nullptr) return absl::InvalidArgumentError("edge " + edge.id() + " has no typed input");
    ErasedInput writer_input;
    rt.writer_ops.push_back(input->make_writer(rt.writers.back().get(), &rt.ctx,
                                               edge.partitioning(), &writer_input));
    rt.writer_ops.back()->Setup(&rt.ctx);
    network_targets[source_index].push_back(writer_input);
  }

  // The chain, instantiated from its leaves so that each operator's targets exist first.
  std::map<int, OperatorInstance> instances;
  for (auto it = members.rbegin(); it != members.rend(); ++it) {
    const int index = *it;
    const OperatorNode& node = plan.nodes()[index];
    auto out = node.make_output();
    for (const ErasedInput& t : network_targets[index]) out->AddTarget(t);
    std::vector<std::pair<std::string, std::unique_ptr<OutputBase>>> side_outputs;
    for (int child : members) {
      if (child <= index) continue;
      const OperatorNode& c = plan.nodes()[child];
      if (c.inputs.size() != 1 || c.inputs[0].node != index) continue;
      const ErasedInput& child_input = instances.at(child).inputs.at(0);
      if (c.side_tag.empty()) {
        out->AddTarget(child_input);
      } else {
        auto side = c.make_output();  // the side output node's type is its input type
        side->AddTarget(child_input);
        side_outputs.emplace_back(c.side_tag, std::move(side));
      }
    }
    OperatorInstance inst = node.make_operator(out.get());
    inst.op->Setup(&rt.ctx);
    inst.op->SetOperatorId(node.id);
    inst.op->AddOutput(out.get());
    for (auto& [tag, side] : side_outputs) {
      inst.op->AddSideOutput(tag, side.get());
      rt.outputs.push_back(std::move(side));
    }
    rt.outputs.push_back(std::move(out));
    instances.emplace(index, std::move(inst));
  }
  for (int index : members) rt.ops.push_back(std::move(instances.at(index)));
  rt.head = rt.ops.front().op.get();
  rt.source = rt.ops.front().source;
  if (rt.source != nullptr) rt.ctx.source_operator = members.front();
  const OperatorNode& head_node = plan.nodes()[members.front()];

  // Input side: one gate over the channels of every incoming edge; the k-th edge into the
  // head feeds the head's k-th declared input.
  if (rt.source == nullptr) {
    std::vector<net::ChannelSpec> specs;
    std::map<std::string, int> edge_input;  // edge id -> position in head_node.inputs
    int k = 0;
    for (const auto& e : graph.edges()) {
      if (e.target_operator() == head_node.id) edge_input[e.id()] = k++;
    }
    const int logical_inputs = std::max(1, head_node.num_logical_inputs);
    std::vector<int> channels_per_input(static_cast<size_t>(logical_inputs), 0);
    for (const auto& in : dep.inputs()) {
      const job::JobEdgeDef* edge = nullptr;
      for (const auto& e : graph.edges()) {
        if (e.id() == in.edge_id()) edge = &e;
      }
      if (edge == nullptr || edge_input.count(edge->id()) == 0) {
        return absl::InvalidArgumentError("unknown input edge " + in.edge_id());
      }
      const auto& declared = head_node.inputs.at(static_cast<size_t>(edge_input[edge->id()]));
      const int logical = std::clamp(declared.logical_input, 0, logical_inputs - 1);
      int source_index = IndexOf(plan, edge->source_operator());
      if (source_index < 0) return absl::InvalidArgumentError("unknown operator " + edge->source_operator());
      for (const auto& ch : in.channels()) {
        net::ChannelSpec spec;
        spec.partition = net::PartitionId{setup_.job_id, edge->id(), ch.producer_subtask(),
                                          ch.producer_attempt()};
        spec.subpartition = ch.subpartition();
        spec.local = ch.local();
        spec.host = ch.host();
        spec.port = static_cast<uint16_t>(ch.port());
        spec.credential = setup_.data_credential;
        specs.push_back(std::move(spec));
        Runtime::Channel channel;
        channel.logical_input = logical;
        channel.decoder = plan.nodes()[source_index].make_decoder(
            rt.ops.front().inputs.at(static_cast<size_t>(logical)), &rt.ctx);
        rt.channels.push_back(std::move(channel));
        channels_per_input[static_cast<size_t>(logical)]++;
      }
    }
    for (int n : channels_per_input) {
      rt.valves.emplace_back(n);
      rt.open_channels.push_back(n);
    }
    auto gate = setup_.network->CreateInputGate(std::move(specs));
    if (!gate.ok()) return gate.status();
    {
      std::lock_guard<std::mutex> lock(mu_);
      rt.gate = std::move(*gate);
      if (cancelled_) rt.gate->Cancel();
    }
    rt.gate->SetAvailabilityListener(rt.waker);
  } else {
    rt.source->SetWaker(&rt);
  }
  // Channel index within its logical input, for the valves.
  std::vector<int> valve_channel(rt.channels.size());
  {
    std::vector<int> next(rt.valves.size(), 0);
    for (size_t c = 0; c < rt.channels.size(); ++c) {
      valve_channel[c] = next[static_cast<size_t>(rt.channels[c].logical_input)]++;
    }
  }

  rt.channel_closed.assign(rt.channels.size(), 0);
  rt.channel_data_ended.assign(rt.channels.size(), 0);
  rt.channels_with_data = static_cast<int>(rt.channels.size());
  {
    EDDY_ASSIGN_OR_RETURN(auto restore, LoadRestore(&rt.restored_finished));
    // Downloaded native state an operator did not take over (it failed, or is not keyed)
    // is removed, also when InitializeState throws.
    struct RemoveDownloads {
      std::map<std::string, StateInitContext>& restore;
      ~RemoveDownloads() { RemoveNativeDownloads(restore); }
    } remove_downloads{restore};
    const StateInitContext fresh;
    for (auto& op : rt.ops) {
      auto it = restore.find(op.op->operator_id());
      op.op->InitializeState(it == restore.end() ? fresh : it->second);
    }
  }
  for (auto it = rt.ops.rbegin(); it != rt.ops.rend(); ++it) it->op->Open();
  SetState(rpc::RUNNING);

  const auto timeout = setup_.config->GetDuration(opt::kBufferTimeout);
  auto latency_published = Clock::now();
  auto publish = [&] {
    records_in_.store(rt.ctx.records_in, std::memory_order_relaxed);
    records_out_.store(rt.ctx.records_out, std::memory_order_relaxed);
    watermark_.store(rt.Watermark(), std::memory_order_relaxed);
    if (!rt.latency.empty() && Clock::now() - latency_published >= std::chrono::seconds(1)) {
      latency_published = Clock::now();
      PublishLatency();
    }
  };
  auto apply = [&](int logical, const StatusWatermarkValve::Change& change) {
    change.Apply([&](EventTime wm) { rt.head->ProcessWatermark(logical, wm); },
                 [&](WatermarkStatus status) { rt.head->ProcessWatermarkStatus(logical, status); });
  };
  auto flush_pending = [&](int channel) -> absl::Status {
    if (rt.pending.empty()) return absl::OkStatus();
    absl::Status s = rt.channels[static_cast<size_t>(channel)].decoder->DecodeBatch(rt.pending);
    rt.pending.clear();
    return s;
  };
  // Processes one data buffer of `channel`: record elements in batches, the others through
  // the channel's watermark valve, all in order.
  auto process_buffer = [&](int channel, net::Buffer buffer) -> absl::Status {
    Runtime::Channel& ch = rt.channels[static_cast<size_t>(channel)];
    ch.reader.set_retain_used_buffer(true);
    ch.reader.SetBuffer(std::move(buffer));
    std::string_view frame;
    while (true) {
      if (!ch.reader.has_buffered_bytes() || ch.reader.returned_spanning_record() ||
          rt.pending.size() == kDecodeBatch) {
        EDDY_RETURN_IF_ERROR(flush_pending(channel));
        if (cancelled_.load(std::memory_order_relaxed)) return absl::OkStatus();
      }
      auto more = ch.reader.Next(&frame);
      if (!more.ok()) return more.status();
      if (!*more) break;  // the used-up buffer is kept until the views are decoded
      element::ElementView view;
      if (!element::DecodeElement(frame, &view)) {
        return absl::DataLossError(absl::StrCat("malformed stream element of ", frame.size(),
                                                " bytes received by ", name_));
      }
      if (view.tag == ElementTag::kRecord || view.tag == ElementTag::kTimestampedRecord) {
        rt.pending.push_back(view);
        continue;
      }
      EDDY_RETURN_IF_ERROR(flush_pending(channel));
      auto& valve = rt.valves[static_cast<size_t>(ch.logical_input)];
      if (view.tag == ElementTag::kWatermark) {
        apply(ch.logical_input, valve.OnWatermark(valve_channel[channel], view.time));
      } else if (view.tag == ElementTag::kWatermarkStatus) {
        apply(ch.logical_input, valve.OnStatus(valve_channel[channel], view.status));
      } else if (view.tag == ElementTag::kLatencyMarker) {
        rt.head->ProcessLatencyMarker(ch.logical_input,
                                      LatencyMarker{view.time, view.source, view.subtask});
      }
    }
    absl::Status s = flush_pending(channel);
    ch.reader.DropUsedBuffer();
    return s;
  };

  // Every input ended: the operators end their inputs and finish, head first (each may
  // still emit). Without checkpoints the partitions end at once; with them, end of data
  // goes downstream and the partitions end once a checkpoint taken since has completed, so
  // that two-phase-commit sinks publish their last output first.
  auto end_input = [&] {
    rt.input_ended = true;
    // Restored from a checkpoint taken after the operators finished: their final output
    // was sent then, so they do not finish again.
    for (size_t i = 0; i < rt.ops.size() && !rt.restored_finished; ++i) {
      StreamOperator* op = rt.ops[i].op.get();
      if (i > 0) op->EndInput(0);
      op->Finish();
      op->FlushOutputs();
    }
    if (!rt.await_final) return;
    end_of_input_.store(true, std::memory_order_relaxed);
    listener_(Report());  // the JobManager takes the final checkpoint once every source ended
    const std::string end_of_data = runtime::EncodeEndOfData();
    for (auto& w : rt.writers) {
      if (!w->status().ok()) continue;
      auto s = w->writer().BroadcastEvent(end_of_data);
      if (!s.ok()) w->Fail(s);
    }
  };
  auto finish_partitions = [&] {
    rt.partitions_finished = true;
    for (auto& w : rt.writers) {
      if (!w->status().ok()) break;
      auto s = w->writer().Finish();
      if (!s.ok()) w->Fail(s);
    }
  };
  // A channel's input ended (end of data, or end of partition without it).
  auto channel_data_ended = [&](int channel) {
    if (rt.channel_data_ended[static_cast<size_t>(channel)]) return;
    rt.channel_data_ended[static_cast<size_t>(channel)] = 1;
    Runtime::Channel& ch = rt.channels[static_cast<size_t>(channel)];
    auto& valve = rt.valves[static_cast<size_t>(ch.logical_input)];
    apply(ch.logical_input, valve.OnInputEnded(valve_channel[channel]));
    if (--rt.open_channels[static_cast<size_t>(ch.logical_input)] == 0 && !rt.restored_finished) {
      rt.head->EndInput(ch.logical_input);
    }
    if (--rt.channels_with_data == 0) end_input();
  };

  while (true) {
    rt.mailbox.RunPending();
    if (rt.timers.RunDue(runtime::TimerQueue::Now()) > 0) rt.FlushAllOutputs();
    if (cancelled_.load()) return absl::OkStatus();
    EDDY_RETURN_IF_ERROR(rt.WriteStatus());
    if (rt.input_ended && !rt.partitions_finished &&
        (!rt.await_final || rt.final_checkpoint_done)) {
      finish_partitions();
    }
    rt.FlushTimedOut(timeout);
    publish();
    if (rt.partitions_finished && (rt.source != nullptr || rt.gate->finished())) break;

    auto wake_by = std::min(rt.timers.NextDeadline(), rt.FlushDeadline(timeout));
    if (!rt.OutputsAvailable()) {
      // Backpressure: sleep until a buffer returns (or a mail or timer); the pool may also
      // free up through other partitions, so look again after a short while.
      rt.mailbox.WaitUntil(std::min(wake_by, Clock::now() + std::chrono::milliseconds(20)));
      continue;
    }
    if (rt.source != nullptr && rt.input_ended) {
      rt.mailbox.WaitUntil(wake_by);  // for the final checkpoint
      continue;
    }
    if (rt.source != nullptr && rt.drain) {
      // Stop with drain: the input ends here, as a bounded one's would.
      rt.head->ProcessWatermark(0, kMaxWatermark);
      end_input();
      continue;
    }
    if (rt.source != nullptr) {
      if (rt.source_wake_at > Clock::now()) {
        rt.mailbox.WaitUntil(std::min(wake_by, rt.source_wake_at));
        continue;
      }
      rt.source_wake_at = Clock::time_point::min();  // the reader sets it if it waits
      InputStatus status = rt.source->EmitNext();
      rt.FlushAllOutputs();
      if (status == InputStatus::kEndOfInput) {
        // A bounded source's end: the MAX watermark fires every timer and window.
        rt.head->ProcessWatermark(0, kMaxWatermark);
        end_input();
      } else if (status == InputStatus::kNothingAvailable) {
        // Sleep until the time the reader asked for (it may have passed already), or until
        // its waker, a mail or a timer.
        auto until = rt.source_wake_at == Clock::time_point::min() ? Clock::time_point::max()
                                                                   : rt.source_wake_at;
        rt.mailbox.WaitUntil(std::min(wake_by, until));
      }
      continue;
    }
    auto next = rt.gate->Next(std::chrono::milliseconds(0));
    if (!next.ok()) {
      if (cancelled_.load()) return absl::OkStatus();
      return next.status();
    }
    if (!next->has_value()) {
      // Nothing to read (or every channel ended and the final checkpoint is awaited).
      rt.mailbox.WaitUntil(wake_by);
      continue;
    }
    net::InputBuffer& in = **next;
    const int channel = in.channel;
    if (in.buffer.kind() == net::BufferKind::kData) {
      EDDY_RETURN_IF_ERROR(process_buffer(channel, std::move(in.buffer)));
    } else if (in.buffer.kind() == net::BufferKind::kEvent) {
      EDDY_ASSIGN_OR_RETURN(
          runtime::TaskEvent event,
          runtime::DecodeTaskEvent(std::string_view(in.buffer.data(), in.buffer.size())));
      if (event.type == runtime::TaskEventType::kCheckpointBarrier) {
        OnBarrier(channel, event.barrier);
      } else {
        rt.await_final = true;  // the upstream task waits for a final checkpoint: so do we
        channel_data_ended(channel);
      }
    } else if (in.buffer.kind() == net::BufferKind::kEndOfPartition) {
      Runtime::Channel& ch = rt.channels[static_cast<size_t>(channel)];
      EDDY_RETURN_IF_ERROR(ch.reader.Finish());
      channel_data_ended(channel);
      OnChannelClosed(channel);
    }
    rt.FlushAllOutputs();
  }
  publish();
  if (cancelled_.load()) return absl::OkStatus();
  return rt.WriteStatus();
}

}  // namespace eddy
