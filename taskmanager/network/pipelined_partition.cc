#include "taskmanager/network/pipelined_partition.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace eddy::net {

void PipelinedPartition::Quota::Recycle(Buffer segment) {
  segment.Reset();  // back to the pool before a waiting producer looks for it
  std::shared_ptr<AvailabilityListener> listener;
  {
    std::lock_guard<std::mutex> lock(mu_);
    EDDY_CHECK_GT(outstanding_, 0);
    --outstanding_;
    listener = listener_;
  }
  cv_.notify_all();
  if (listener) listener->OnAvailable();
}

bool PipelinedPartition::Quota::HasRoom() const {
  if (cancelled_) return true;  // RequestBuffer() fails at once: nothing to wait for
  std::lock_guard<std::mutex> lock(mu_);
  return outstanding_ < limit_ && pool_->available() > 0;
}

absl::StatusOr<Buffer> PipelinedPartition::Quota::Acquire(
    std::optional<std::chrono::steady_clock::time_point> deadline, const PartitionId& id) {
  auto cancelled = [&] {
    return absl::CancelledError(absl::StrCat("partition ", id.ToString(), " was cancelled"));
  };
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto ready = [&] { return cancelled_.load() || outstanding_ < limit_; };
    if (deadline) {
      if (!cv_.wait_until(lock, *deadline, ready)) {
        return absl::DeadlineExceededError(absl::StrCat(
            "partition ", id.ToString(), ": all ", limit_, " buffers of its quota are in use"));
      }
    } else {
      cv_.wait(lock, ready);
    }
    if (cancelled_) return cancelled();
    ++outstanding_;
  }
  Buffer buffer = pool_->RequestUntil(deadline, &cancelled_);
  if (!buffer) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      --outstanding_;
    }
    cv_.notify_all();
    if (cancelled_) return cancelled();
    return absl::DeadlineExceededError(absl::StrCat(
        "partition ", id.ToString(), ": no free network buffer in the TaskManager's pool of ",
        pool_->total(), " (taskmanager.network.buffers)"));
  }
  return buffer;
}

void PipelinedPartition::Quota::Cancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
  }
  cv_.notify_all();
  pool_->WakeWaiters();
}

bool PipelinedPartition::IsAvailable() const { return quota_->HasRoom(); }

int PipelinedPartition::Quota::outstanding() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outstanding_;
}

PipelinedPartition::PipelinedPartition(PartitionId id, int num_subpartitions, int quota,
                                       std::shared_ptr<BufferPool> pool,
                                       std::function<void(PipelinedPartition*)> on_released)
    : id_(std::move(id)),
      pool_(pool),
      quota_(std::make_shared<Quota>(quota, std::move(pool))),
      on_released_(std::move(on_released)),
      subs_(static_cast<size_t>(num_subpartitions)) {
  EDDY_CHECK_GT(num_subpartitions, 0);
  EDDY_CHECK_GE(quota, num_subpartitions);
}

PipelinedPartition::~PipelinedPartition() {
  // Queued buffers recycle into quota_ (kept alive by them) and the pool.
  std::lock_guard<std::mutex> lock(mu_);
  subs_.clear();
}

absl::StatusOr<Buffer> PipelinedPartition::RequestBuffer() {
  auto buffer = quota_->Acquire(std::nullopt, id_);
  if (!buffer.ok()) return buffer.status();
  buffer->AttachRecycler(quota_);
  return buffer;
}

absl::StatusOr<Buffer> PipelinedPartition::RequestBufferFor(std::chrono::milliseconds timeout) {
  auto buffer = quota_->Acquire(DeadlineAfter(timeout), id_);
  if (!buffer.ok()) return buffer.status();
  buffer->AttachRecycler(quota_);
  return buffer;
}

absl::Status PipelinedPartition::CancelledError() const {
  return absl::CancelledError(absl::StrCat("partition ", id_.ToString(), " was cancelled"));
}

