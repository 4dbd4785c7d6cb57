// The backend-independent snapshot format of keyed state and timers over a key-group range,
// and the layout of stored keys both backends share. Any backend restores what any backend
// wrote, also a subset of its key groups (rescaling). Writers and readers are single-threaded
// values; the free functions are thread-safe.
//
//   snapshot := "EDDYKGS1" varint(max_parallelism) varint(first) varint(last) record* 0x00
//   record   := 0x01 lp(state name) byte(kind) byte(ttl on) varint(ttl ms) byte(update type)
//             | 0x02 varint(key group) lp(key) lp(namespace) [lp(user key): map states] lp(value)
//             | 0x03 lp(timer service name)
//             | 0x04 byte(domain) varint(key group) zigzag(time) lp(key) lp(namespace)
// (lp = varint length + bytes). An entry belongs to the last state record, a timer to the last
// timer-service record. Values are stored bytes as is (TTL timestamps included; a list is its
// framed elements), so they need no re-encoding either way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "api/key_hash.h"
#include "api/state.h"
#include "api/timer_service.h"

namespace eddy::state {

/// A stored key (the composite key of a state table): key group (2 bytes, big-endian),
/// lp(key), lp(namespace); map entries append the user key.
struct StoredKey {
  int32_t key_group = 0;
  std::string_view key;
  std::string_view ns;
  size_t size = 0;  // bytes of the composite part (without a user key)
};

/// Parses the composite part at the start of `bytes`; false if malformed.
bool ParseStoredKey(std::string_view bytes, StoredKey* out);
/// Appends the composite key of (key_group, key, ns) to `*out`.
void AppendStoredKey(int32_t key_group, std::string_view key, std::string_view ns,
                     std::string* out);
/// Appends the 2-byte big-endian key-group prefix (also a RocksDB seek bound).
void AppendKeyGroupPrefix(int32_t key_group, std::string* out);

/// Writes one snapshot into a string.
class SnapshotWriter {
 public:
  /// Writes the header into `*out` (appending).
  SnapshotWriter(std::string* out, int32_t max_parallelism, KeyGroupRange range);
  /// Writes records only, no header (a fragment that AppendFragment() adds to a snapshot).
  explicit SnapshotWriter(std::string* out) : out_(out) {}
  /// Adds records written by a fragment writer.
  void AppendFragment(std::string_view records) { out_->append(records); }
  void BeginState(const StateMeta& meta);
  /// Adds an entry of the current state; `stored_key` is the composite key.
  void Entry(std::string_view stored_key, std::string_view user_key, std::string_view value);
  void BeginTimerService(std::string_view name);
  void Timer(TimeDomain domain, const InternalTimer& timer);
  /// Writes the end marker; nothing may be added afterwards.
  void Finish();

 private:
  std::string* out_;
  bool map_state_ = false;
};

/// What a reader hands its visitor, in file order.
class SnapshotVisitor {
 public:
  virtual ~SnapshotVisitor() = default;
  virtual absl::Status OnHeader(int32_t max_parallelism, KeyGroupRange range) = 0;
  virtual absl::Status OnState(const StateMeta& meta) = 0;
  /// `stored_key` is rebuilt as the composite key of the entry.
  virtual absl::Status OnEntry(int32_t key_group, std::string_view stored_key,
                               std::string_view user_key, std::string_view value) = 0;
  virtual absl::Status OnTimerService(std::string_view name) = 0;
  virtual absl::Status OnTimer(TimeDomain domain, const InternalTimer& timer) = 0;
};

/// Reads a snapshot written by SnapshotWriter. Errors: malformed or truncated input (named
/// with the byte offset), or the first error a visitor returns.
absl::Status ReadSnapshot(std::string_view bytes, SnapshotVisitor& visitor);

}  // namespace eddy::state
