#include "taskmanager/network/single_input_gate.h"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "taskmanager/network/network_environment_impl.h"
#include "taskmanager/network/partition_request_client.h"
#include "taskmanager/network/pipelined_partition.h"

namespace eddy::net {
namespace {

constexpr std::chrono::milliseconds kMaxRetryBackoff{500};

/// Wakes the gate when a local subpartition gets data.
class LocalChannelListener final : public SubpartitionListener {
 public:
  LocalChannelListener(std::weak_ptr<SingleInputGate> gate, int index)
      : gate_(std::move(gate)), index_(index) {}
  void OnDataAvailable() override {
    if (auto gate = gate_.lock()) gate->OnLocalDataAvailable(index_);
  }

 private:
  std::weak_ptr<SingleInputGate> gate_;
  int index_;
};

}  // namespace

RemoteInputChannel::RemoteInputChannel(uint32_t id, int index, ChannelSpec spec,
                                       std::weak_ptr<SingleInputGate> gate,
                                       std::shared_ptr<BufferPool> pool,
                                       std::vector<Buffer> exclusive)
    : id_(id),
      index_(index),
      spec_(std::move(spec)),
      gate_(std::move(gate)),
      pool_(std::move(pool)),
      initial_credit_(static_cast<uint32_t>(exclusive.size())),
      free_(std::move(exclusive)) {}

Buffer RemoteInputChannel::TakeSegment(bool* released) {
  std::lock_guard<std::mutex> lock(mu_);
  *released = released_;
  if (released_ || free_.empty()) return Buffer();
  Buffer segment = std::move(free_.back());
  free_.pop_back();
  return segment;
}

void RemoteInputChannel::Deliver(Buffer buffer) {
  if (auto gate = gate_.lock()) gate->OnRemoteBuffer(index_, std::move(buffer));
}

void RemoteInputChannel::Fail(absl::Status status) {
  if (auto gate = gate_.lock()) gate->OnChannelError(index_, std::move(status));
}

void RemoteInputChannel::Recycle(Buffer segment) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (released_) return;  // `segment` goes back to the pool
    segment.set_size(0);
    segment.set_kind(BufferKind::kData);
    free_.push_back(std::move(segment));
  }
  // One announcement in flight at a time; it carries every credit granted meanwhile.
  if (pending_credit_.fetch_add(1) == 0) {
    if (auto client = client_.lock()) client->AnnounceCredit(shared_from_this());
  }
}

void RemoteInputChannel::Release() {
  std::vector<Buffer> dropped;
  std::lock_guard<std::mutex> lock(mu_);
  released_ = true;
  dropped.swap(free_);
}

SingleInputGate::SingleInputGate(std::shared_ptr<NetworkEnvironmentImpl> env,
                                 std::vector<ChannelSpec> specs)
    : env_(std::move(env)), stats_(env_->stats()), channels_(specs.size()) {
  for (size_t i = 0; i < specs.size(); ++i) channels_[i].spec = std::move(specs[i]);
}

SingleInputGate::~SingleInputGate() { Release(); }

absl::Status SingleInputGate::Setup() {
  const NetworkOptions& options = env_->options();
  const auto deadline = DeadlineAfter(options.partition_request_timeout);
  // Reserve every exclusive buffer first, so that a gate either gets all or fails.
  for (size_t i = 0; i < channels_.size(); ++i) {
    Channel& ch = channels_[i];
    if (ch.spec.local) continue;
    std::vector<Buffer> exclusive;
    for (int k = 0; k < options.exclusive_buffers_per_channel; ++k) {
      Buffer b = env_->pool()->RequestUntil(deadline, nullptr);
      if (!b) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "no free network buffers for the ", options.exclusive_buffers_per_channel,
            " exclusive buffers of the channel from ", ch.spec.partition.ToString(), " at ",
            ch.spec.host, ":", ch.spec.port, " within ", options.partition_request_timeout.count(),
            " ms (pool of ", env_->pool()->total(), " buffers, taskmanager.network.buffers)"));
      }
      exclusive.push_back(std::move(b));
    }
    ch.remote =
        std::make_shared<RemoteInputChannel>(env_->NextChannelId(), static_cast<int>(i), ch.spec,
                                             weak_from_this(), env_->pool(), std::move(exclusive));
  }
  for (size_t i = 0; i < channels_.size(); ++i) {
    Channel& ch = channels_[i];
    if (ch.spec.local) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        ch.request_deadline = deadline;
      }
      TryAttachLocal(static_cast<int>(i));
      continue;
    }
    auto client = env_->GetClient(ch.spec.host, ch.spec.port);
    if (client == nullptr) return absl::FailedPreconditionError("network environment is stopped");
    ch.remote->set_client(client);
    client->AddChannel(ch.remote);
  }
  return absl::OkStatus();
}

