// Network buffers: fixed-size memory segments (32 KiB by default) taken from a bounded
// BufferPool and returned to it when the last owner drops them. A Buffer is moved between
// threads, never shared; BufferPool is thread-safe. A buffer may carry a BufferRecycler that
// gets its memory back instead of the pool (partition quotas, a channel's exclusive buffers).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

namespace eddy::net {

inline constexpr size_t kDefaultBufferSize = 32 * 1024;

/// Returns now + `timeout`, capped at a year so that "wait forever" timeouts cannot overflow.
inline std::chrono::steady_clock::time_point DeadlineAfter(std::chrono::milliseconds timeout) {
  constexpr std::chrono::milliseconds kYear{365LL * 24 * 3600 * 1000};
  return std::chrono::steady_clock::now() +
         std::clamp(timeout, std::chrono::milliseconds(0), kYear);
}

/// What a buffer carries: serialized records, or one event.
enum class BufferKind : uint8_t {
  kData = 0,            // length-prefixed serialized records (records may span buffers)
  kEndOfPartition = 1,  // the producer subtask finished; no payload
  kEvent = 2,           // an engine event (watermark, barrier, ...): payload is its encoding
};

class Buffer;
class BufferPool;

/// Gets the memory of a dropped Buffer back instead of its pool: lets a partition count its
/// outstanding buffers and an input channel keep its exclusive buffers and grant credit.
/// Recycle() runs on whichever thread drops the buffer and must be thread-safe.
class BufferRecycler {
 public:
  virtual ~BufferRecycler() = default;
  /// Takes back `segment`: a plain pool buffer without recycler (or an empty Buffer if the
  /// dropped buffer owned no memory). Dropping `segment` returns it to its pool.
  virtual void Recycle(Buffer segment) = 0;
};

/// A pooled memory segment plus how many bytes of it are used. Move-only; returns its
/// memory to the pool (or its recycler) on destruction. Also used for event buffers.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { Release(); }

  /// Returns true if this holds a segment (or is an event without payload).
  explicit operator bool() const { return data_ != nullptr || kind_ != BufferKind::kData; }
  char* data() { return data_; }
  const char* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  void set_size(size_t n) { size_ = n; }
  BufferKind kind() const { return kind_; }
  void set_kind(BufferKind kind) { kind_ = kind; }
  std::string_view view() const { return {data_, size_}; }

  /// Makes an event buffer that owns no pool memory (end of partition).
  static Buffer EndOfPartition();

  /// Hands this buffer's memory to `recycler` instead of the pool when it is dropped.
  /// REQUIRES: no recycler attached yet.
  void AttachRecycler(std::shared_ptr<BufferRecycler> recycler);
  bool has_recycler() const { return recycler_ != nullptr; }
  /// Returns the memory to its pool (or recycler) now; leaves an empty Buffer.
  void Reset() { Release(); }

 private:
  friend class BufferPool;
  Buffer(BufferPool* pool, char* data, size_t capacity)
      : pool_(pool), data_(data), capacity_(capacity) {}
  void Release();

  BufferPool* pool_ = nullptr;
  char* data_ = nullptr;
  size_t capacity_ = 0;
  size_t size_ = 0;
  BufferKind kind_ = BufferKind::kData;
  std::shared_ptr<BufferRecycler> recycler_;
};

/// A bounded set of equally sized segments allocated once. Requests block while all are
/// in use, which is what turns a slow consumer into backpressure.
class BufferPool {
 public:
  BufferPool(size_t num_buffers, size_t buffer_size = kDefaultBufferSize);
  ~BufferPool();  // REQUIRES: every buffer returned
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  /// Takes a buffer, waiting up to `timeout`; returns an empty Buffer on timeout.
  Buffer Request(std::chrono::milliseconds timeout);
  /// Takes a buffer, waiting until `deadline` (none: forever) or until `*cancelled` is
  /// set and WakeWaiters() called; returns an empty Buffer then.
  Buffer RequestUntil(std::optional<std::chrono::steady_clock::time_point> deadline,
                      const std::atomic<bool>* cancelled);
  /// Takes a buffer if one is free at once.
  Buffer TryRequest();
  /// Wakes every blocked request so it re-checks its cancellation flag.
  void WakeWaiters();

  size_t buffer_size() const { return buffer_size_; }
  size_t total() const { return total_; }
  size_t available() const;

 private:
  friend class Buffer;
  void Recycle(char* data);

  const size_t buffer_size_;
  const size_t total_;
  std::unique_ptr<char[]> memory_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<char*> free_;  // guarded by mu_
};

}  // namespace eddy::net
