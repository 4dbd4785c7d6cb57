#include "taskmanager/network/buffer.h"

#include <utility>

#include "common/check.h"

namespace eddy::net {

Buffer::Buffer(Buffer&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      data_(std::exchange(other.data_, nullptr)),
      capacity_(std::exchange(other.capacity_, 0)),
      size_(std::exchange(other.size_, 0)),
      kind_(std::exchange(other.kind_, BufferKind::kData)),
      recycler_(std::move(other.recycler_)) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = std::exchange(other.pool_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    size_ = std::exchange(other.size_, 0);
    kind_ = std::exchange(other.kind_, BufferKind::kData);
    recycler_ = std::move(other.recycler_);
  }
  return *this;
}

Buffer Buffer::EndOfPartition() {
  Buffer b;
  b.kind_ = BufferKind::kEndOfPartition;
  return b;
}

void Buffer::AttachRecycler(std::shared_ptr<BufferRecycler> recycler) {
  EDDY_CHECK(recycler_ == nullptr) << "buffer already has a recycler";
  recycler_ = std::move(recycler);
}

void Buffer::Release() {
  if (recycler_ != nullptr) {
    std::shared_ptr<BufferRecycler> recycler = std::move(recycler_);
    recycler_ = nullptr;
    Buffer segment;
    segment.pool_ = std::exchange(pool_, nullptr);
    segment.data_ = std::exchange(data_, nullptr);
    segment.capacity_ = std::exchange(capacity_, 0);
    size_ = 0;
    kind_ = BufferKind::kData;
    recycler->Recycle(std::move(segment));
    return;
  }
  if (pool_ != nullptr && data_ != nullptr) pool_->Recycle(data_);
  pool_ = nullptr;
  data_ = nullptr;
  capacity_ = 0;
  size_ = 0;
  kind_ = BufferKind::kData;
}

BufferPool::BufferPool(size_t num_buffers, size_t buffer_size)
    : buffer_size_(buffer_size), total_(num_buffers), memory_(new char[num_buffers * buffer_size]) {
  EDDY_CHECK_GT(buffer_size, size_t{0});
  free_.reserve(num_buffers);
  // Hand out low addresses first: LIFO from the back.
  for (size_t i = num_buffers; i > 0; --i) free_.push_back(memory_.get() + (i - 1) * buffer_size);
}

BufferPool::~BufferPool() {
  std::lock_guard<std::mutex> lock(mu_);
  EDDY_CHECK_EQ(free_.size(), total_) << "network buffers still in use when the pool is destroyed";
}

Buffer BufferPool::TryRequest() {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_.empty()) return Buffer();
  char* data = free_.back();
  free_.pop_back();
  return Buffer(this, data, buffer_size_);
}

Buffer BufferPool::Request(std::chrono::milliseconds timeout) {
  return RequestUntil(DeadlineAfter(timeout), nullptr);
}

Buffer BufferPool::RequestUntil(std::optional<std::chrono::steady_clock::time_point> deadline,
                                const std::atomic<bool>* cancelled) {
  std::unique_lock<std::mutex> lock(mu_);
  auto ready = [&] { return !free_.empty() || (cancelled != nullptr && cancelled->load()); };
  if (deadline) {
    if (!cv_.wait_until(lock, *deadline, ready)) return Buffer();
  } else {
    cv_.wait(lock, ready);
  }
  if (cancelled != nullptr && cancelled->load()) {
    // Pass on a wake-up this waiter may have consumed from Recycle().
    if (!free_.empty()) cv_.notify_one();
    return Buffer();
  }
  if (free_.empty()) return Buffer();
  char* data = free_.back();
  free_.pop_back();
  return Buffer(this, data, buffer_size_);
}

void BufferPool::WakeWaiters() {
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

size_t BufferPool::available() const {
  std::lock_guard<std::mutex> lock(mu_);
  return free_.size();
}

void BufferPool::Recycle(char* data) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    EDDY_CHECK_LT(free_.size(), total_) << "buffer returned twice";
    free_.push_back(data);
  }
  cv_.notify_one();
}

}  // namespace eddy::net