void SingleInputGate::TryAttachLocal(int index) {
  Channel& ch = channels_[static_cast<size_t>(index)];
  const ChannelSpec& spec = ch.spec;  // immutable after construction
  if (auto partition = env_->FindPartition(spec.partition)) {
    absl::Status attached = partition->AttachReader(
        spec.subpartition, std::make_shared<LocalChannelListener>(weak_from_this(), index));
    if (!attached.ok()) {
      OnChannelError(index, attached);
      return;
    }
    bool released = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      released = released_;
      if (!released) {
        ch.local = partition;
        EnqueueLocked(index);  // it may hold data already
      }
    }
    if (released) {
      partition->DetachReader(spec.subpartition);
    } else {
      Notify();
    }
    return;
  }
  stats_->partition_requests_not_found.fetch_add(1, std::memory_order_relaxed);
  std::chrono::milliseconds delay{0};
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (released_) return;
    auto now = std::chrono::steady_clock::now();
    if (now < ch.request_deadline) {
      delay = std::min(ch.retry_backoff,
                       std::chrono::ceil<std::chrono::milliseconds>(ch.request_deadline - now));
      ch.retry_backoff = std::min(ch.retry_backoff * 2, kMaxRetryBackoff);
    }
  }
  if (delay.count() <= 0) {
    std::string address = env_->address();
    OnChannelError(index, absl::NotFoundError(absl::StrCat(
                              "partition ", spec.partition.ToString(), " (subpartition ",
                              spec.subpartition, ") was not produced on this TaskManager",
                              address.empty() ? "" : " at ", address, " (local channel) within ",
                              env_->options().partition_request_timeout.count(), " ms")));
    return;
  }
  auto timer = std::make_shared<boost::asio::steady_timer>(env_->io(), delay);
  timer->async_wait([timer, gate = weak_from_this(), index](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto g = gate.lock()) g->TryAttachLocal(index);
  });
}

void SingleInputGate::Notify() {
  cv_.notify_all();
  std::shared_ptr<AvailabilityListener> listener;
  {
    std::lock_guard<std::mutex> lock(listener_mu_);
    listener = listener_;
  }
  if (listener) listener->OnAvailable();
}

void SingleInputGate::SetAvailabilityListener(std::shared_ptr<AvailabilityListener> listener) {
  {
    std::lock_guard<std::mutex> lock(listener_mu_);
    listener_ = std::move(listener);
  }
  Notify();  // data may have arrived before
}

void SingleInputGate::BlockChannel(int index) {
  std::lock_guard<std::mutex> lock(mu_);
  channels_[static_cast<size_t>(index)].blocked = true;
}

void SingleInputGate::ResumeChannel(int index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    Channel& ch = channels_[static_cast<size_t>(index)];
    ch.blocked = false;
    if (!ch.blocked_pending) return;
    ch.blocked_pending = false;
    EnqueueLocked(index);
  }
  Notify();
}

bool SingleInputGate::IsChannelBlocked(int index) const {
  std::lock_guard<std::mutex> lock(mu_);
  return channels_[static_cast<size_t>(index)].blocked;
}

void SingleInputGate::EnqueueLocked(int index) {
  Channel& ch = channels_[static_cast<size_t>(index)];
  if (ch.in_available || ch.ended) return;
  ch.in_available = true;
  available_.push_back(index);
}

