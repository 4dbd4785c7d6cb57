// The TaskManager's data plane. Producer subtasks write buffers into ResultPartitions (one
// subpartition per consumer channel); consumer subtasks read them through InputGates.
// Remote channels use one TCP connection per pair of TaskManagers (the consumer side
// connects to the producer's data port) carrying many channels, with credit-based flow
// control: a receiver grants one credit per free buffer it has reserved for the channel and
// the sender sends a buffer only against a credit, so a slow consumer backpressures its
// producer instead of growing memory. Same-process channels hand buffers over directly.
// NetworkEnvironment, ResultPartition and InputGate are thread-safe; a ResultPartition is
// written by one task thread and an InputGate read by one task thread. Socket work runs on
// the io_context given to Create() (one strand per connection); it never blocks.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "taskmanager/network/buffer.h"

namespace boost::asio::ssl {
class context;
}

namespace eddy::net {

/// Names one producer execution attempt's output on one job edge:
/// "<job>/<edge>/<subtask>#<attempt>". A restarted job's attempts never read a stale one.
struct PartitionId {
  std::string job_id;
  std::string edge_id;
  int32_t producer_subtask = 0;
  int32_t attempt = 0;
  std::string ToString() const;
  bool operator==(const PartitionId&) const = default;
};

struct NetworkOptions {
  size_t num_buffers = 2048;  // taskmanager.network.buffers
  size_t buffer_size = kDefaultBufferSize;
  int exclusive_buffers_per_channel = 2;  // credits a remote input channel starts with
  /// Buffers one partition may hold beyond one per subpartition. A buffer counts from
  /// RequestBuffer() until it is written to the socket or dropped by the local consumer, so
  /// a partition holds at most num_subpartitions + extra_buffers_per_partition buffers.
  int extra_buffers_per_partition = 8;
  /// How long a consumer retries a partition that is not (yet) produced on its TaskManager.
  std::chrono::milliseconds partition_request_timeout{10000};
  /// How long a consumer's partially received frame may stall before the producer closes
  /// that connection (a peer that stops mid-frame must not hold a connection forever).
  std::chrono::milliseconds frame_timeout{10000};
  /// Mutual TLS on data connections (security.ssl.internal.*); null: plain TCP.
  std::shared_ptr<boost::asio::ssl::context> tls;
};

/// Where a consumer channel reads from.
struct ChannelSpec {
  PartitionId partition;
  int32_t subpartition = 0;  // = the consumer subtask index for forward/hash/rebalance edges
  bool local = false;        // producer runs in this TaskManager
  std::string host;          // remote producer's data address
  uint16_t port = 0;
  std::string credential;    // the job's data-plane credential, sent with the request
};

/// Network counters of one TaskManager (monotonic).
struct NetworkStats {
  std::atomic<uint64_t> bytes_sent_remote{0};
  std::atomic<uint64_t> bytes_received_remote{0};
  std::atomic<uint64_t> buffers_sent_remote{0};
  std::atomic<uint64_t> buffers_received_remote{0};
  std::atomic<uint64_t> buffers_sent_local{0};
  /// Partition requests (remote or local) answered "not found" on this TaskManager.
  std::atomic<uint64_t> partition_requests_not_found{0};
  /// Partition requests refused: they did not carry the job's data-plane credential.
  std::atomic<uint64_t> partition_requests_refused{0};
};

/// Told (on any thread) that an input or output may have become available; must not block.
class AvailabilityListener {
 public:
  virtual ~AvailabilityListener() = default;
  virtual void OnAvailable() = 0;
};

class ResultPartition {
 public:
  virtual ~ResultPartition() = default;
  virtual const PartitionId& id() const = 0;
  virtual int num_subpartitions() const = 0;
  /// Takes an empty buffer to fill, waiting while the partition's quota or the pool is
  /// exhausted (backpressure). Returns an error if the partition was cancelled.
  virtual absl::StatusOr<Buffer> RequestBuffer() = 0;
  /// Like RequestBuffer() but gives up after `timeout` with DeadlineExceeded.
  virtual absl::StatusOr<Buffer> RequestBufferFor(std::chrono::milliseconds timeout) = 0;
  /// Queues a filled buffer (or event buffer) for one subpartition.
  virtual void Add(int subpartition, Buffer buffer) = 0;
  /// Queues end-of-partition on every subpartition; the partition is released once all
  /// consumers have read it.
  virtual void Finish() = 0;
  /// Drops queued data and wakes a blocked RequestBuffer() with an error.
  virtual void Cancel() = 0;
  /// Returns true if RequestBuffer() would not wait now (quota and pool have room).
  virtual bool IsAvailable() const = 0;
  /// Wakes `listener` when a buffer of this partition returns (it may be available again).
  virtual void SetAvailabilityListener(std::shared_ptr<AvailabilityListener> listener) = 0;
};

/// One buffer or event taken from an input gate.
struct InputBuffer {
  int channel = 0;
  Buffer buffer;  // kind() tells data, event or end-of-partition
};

class InputGate {
 public:
  virtual ~InputGate() = default;
  virtual int num_channels() const = 0;
  /// Returns the next buffer of any channel, waiting up to `timeout`; std::nullopt on
  /// timeout or when every channel has ended (see finished()). An error when a channel
  /// failed (producer unreachable, connection lost, cancelled).
  virtual absl::StatusOr<std::optional<InputBuffer>> Next(std::chrono::milliseconds timeout) = 0;
  /// Returns true once every channel delivered end-of-partition and it was returned.
  virtual bool finished() const = 0;
  /// Wakes a blocked Next() with an error and releases the channels.
  virtual void Cancel() = 0;
  /// Wakes `listener` (any thread) whenever a channel may have data; Next(0) then polls.
  virtual void SetAvailabilityListener(std::shared_ptr<AvailabilityListener> listener) = 0;
  /// Stops returning one channel's buffers until resumed (barrier alignment); the channel
  /// keeps receiving (within its credit).
  virtual void BlockChannel(int channel) = 0;
  virtual void ResumeChannel(int channel) = 0;
};

class NetworkEnvironment {
 public:
  /// Makes an environment whose sockets and timers run on `io` (run by the caller's
  /// threads, which must keep running it until the environment is stopped).
  static std::unique_ptr<NetworkEnvironment> Create(boost::asio::io_context& io,
                                                    NetworkOptions options);
  virtual ~NetworkEnvironment() = default;

