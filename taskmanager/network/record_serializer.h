// Turns serialized records into a stream of buffers and back. Each record is written as a
// varint length followed by its bytes; a record may span several buffers. No allocation,
// lock or syscall per record. Besides copying whole records in, a writer exposes each
// channel's current buffer as a WriteWindow, so callers can serialize records in place.
// RecordWriter is used by one task thread; RecordReader by one task thread per channel.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/write_window.h"
#include "taskmanager/network/network_environment.h"

namespace eddy::net {

/// Records longer than this are rejected as malformed data (by writer and reader).
inline constexpr uint64_t kMaxRecordBytes = uint64_t{1} << 30;

/// Writes records into per-subpartition buffers of one ResultPartition.
class RecordWriter {
 public:
  explicit RecordWriter(std::shared_ptr<ResultPartition> partition);
  ~RecordWriter();

  int num_channels() const;
  /// Appends one serialized record to `channel`'s current buffer, handing full buffers to
  /// the partition. Blocks under backpressure; fails only when cancelled.
  absl::Status Write(int channel, std::string_view record);
  /// Appends the record to every channel.
  absl::Status Broadcast(std::string_view record);
  /// Flushes `channel`, then queues one event buffer (kind kEvent) carrying `payload`
  /// (at most one buffer's size), in order with the records before it.
  absl::Status WriteEvent(int channel, std::string_view payload);
  /// Sends the event on every channel.
  absl::Status BroadcastEvent(std::string_view payload);
  /// Hands every partly filled buffer to the partition and drops the empty ones.
  absl::Status FlushAll();
  /// Returns how long the oldest unflushed byte has waited (0 if nothing is pending). The
  /// clock starts when a channel takes a buffer after the last FlushAll(), so it may
  /// overstate the age, never understate it.
  std::chrono::nanoseconds OldestPendingAge() const;
  /// Flushes, then queues end-of-partition on every channel.
  absl::Status Finish();

  /// The free part of each channel's current buffer (empty when the channel has none).
  /// Bytes put there and pos advanced are part of the record stream, like Write(); only
  /// whole length-prefixed records may be put there. Stable for the writer's lifetime.
  WriteWindow* windows() { return windows_.data(); }
  /// Sends `channel`'s current buffer if it holds data and takes a fresh one (blocks
  /// under backpressure; fails only when cancelled, leaving the window empty).
  absl::Status Refill(int channel);

 private:
  absl::Status WriteBytes(int channel, const char* data, size_t n);
  absl::Status Flush(int channel);
  absl::Status TakeBuffer(int channel);

  std::shared_ptr<ResultPartition> partition_;
  std::vector<Buffer> current_;        // one per channel, possibly empty
  std::vector<WriteWindow> windows_;   // per channel: the free part of current_
  std::chrono::steady_clock::time_point oldest_pending_{};
  bool has_pending_ = false;
};

/// Reassembles records from the data buffers of one channel.
class RecordReader {
 public:
  /// Starts reading `buffer` (kind kData); keeps it until its records are consumed.
  /// REQUIRES: the previous buffer is used up (Next() returned false).
  void SetBuffer(Buffer buffer);
  /// Returns the next whole record in `record` (valid until the next call), false when the
  /// buffer is used up (a record may continue in the next buffer; the used-up buffer is
  /// dropped at once, which returns its credit). Fails on malformed data, and stays failed.
  absl::StatusOr<bool> Next(std::string_view* record);
  /// Keeps a used-up buffer (and so the records returned from it) until DropUsedBuffer()
  /// instead of dropping it inside Next(): lets a caller batch views of its records.
  void set_retain_used_buffer(bool retain) { retain_used_ = retain; }
  /// Drops the buffer kept by set_retain_used_buffer(), returning its credit.
  void DropUsedBuffer() { retired_.Reset(); }
  /// Returns true while the current buffer has unread bytes: records returned from it
  /// stay valid until then (the next Next() drops a used-up buffer).
  bool has_buffered_bytes() const { return buffer_ && pos_ < buffer_.size(); }
  /// Returns true if the last record returned spanned buffers (valid until the next Next()).
  bool returned_spanning_record() const { return partial_returned_; }
  /// Returns true if part of a record is waiting for the next buffer.
  bool has_partial_record() const { return reading_length_ || need_ > 0; }
  /// Call at end of partition: an error if the stream stopped inside a record.
  absl::Status Finish() const;

 private:
  absl::Status Fail(std::string message);

  Buffer buffer_;
  Buffer retired_;  // used up, kept while retain_used_
  bool retain_used_ = false;
  size_t pos_ = 0;
  std::string partial_;  // bytes of a record (or its length prefix) spanning buffers
  uint64_t need_ = 0;    // bytes still missing from partial_ (0: reading a length)
  bool reading_length_ = false;
  bool partial_returned_ = false;  // partial_ holds the record returned last
  absl::Status status_;
};

}  // namespace eddy::net
