// The state a Task's thread owns while it runs (Task::Runtime), shared by the files that
// implement Task: task.cc (the chain and the run loop) and task_checkpoints.cc (barriers,
// snapshots, uploads, restores). Private to the taskmanager library.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/operator.h"
#include "api/watermark_valve.h"
#include "common/config.h"
#include "taskmanager/channel_writer.h"
#include "taskmanager/network/record_serializer.h"
#include "taskmanager/runtime/mailbox.h"
#include "taskmanager/task.h"

namespace eddy {

/// Removes the directories native restores were downloaded to (RestoreNative moves the one
/// a backend takes over, so what is left was not taken).
void RemoveNativeDownloads(const std::map<std::string, StateInitContext>& restore);

/// Wakes a mailbox from network threads; shared with the partitions and the gate, so it
/// (and the mailbox) outlive the task if they call late.
class MailboxWaker final : public net::AvailabilityListener {
 public:
  explicit MailboxWaker(std::shared_ptr<runtime::Mailbox> mailbox) : mailbox_(std::move(mailbox)) {}
  void OnAvailable() override { mailbox_->Wake(); }

 private:
  std::shared_ptr<runtime::Mailbox> mailbox_;
};

/// Everything the task thread owns while it runs.
struct Task::Runtime final : public SourceWaker, public ProcessingTimeService {
  using Clock = std::chrono::steady_clock;

  RuntimeContext ctx;
  std::map<std::string, std::string> job_config;
  Config config;  // the TaskManager's, with the job's keys applied
  std::shared_ptr<runtime::Mailbox> mailbox_ptr = std::make_shared<runtime::Mailbox>();
  runtime::Mailbox& mailbox = *mailbox_ptr;
  std::shared_ptr<MailboxWaker> waker = std::make_shared<MailboxWaker>(mailbox_ptr);
  runtime::TimerQueue timers;

  // The chain: operators in topological order (head first), outputs they own.
  std::vector<OperatorInstance> ops;
  std::vector<std::unique_ptr<OutputBase>> outputs;
  std::vector<std::unique_ptr<StreamOperator>> writer_ops;
  std::vector<std::unique_ptr<ChannelWriter>> writers;
  SourceOperatorBase* source = nullptr;
  StreamOperator* head = nullptr;

  // The input side.
  std::unique_ptr<net::InputGate> gate;
  struct Channel {
    int logical_input = 0;
    std::unique_ptr<ElementDecoder> decoder;
    net::RecordReader reader;
  };
  std::vector<Channel> channels;
  std::vector<StatusWatermarkValve> valves;  // per logical input
  std::vector<int> open_channels;                     // per logical input
  std::vector<element::ElementView> pending;          // record elements not yet decoded

  // Checkpoints and the end of input (task thread).
  struct Alignment {
    int64_t id = 0;  // the checkpoint whose barriers are being aligned; 0: none
    checkpoint::CheckpointOptions options;
    std::vector<char> received;  // per channel: its barrier arrived
    int missing = 0;             // open channels whose barrier has not arrived
    Clock::time_point started;
  };
  Alignment alignment;
  int64_t last_barrier = 0;                // highest checkpoint id started here
  KeyGroupRange key_groups;
  std::vector<char> channel_closed;        // end of partition received
  std::vector<char> channel_data_ended;    // end of data (or end of partition) received
  int channels_with_data = 0;
  bool input_ended = false;       // every input ended: operators finished, end of data sent
  bool restored_finished = false;  // restored from a checkpoint taken after that
  bool partitions_finished = false;  // end of partition sent
  bool final_checkpoint_done = false;
  // Ending input waits for a final checkpoint (or drained savepoint) before the partitions
  // end: with checkpoints, after a drain request, or once an upstream task does (end of
  // data arrived).
  bool await_final = false;
  bool drain = false;  // stop with drain: a source ends its input now

  Clock::time_point source_wake_at = Clock::time_point::min();
  LatencyStats latency;  // what this chain's sinks measured
  std::unique_ptr<KeyedStateBackendFactory> keyed_state;

  // SourceWaker
  void Wake() override { mailbox.Wake(); }
  void WakeAt(Clock::time_point when) override { source_wake_at = when; }
  // ProcessingTimeService (task thread)
  int64_t CurrentProcessingTime() const override { return runtime::TimerQueue::Now(); }
  void RegisterTimer(int64_t time, std::function<void(int64_t)> callback) override {
    timers.Add(time, std::move(callback));
  }

  void FlushAllOutputs() {
    for (auto& op : ops) op.op->FlushOutputs();
  }
  absl::Status WriteStatus() const {
    for (const auto& w : writers) {
      if (!w->status().ok()) return w->status();
    }
    return absl::OkStatus();
  }
  bool OutputsAvailable() const {
    for (const auto& w : writers) {
      if (!w->partition().IsAvailable()) return false;
    }
    return true;
  }
  /// Returns when the oldest unflushed network byte must be sent (max() if none).
  Clock::time_point FlushDeadline(std::chrono::milliseconds timeout) const {
    auto deadline = Clock::time_point::max();
    for (const auto& w : writers) {
      auto age = w->writer().OldestPendingAge();
      if (age.count() > 0) deadline = std::min(deadline, Clock::now() - age + timeout);
    }
    return deadline;
  }
  void FlushTimedOut(std::chrono::milliseconds timeout) {
    for (auto& w : writers) {
      if (w->writer().OldestPendingAge() >= timeout) {
        auto s = w->writer().FlushAll();
        if (!s.ok()) w->Fail(s);
      }
    }
  }
  EventTime Watermark() const {
    if (head == nullptr) return kMinWatermark;
    if (source == nullptr) return head->current_watermark();
    // A source vertex has no input: show the watermark its chain produced.
    EventTime wm = kMinWatermark;
    for (const auto& op : ops) wm = std::max(wm, op.op->current_watermark());
    return wm;
  }
};

}  // namespace eddy
