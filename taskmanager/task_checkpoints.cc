// Task's side of checkpoints (DESIGN "Checkpoints"): triggers (a mail in source tasks),
// barrier alignment, the synchronous snapshot of the chain, the upload on the snapshot
// thread, acknowledgements and declines, notifications, the drain of a stop with drain,
// and loading the state a deployment restores.
#include <algorithm>
#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/fs/checkpoint_storage.h"
#include "common/status.h"
#include "taskmanager/keyed_state_upload.h"
#include "taskmanager/runtime/task_events.h"
#include "taskmanager/state/rocksdb_keyed_state_backend.h"
#include "taskmanager/task.h"
#include "taskmanager/task_runtime.h"

namespace eddy {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

void Task::TriggerCheckpoint(const checkpoint::CheckpointOptions& options) {
  rt_->mailbox.Put([this, options] {
    if (rt_->source == nullptr) return;  // the barrier reaches it through its inputs
    PerformCheckpoint(options, 0);
  });
}

void Task::Drain() {
  rt_->mailbox.Put([this] {
    // A task whose input ended already finishes as it was going to.
    if (rt_->input_ended) return;
    rt_->drain = true;
    rt_->await_final = true;
  });
}

void Task::NotifyCheckpoint(int64_t checkpoint_id, bool completed, bool final) {
  rt_->mailbox.Put([this, checkpoint_id, completed, final] {
    Runtime& rt = *rt_;
    if (!completed) {
      if (rt.alignment.id == checkpoint_id) AbortAlignment("the checkpoint was aborted");
      for (auto& op : rt.ops) op.op->NotifyCheckpointAborted(checkpoint_id);
      return;
    }
    for (auto& op : rt.ops) op.op->NotifyCheckpointComplete(checkpoint_id);
    rt.FlushAllOutputs();
    if (final && rt.input_ended) rt.final_checkpoint_done = true;
  });
}

SerialExecutor& Task::snapshots() { return *snapshots_; }

void Task::Decline(int64_t checkpoint_id, const std::string& reason) {
  if (!setup_.decline_checkpoint) return;
  rpc::DeclineCheckpointRequest request;
  request.set_job_id(setup_.job_id);
  request.set_attempt(setup_.deployment.attempt());
  request.set_vertex_id(setup_.deployment.vertex_id());
  request.set_subtask(setup_.deployment.subtask());
  request.set_checkpoint_id(checkpoint_id);
  request.set_reason(reason);
  // The report is an RPC: off the task thread, in order with the acknowledgements.
  snapshots().Submit([this, request] { setup_.decline_checkpoint(request); });
}

void Task::PerformCheckpoint(const checkpoint::CheckpointOptions& options, int64_t alignment_ms) {
  Runtime& rt = *rt_;
  const auto start = Clock::now();
  const int64_t id = options.checkpoint_id();
  rt.last_barrier = std::max(rt.last_barrier, id);
  if (rt.partitions_finished || rt.final_checkpoint_done) {
    // Its partitions ended (or are about to): no barrier may follow.
    Decline(id, absl::StrCat(name_, " has finished"));
    return;
  }
  for (auto& op : rt.ops) op.op->PrepareSnapshotPreBarrier(id);
  rt.FlushAllOutputs();
  const std::string barrier = runtime::EncodeBarrier(options);
  for (auto& w : rt.writers) {
    if (!w->status().ok()) continue;
    absl::Status s = w->writer().BroadcastEvent(barrier);
    if (!s.ok()) w->Fail(s);
  }
  std::vector<std::pair<std::string, OperatorSnapshot>> snapshots;
  snapshots.reserve(rt.ops.size());
  for (auto& op : rt.ops) {
    OperatorSnapshot snapshot;
    snapshot.self_contained = options.shared_location().empty();
    op.op->SnapshotState(id, snapshot);
    snapshots.emplace_back(op.op->operator_id(), std::move(snapshot));
  }
  const int64_t sync_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  snapshots_->Submit([this, options, snapshots = std::move(snapshots), finished = rt.input_ended,
                      sync_ms, alignment_ms]() mutable {
    UploadSnapshot(options, std::move(snapshots), finished, sync_ms, alignment_ms);
  });
}

void Task::UploadSnapshot(const checkpoint::CheckpointOptions& options,
                          std::vector<std::pair<std::string, OperatorSnapshot>> snapshots,
                          bool finished, int64_t sync_ms, int64_t alignment_ms) {
  const auto start = Clock::now();
  const auto& dep = setup_.deployment;
  rpc::AcknowledgeCheckpointRequest ack;
  std::shared_ptr<fs::FileSystem> fs;
  uint64_t checkpointed_bytes = 0;
  for (auto& [operator_id, snapshot] : snapshots) {
    checkpoint::OperatorSubtaskState* state = ack.mutable_state()->add_operators();
    state->set_operator_id(operator_id);
    state->set_finished(finished);
    for (auto& entry : snapshot.operator_state) state->add_operator_state(std::move(entry));
    for (auto& entry : snapshot.union_state) state->add_union_state(std::move(entry));
    if (!snapshot.keyed_writer && snapshot.keyed.empty()) continue;
    if (fs == nullptr) {
      auto made = fs::FileSystem::ForUri(options.location(), *setup_.config);
      if (!made.ok()) {
        Decline(options.checkpoint_id(), std::string(made.status().message()));
        return;
      }
      fs = *made;
    }
    KeyedStateUploader uploader(
        *fs, {.checkpoint_uri = options.location(),
              .shared_uri = options.shared_location(),
              .file_prefix = absl::StrCat(operator_id, "-", dep.subtask(), "-", dep.attempt()),
              .key_groups = rt_->key_groups,
              .inline_threshold = static_cast<size_t>(
                  rt_->config.GetMemorySize(opt::kStateInlineThreshold))});
    absl::Status written = snapshot.keyed_writer ? snapshot.keyed_writer(uploader)
                                                 : uploader.WriteFull(std::move(snapshot.keyed));
    snapshot.keyed_writer = nullptr;  // releases what it held (a RocksDB snapshot or files)
    if (!written.ok()) {
      Decline(options.checkpoint_id(),
              absl::StrCat(name_, ": writing keyed state: ", written.message()));
      return;
    }
    checkpointed_bytes += uploader.checkpointed_bytes();
    for (auto& handle : uploader.handles()) *state->add_keyed() = std::move(handle);
  }
  if (!setup_.acknowledge_checkpoint) return;
  ack.set_job_id(setup_.job_id);
  ack.set_attempt(dep.attempt());
  ack.set_vertex_id(dep.vertex_id());
  ack.set_subtask(dep.subtask());
  ack.set_checkpoint_id(options.checkpoint_id());
  ack.set_state_size(fs::StateSize(ack.state()));
  ack.set_checkpointed_size(checkpointed_bytes);
  ack.set_sync_duration_ms(sync_ms);
  ack.set_async_duration_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
  ack.set_alignment_duration_ms(alignment_ms);
  setup_.acknowledge_checkpoint(ack);
}

void Task::OnBarrier(int channel, const checkpoint::CheckpointOptions& options) {
  Runtime& rt = *rt_;
  const int64_t id = options.checkpoint_id();
  auto& a = rt.alignment;
  if (id != a.id && id <= rt.last_barrier) return;  // taken already, or overtaken and aborted
  if (a.id != 0 && id > a.id) {
    AbortAlignment(absl::StrCat("the barrier of checkpoint ", id, " arrived first"));
  }
  if (a.id == 0) {
    a.id = id;
    a.options = options;
    a.received.assign(rt.channels.size(), 0);
    a.missing = 0;
    for (char closed : rt.channel_closed) a.missing += closed ? 0 : 1;
    a.started = Clock::now();
    rt.last_barrier = id;
  }
  auto& received = a.received[static_cast<size_t>(channel)];
  if (received) return;
  received = 1;
  --a.missing;
  // Exactly once: nothing after the barrier is processed before the checkpoint is taken.
  if (options.exactly_once() && a.missing > 0) rt.gate->BlockChannel(channel);
  MaybeCompleteAlignment();
}

void Task::OnChannelClosed(int channel) {
  Runtime& rt = *rt_;
  rt.channel_closed[static_cast<size_t>(channel)] = 1;
  auto& a = rt.alignment;
  if (a.id != 0 && !a.received[static_cast<size_t>(channel)]) {
    a.received[static_cast<size_t>(channel)] = 1;
    --a.missing;
    MaybeCompleteAlignment();
  }
}

void Task::MaybeCompleteAlignment() {
  Runtime& rt = *rt_;
  auto& a = rt.alignment;
  if (a.id == 0 || a.missing > 0) return;
  const int64_t alignment_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - a.started).count();
  checkpoint::CheckpointOptions options = std::move(a.options);
  for (size_t c = 0; c < a.received.size(); ++c) {
    if (a.received[c]) rt.gate->ResumeChannel(static_cast<int>(c));
  }
  a = Runtime::Alignment{};
  PerformCheckpoint(options, alignment_ms);
}