  /// Binds the data port (0 = any free port) and starts serving partition requests.
  virtual absl::StatusOr<uint16_t> Listen(const std::string& host, uint16_t port) = 0;
  /// Closes the data port and every connection, cancels every partition and input gate.
  /// Idempotent; also done by the destructor.
  virtual void Stop() = 0;

  /// Creates a partition that consumers may request. Same id twice is an error.
  virtual absl::StatusOr<std::shared_ptr<ResultPartition>> CreatePartition(
      const PartitionId& id, int num_subpartitions) = 0;
  /// Creates an input gate reading the given channels (index = position in `channels`).
  virtual absl::StatusOr<std::unique_ptr<InputGate>> CreateInputGate(
      std::vector<ChannelSpec> channels) = 0;
  /// Cancels and forgets every partition of a job, and cancels its input gates.
  virtual void ReleaseJob(const std::string& job_id) = 0;
  /// Sets the job's data-plane credential: remote partition requests for the job's
  /// partitions are served only if they carry it. Kept for the environment's lifetime.
  virtual void SetJobCredential(const std::string& job_id, std::string credential) = 0;
  /// Returns true while the partition is registered (created, not yet consumed/released).
  virtual bool HasPartition(const PartitionId& id) const = 0;

  virtual BufferPool& pool() = 0;
  virtual const NetworkStats& stats() const = 0;
};

}  // namespace eddy::net