void PipelinedPartition::Add(int subpartition, Buffer buffer) {
  EDDY_CHECK(subpartition >= 0 && subpartition < num_subpartitions())
      << "subpartition " << subpartition << " of " << id_.ToString();
  std::shared_ptr<SubpartitionListener> listener;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return;  // `buffer` is dropped after the lock is released
    EDDY_CHECK(!finished_) << "Add() after Finish() on partition " << id_.ToString();
    Subpartition& sub = subs_[static_cast<size_t>(subpartition)];
    bool was_empty = sub.queue.empty();
    sub.queue.push_back(std::move(buffer));
    if (was_empty) listener = sub.listener;
  }
  if (listener) listener->OnDataAvailable();
}

void PipelinedPartition::Finish() {
  std::vector<std::shared_ptr<SubpartitionListener>> listeners;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_ || finished_) return;
    finished_ = true;
    for (Subpartition& sub : subs_) {
      bool was_empty = sub.queue.empty();
      sub.queue.push_back(Buffer::EndOfPartition());
      if (was_empty && sub.listener) listeners.push_back(sub.listener);
    }
  }
  for (auto& l : listeners) l->OnDataAvailable();
}

void PipelinedPartition::Cancel() {
  std::vector<std::shared_ptr<SubpartitionListener>> listeners;
  std::vector<std::deque<Buffer>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return;
    cancelled_ = true;
    for (Subpartition& sub : subs_) {
      dropped.push_back(std::move(sub.queue));
      sub.queue.clear();
      if (sub.listener) listeners.push_back(sub.listener);
    }
  }
  quota_->Cancel();
  dropped.clear();
  for (auto& l : listeners) l->OnDataAvailable();  // readers poll and see the error
  NotifyReleased();
}

void PipelinedPartition::NotifyReleased() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (released_) return;
    released_ = true;
  }
  if (on_released_) on_released_(this);
}

absl::Status PipelinedPartition::AttachReader(int subpartition,
                                              std::shared_ptr<SubpartitionListener> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  if (subpartition < 0 || subpartition >= num_subpartitions()) {
    return absl::InvalidArgumentError(absl::StrCat("partition ", id_.ToString(), " has ",
                                                   num_subpartitions(), " subpartitions, not ",
                                                   subpartition + 1));
  }
  if (cancelled_) return CancelledError();
  Subpartition& sub = subs_[static_cast<size_t>(subpartition)];
  if (sub.has_reader) {
    return absl::FailedPreconditionError(absl::StrCat("subpartition ", subpartition, " of ",
                                                      id_.ToString(), " already has a reader"));
  }
  sub.has_reader = true;
  sub.listener = std::move(listener);
  return absl::OkStatus();
}

void PipelinedPartition::DetachReader(int subpartition) {
  std::shared_ptr<SubpartitionListener> listener;
  std::lock_guard<std::mutex> lock(mu_);
  if (subpartition < 0 || subpartition >= num_subpartitions()) return;
  listener = std::move(subs_[static_cast<size_t>(subpartition)].listener);
  subs_[static_cast<size_t>(subpartition)].listener = nullptr;
  // `listener` is destroyed after the lock (declared before it).
}

absl::StatusOr<PipelinedPartition::PollResult> PipelinedPartition::Poll(int subpartition,
                                                                        bool has_credit) {
  PollResult result;
  bool released = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return CancelledError();
    EDDY_CHECK(subpartition >= 0 && subpartition < num_subpartitions());
    Subpartition& sub = subs_[static_cast<size_t>(subpartition)];
    if (sub.queue.empty()) return result;
    bool head_needs_credit = sub.queue.front().kind() != BufferKind::kEndOfPartition;
    if (head_needs_credit && !has_credit) {
      result.more = true;
      result.next_needs_credit = true;
      return result;
    }
    result.buffer = std::move(sub.queue.front());
    sub.queue.pop_front();
    result.more = !sub.queue.empty();
    result.next_needs_credit =
        result.more && sub.queue.front().kind() != BufferKind::kEndOfPartition;
    if (result.buffer.kind() == BufferKind::kEndOfPartition && !sub.consumed) {
      sub.consumed = true;
      released = ++consumed_count_ == num_subpartitions();
    }
  }
  if (released) NotifyReleased();
  return result;
}

}  // namespace eddy::net