void Task::AbortAlignment(const std::string& reason) {
  Runtime& rt = *rt_;
  auto& a = rt.alignment;
  if (a.id == 0) return;
  for (size_t c = 0; c < a.received.size(); ++c) {
    if (a.received[c]) rt.gate->ResumeChannel(static_cast<int>(c));
  }
  const int64_t id = a.id;
  a = Runtime::Alignment{};
  Decline(id, absl::StrCat(name_, ": ", reason));
}

void RemoveNativeDownloads(const std::map<std::string, StateInitContext>& restore) {
  for (const auto& [op, init] : restore) {
    for (const NativeRestore& native : init.keyed_native) {
      std::error_code ec;
      std::filesystem::remove_all(native.dir, ec);  // gone already if a backend adopted it
    }
  }
}

absl::StatusOr<std::map<std::string, StateInitContext>> Task::LoadRestore(bool* finished) {
  std::map<std::string, StateInitContext> out;
  auto loaded = LoadRestoreInto(&out, finished);
  if (!loaded.ok()) {
    RemoveNativeDownloads(out);
    return loaded;
  }
  return out;
}

absl::Status Task::LoadRestoreInto(std::map<std::string, StateInitContext>* restore,
                                   bool* finished) {
  std::map<std::string, StateInitContext>& out = *restore;
  const auto& dep = setup_.deployment;
  *finished = false;
  if (!dep.has_restore()) return absl::OkStatus();
  *finished = dep.restore().operators_size() > 0;
  for (const auto& op : dep.restore().operators()) *finished = *finished && op.finished();
  std::shared_ptr<fs::FileSystem> fs;
  for (const auto& op : dep.restore().operators()) {
    StateInitContext& init = out[op.operator_id()];
    init.restored = true;
    init.checkpoint_id = dep.restore().checkpoint_id();
    for (const auto& entry : op.operator_state()) init.operator_state.push_back(entry);
    for (const auto& entry : op.union_state()) init.union_state.push_back(entry);
    auto restoring = [&](const absl::Status& s) {
      return absl::Status(s.code(), absl::StrCat("restoring operator '", op.operator_id(),
                                                 "' from checkpoint ",
                                                 dep.restore().checkpoint_id(), ": ", s.message()));
    };
    for (const auto& handle : op.keyed()) {
      if (handle.uri().empty() && !handle.has_native()) {
        init.keyed_snapshots.push_back(handle.inline_data());
        continue;
      }
      if (fs == nullptr) {
        auto made = fs::FileSystem::ForUri(dep.restore().location(), *setup_.config);
        if (!made.ok()) return restoring(made.status());
        fs = *made;
      }
      if (handle.has_native()) {
        auto native = DownloadNativeState(
            *fs, dep.restore().location(), handle,
            state::RocksDbOptions::FromConfig(rt_->config).local_dir,
            absl::StrCat(setup_.job_id, "-", op.operator_id(), "-", dep.subtask()),
            dep.restore().share_files());
        if (!native.ok()) return restoring(native.status());
        init.keyed_native.push_back(std::move(*native));
        continue;
      }
      auto bytes = fs::ReadKeyedState(*fs, dep.restore().location(), handle);
      if (!bytes.ok()) return restoring(bytes.status());
      init.keyed_snapshots.push_back(std::move(*bytes));
    }
  }
  return absl::OkStatus();
}

}  // namespace eddy