absl::StatusOr<std::optional<InputBuffer>> SingleInputGate::Next(
    std::chrono::milliseconds timeout) {
  const auto deadline = DeadlineAfter(timeout);
  std::unique_lock<std::mutex> lock(mu_);
  auto take = [&](int index, Buffer buffer) -> std::optional<InputBuffer> {
    // REQUIRES: mu_ held
    if (buffer.kind() == BufferKind::kEndOfPartition) {
      Channel& ch = channels_[static_cast<size_t>(index)];
      ch.ended = true;
      ch.local.reset();
      if (++ended_count_ == num_channels()) finished_ = true;
    }
    return InputBuffer{index, std::move(buffer)};
  };
  while (true) {
    if (finished_) return std::nullopt;
    if (!error_.ok()) return error_;
    if (released_) return absl::FailedPreconditionError("input gate was released");
    if (available_.empty()) {
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && available_.empty() &&
          error_.ok()) {
        return std::nullopt;
      }
      continue;
    }
    const int index = available_.front();
    available_.pop_front();
    Channel& ch = channels_[static_cast<size_t>(index)];
    ch.in_available = false;
    if (ch.ended) continue;
    if (ch.blocked) {  // taken up again by ResumeChannel()
      ch.blocked_pending = true;
      continue;
    }
    if (ch.remote != nullptr) {
      if (ch.received.empty()) continue;
      Buffer buffer = std::move(ch.received.front());
      ch.received.pop_front();
      if (!ch.received.empty()) EnqueueLocked(index);
      return take(index, std::move(buffer));
    }
    std::shared_ptr<PipelinedPartition> partition = ch.local;
    if (partition == nullptr) continue;
    lock.unlock();
    auto polled = partition->Poll(ch.spec.subpartition, /*has_credit=*/true);
    lock.lock();
    if (!polled.ok()) {
      if (error_.ok() && !finished_) error_ = polled.status();
      continue;
    }
    if (polled->more) EnqueueLocked(index);
    if (!polled->buffer) continue;
    stats_->buffers_sent_local.fetch_add(1, std::memory_order_relaxed);
    return take(index, std::move(polled->buffer));
  }
}

void SingleInputGate::OnRemoteBuffer(int index, Buffer buffer) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (released_) return;  // `buffer` is dropped after the lock
    channels_[static_cast<size_t>(index)].received.push_back(std::move(buffer));
    EnqueueLocked(index);
  }
  Notify();
}

void SingleInputGate::OnLocalDataAvailable(int index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (released_) return;
    EnqueueLocked(index);
  }
  Notify();
}

void SingleInputGate::OnChannelError(int index, absl::Status status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (channels_[static_cast<size_t>(index)].ended || finished_ || !error_.ok()) return;
    error_ = std::move(status);
  }
  Notify();
}

void SingleInputGate::Cancel(absl::Status reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.ok() && !finished_) error_ = std::move(reason);
  }
  Notify();
  Release();
}

void SingleInputGate::Release() {
  std::vector<std::shared_ptr<RemoteInputChannel>> remotes;
  std::vector<std::pair<std::shared_ptr<PipelinedPartition>, int>> locals;
  std::vector<std::deque<Buffer>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (released_) return;
    released_ = true;
    for (Channel& ch : channels_) {
      if (ch.remote) remotes.push_back(ch.remote);
      if (ch.local) locals.emplace_back(std::move(ch.local), ch.spec.subpartition);
      ch.local = nullptr;
      dropped.push_back(std::move(ch.received));
      ch.received.clear();
    }
    available_.clear();
  }
  Notify();
  // Release the channels before dropping their buffers: those go straight to the pool.
  for (auto& remote : remotes) {
    remote->Release();
    if (auto client = remote->client()) client->RemoveChannel(remote->id());
  }
  dropped.clear();
  for (auto& [partition, subpartition] : locals) partition->DetachReader(subpartition);
}

bool SingleInputGate::BelongsToJob(const std::string& job_id) const {
  for (const Channel& ch : channels_) {
    if (ch.spec.partition.job_id == job_id) return true;
  }
  return false;
}

}  // namespace eddy::net
