// SingleInputGate: the consumer side of one task's inputs. Local channels poll the
// producer's PipelinedPartition directly; remote channels receive buffers from a
// PartitionRequestClient into their exclusive buffers (RemoteInputChannel), and grant one
// credit back each time the task drops such a buffer. The task thread waits in Next() on one
// condition variable that every channel signals. Thread-safe: Next() by one task thread,
// the On*() callbacks from io threads and producer threads, Cancel() from anywhere.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "taskmanager/network/buffer.h"
#include "taskmanager/network/network_environment.h"

namespace eddy::net {

class NetworkEnvironmentImpl;
class PartitionRequestClient;
class PipelinedPartition;
class SingleInputGate;

/// One remote input channel: its exclusive buffers and its credit. Recycle() is called by
/// whichever thread drops a received buffer; everything marked "client strand" only by
/// the PartitionRequestClient that carries the channel.
class RemoteInputChannel final : public BufferRecycler,
                                 public std::enable_shared_from_this<RemoteInputChannel> {
 public:
  RemoteInputChannel(uint32_t id, int index, ChannelSpec spec, std::weak_ptr<SingleInputGate> gate,
                     std::shared_ptr<BufferPool> pool, std::vector<Buffer> exclusive);

  uint32_t id() const { return id_; }
  int index() const { return index_; }
  const ChannelSpec& spec() const { return spec_; }
  uint32_t initial_credit() const { return initial_credit_; }
  void set_client(std::weak_ptr<PartitionRequestClient> client) { client_ = std::move(client); }
  std::shared_ptr<PartitionRequestClient> client() const { return client_.lock(); }

  /// Returns a free exclusive buffer, or an empty one if none is free or the channel was
  /// released (then `*released` is set).
  Buffer TakeSegment(bool* released);
  /// Hands a received buffer (or end-of-partition) to the gate.
  void Deliver(Buffer buffer);
  /// Fails the channel in the gate.
  void Fail(absl::Status status);
  /// Returns and clears the credit granted since the last call.
  uint32_t TakePendingCredit() { return pending_credit_.exchange(0); }

  /// Takes back an exclusive buffer the task dropped and announces one credit.
  void Recycle(Buffer segment) override;
  /// Stops granting credit and returns the free exclusive buffers to the pool (end of
  /// partition, failure or the gate let go of the channel).
  void Release();

  // Client strand only.
  uint32_t next_sequence = 0;
  std::optional<std::chrono::steady_clock::time_point> request_deadline;
  std::chrono::milliseconds retry_backoff{10};

 private:
  const uint32_t id_;
  const int index_;
  const ChannelSpec spec_;
  const std::weak_ptr<SingleInputGate> gate_;
  const std::shared_ptr<BufferPool> pool_;  // outlives free_
  const uint32_t initial_credit_;
  std::weak_ptr<PartitionRequestClient> client_;
  std::atomic<uint32_t> pending_credit_{0};
  std::mutex mu_;
  std::vector<Buffer> free_;  // guarded by mu_
  bool released_ = false;     // guarded by mu_
};

class SingleInputGate : public std::enable_shared_from_this<SingleInputGate> {
 public:
  SingleInputGate(std::shared_ptr<NetworkEnvironmentImpl> env, std::vector<ChannelSpec> specs);
  ~SingleInputGate();

  /// Reserves the remote channels' exclusive buffers and requests every channel.
  /// REQUIRES: owned by a shared_ptr.
  absl::Status Setup();

  int num_channels() const { return static_cast<int>(channels_.size()); }
  absl::StatusOr<std::optional<InputBuffer>> Next(std::chrono::milliseconds timeout);
  bool finished() const { return finished_.load(); }
  /// Fails Next() with Cancelled (unless finished) and releases the channels.
  void Cancel(absl::Status reason);
  /// Lets go of every channel: detaches local readers, cancels remote requests and returns
  /// the exclusive buffers. Idempotent.
  void Release();
  /// Wakes `listener` whenever a channel may have become available (or the gate failed).
  void SetAvailabilityListener(std::shared_ptr<AvailabilityListener> listener);
  /// Stops returning buffers of one channel until ResumeChannel() (barrier alignment).
  void BlockChannel(int index);
  void ResumeChannel(int index);
  bool IsChannelBlocked(int index) const;
  /// Returns true if any channel reads a partition of `job_id`.
  bool BelongsToJob(const std::string& job_id) const;

  // Channel callbacks (any thread).
  void OnRemoteBuffer(int index, Buffer buffer);
  void OnChannelError(int index, absl::Status status);
  void OnLocalDataAvailable(int index);

 private:
  struct Channel {
    ChannelSpec spec;
    std::shared_ptr<RemoteInputChannel> remote;  // remote channels
    std::shared_ptr<PipelinedPartition> local;   // local channels, once attached
    std::deque<Buffer> received;                 // remote channels
    bool in_available = false;
    bool ended = false;  // end-of-partition returned
    bool blocked = false;          // BlockChannel(): Next() skips it
    bool blocked_pending = false;  // it had data while blocked
    // Local partition lookup retries.
    std::chrono::steady_clock::time_point request_deadline{};
    std::chrono::milliseconds retry_backoff{10};
  };
  /// Looks up a local channel's partition; retries with backoff until its deadline.
  void TryAttachLocal(int index);
  void EnqueueLocked(int index);  // REQUIRES: mu_ held
  /// Wakes Next() and the availability listener.
  void Notify();

  const std::shared_ptr<NetworkEnvironmentImpl> env_;
  const std::shared_ptr<NetworkStats> stats_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Channel> channels_;  // guarded by mu_ (the vector itself is fixed)
  std::deque<int> available_;      // channels that may have data, FIFO; guarded by mu_
  absl::Status error_;             // first failure; guarded by mu_
  int ended_count_ = 0;            // guarded by mu_
  bool released_ = false;          // guarded by mu_
  std::atomic<bool> finished_{false};
  mutable std::mutex listener_mu_;  // innermost lock
  std::shared_ptr<AvailabilityListener> listener_;  // guarded by listener_mu_
};

/// The InputGate handed to the task; releases the gate when dropped.
class InputGateHandle final : public InputGate {
 public:
  explicit InputGateHandle(std::shared_ptr<SingleInputGate> gate) : gate_(std::move(gate)) {}
  ~InputGateHandle() override { gate_->Release(); }
  int num_channels() const override { return gate_->num_channels(); }
  absl::StatusOr<std::optional<InputBuffer>> Next(std::chrono::milliseconds timeout) override {
    return gate_->Next(timeout);
  }
  bool finished() const override { return gate_->finished(); }
  void Cancel() override { gate_->Cancel(absl::CancelledError("input gate was cancelled")); }
  void SetAvailabilityListener(std::shared_ptr<AvailabilityListener> listener) override {
    gate_->SetAvailabilityListener(std::move(listener));
  }
  void BlockChannel(int index) override { gate_->BlockChannel(index); }
  void ResumeChannel(int index) override { gate_->ResumeChannel(index); }

 private:
  std::shared_ptr<SingleInputGate> gate_;
};

}  // namespace eddy::net
