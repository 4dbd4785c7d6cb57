// PipelinedPartition: the ResultPartition of one producer subtask, a FIFO queue of buffers
// per subpartition read by exactly one consumer (a local input channel or a remote one
// served by a PartitionServerConnection). Counts the buffers it has handed out against its
// quota and makes RequestBuffer() wait while the quota is used up. Thread-safe; listeners
// are called without the partition's lock held.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "taskmanager/network/buffer.h"
#include "taskmanager/network/network_environment.h"

namespace eddy::net {

/// Told when a subpartition that its reader saw empty receives a buffer (or fails).
class SubpartitionListener {
 public:
  virtual ~SubpartitionListener() = default;
  virtual void OnDataAvailable() = 0;
};

class PipelinedPartition final : public ResultPartition {
 public:
  /// `on_released` runs once when every subpartition has been consumed or on Cancel().
  PipelinedPartition(PartitionId id, int num_subpartitions, int quota,
                     std::shared_ptr<BufferPool> pool,
                     std::function<void(PipelinedPartition*)> on_released);
  ~PipelinedPartition() override;

  // ResultPartition
  const PartitionId& id() const override { return id_; }
  int num_subpartitions() const override { return static_cast<int>(subs_.size()); }
  absl::StatusOr<Buffer> RequestBuffer() override;
  absl::StatusOr<Buffer> RequestBufferFor(std::chrono::milliseconds timeout) override;
  void Add(int subpartition, Buffer buffer) override;
  void Finish() override;
  void Cancel() override;
  bool IsAvailable() const override;
  void SetAvailabilityListener(std::shared_ptr<AvailabilityListener> listener) override {
    quota_->SetListener(std::move(listener));
  }

  /// Makes `listener` the one reader of a subpartition. An error if it already had one.
  absl::Status AttachReader(int subpartition, std::shared_ptr<SubpartitionListener> listener);
  /// Stops notifying the reader (it gave up); the subpartition cannot be read again.
  void DetachReader(int subpartition);

  struct PollResult {
    Buffer buffer;                   // empty if nothing could be taken
    bool more = false;               // the subpartition holds more buffers
    bool next_needs_credit = false;  // ... and the next is not an end-of-partition
  };
  /// Takes the next buffer of a subpartition. Without credit only an end-of-partition may
  /// be taken. An error once the partition was cancelled.
  absl::StatusOr<PollResult> Poll(int subpartition, bool has_credit);

  int quota() const { return quota_->limit(); }
  /// Returns the number of buffers handed out by RequestBuffer() not yet recycled.
  int outstanding() const { return quota_->outstanding(); }

 private:
  /// Counts buffers handed out; it is their recycler, so that queued buffers do not keep
  /// the partition itself alive.
  class Quota final : public BufferRecycler {
   public:
    Quota(int limit, std::shared_ptr<BufferPool> pool) : limit_(limit), pool_(std::move(pool)) {}
    void Recycle(Buffer segment) override;
    /// Reserves one buffer of the quota and takes it from the pool.
    absl::StatusOr<Buffer> Acquire(std::optional<std::chrono::steady_clock::time_point> deadline,
                                   const PartitionId& id);
    void Cancel();
    int limit() const { return limit_; }
    int outstanding() const;
    bool HasRoom() const;
    void SetListener(std::shared_ptr<AvailabilityListener> l) {
      std::lock_guard<std::mutex> lock(mu_);
      listener_ = std::move(l);
    }

   private:
    const int limit_;
    std::shared_ptr<BufferPool> pool_;
    std::atomic<bool> cancelled_{false};
    mutable std::mutex mu_;
    std::condition_variable cv_;
    int outstanding_ = 0;  // guarded by mu_
    std::shared_ptr<AvailabilityListener> listener_;  // guarded by mu_
  };

  struct Subpartition {
    std::deque<Buffer> queue;
    std::shared_ptr<SubpartitionListener> listener;
    bool has_reader = false;
    bool consumed = false;  // end-of-partition taken
  };
  absl::Status CancelledError() const;
  void NotifyReleased();

  const PartitionId id_;
  std::shared_ptr<BufferPool> pool_;
  std::shared_ptr<Quota> quota_;
  std::function<void(PipelinedPartition*)> on_released_;

  mutable std::mutex mu_;
  std::vector<Subpartition> subs_;  // guarded by mu_ (the vector itself is fixed)
  int consumed_count_ = 0;          // guarded by mu_
  bool finished_ = false;           // guarded by mu_
  bool cancelled_ = false;          // guarded by mu_
  bool released_ = false;           // guarded by mu_
};

}  // namespace eddy::net
