// Stream elements: what flows between operators and over network channels. A record is a
// value with an event timestamp; watermarks, watermark status and latency markers travel in
// order with the records. On the wire each element is one length-delimited frame of the
// record stream: a tag byte, then the tag's fields (see EncodeElementHeader). Barriers and
// end-of-partition are network events, not elements. Plain values; thread-safe as values.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>
#include <string_view>

namespace eddy {

/// Event time in milliseconds since the epoch.
using EventTime = int64_t;

/// The timestamp of a record that has none (no timestamp assigner ran before it).
inline constexpr EventTime kNoTimestamp = std::numeric_limits<int64_t>::min();
/// The watermark before any was received.
inline constexpr EventTime kMinWatermark = std::numeric_limits<int64_t>::min();
/// The watermark a bounded input emits at its end: every timer and window fires.
inline constexpr EventTime kMaxWatermark = std::numeric_limits<int64_t>::max();

/// A channel or input is idle (left out of the watermark minimum) or active.
enum class WatermarkStatus : uint8_t { kActive = 0, kIdle = 1 };

/// A record and its event timestamp.
template <typename T>
struct StreamRecord {
  T value;
  EventTime timestamp = kNoTimestamp;
};

/// A batch of records whose elements outlive clear(): the next records are assigned into
/// them, so records holding strings or vectors reuse their capacity instead of allocating
/// (once the batch has warmed up, a record of a steady size costs no allocation).
template <typename T>
class RecordBatch {
 public:
  void reserve(size_t n) { items_.reserve(n); }
  template <typename U>
  void push_back(U&& value, EventTime timestamp) {
    if constexpr (std::is_assignable_v<T&, U&&>) {
      if (size_ < items_.size()) {
        StreamRecord<T>& slot = items_[size_++];
        slot.value = std::forward<U>(value);
        slot.timestamp = timestamp;
        return;
      }
    } else {
      items_.resize(size_);
    }
    items_.push_back(StreamRecord<T>{std::forward<U>(value), timestamp});
    ++size_;
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() { size_ = 0; }
  StreamRecord<T>* data() { return items_.data(); }
  const StreamRecord<T>* data() const { return items_.data(); }

 private:
  std::vector<StreamRecord<T>> items_;
  size_t size_ = 0;
};

/// Made by a source every `metrics.latency.interval` at processing time `marked_time` (ms
/// since the epoch); travels in order with the records, bypassing user functions, to the
/// sinks, which measure how long it took. `source` is the source's operator index in the
/// job plan, `subtask` the source subtask.
struct LatencyMarker {
  int64_t marked_time = 0;
  int32_t source = 0;
  int32_t subtask = 0;
};

/// Wire tags of the elements inside data buffers.
enum class ElementTag : uint8_t {
  kRecord = 0,              // no timestamp; then the value's Serde encoding
  kTimestampedRecord = 1,   // fixed64 timestamp; then the value
  kWatermark = 2,           // fixed64 watermark
  kWatermarkStatus = 3,     // one byte: WatermarkStatus
  kLatencyMarker = 4,       // fixed64 marked time (ms), fixed32 source operator, fixed32 subtask
};

namespace element {

inline void PutFixed64(char* out, int64_t v) {
  uint64_t u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(u >> (8 * i));
}
inline int64_t GetFixed64(const char* in) {
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u |= uint64_t{static_cast<uint8_t>(in[i])} << (8 * i);
  return static_cast<int64_t>(u);
}

/// Header bytes of a record element with `timestamp`: 1 or 9.
inline size_t EncodeRecordHeader(EventTime timestamp, char* out) {
  if (timestamp == kNoTimestamp) {
    out[0] = static_cast<char>(ElementTag::kRecord);
    return 1;
  }
  out[0] = static_cast<char>(ElementTag::kTimestampedRecord);
  PutFixed64(out + 1, timestamp);
  return 9;
}

inline void PutFixed32(char* out, int32_t v) {
  uint32_t u = static_cast<uint32_t>(v);
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(u >> (8 * i));
}
inline int32_t GetFixed32(const char* in) {
  uint32_t u = 0;
  for (int i = 0; i < 4; ++i) u |= uint32_t{static_cast<uint8_t>(in[i])} << (8 * i);
  return static_cast<int32_t>(u);
}

/// Bytes of a latency marker element.
inline constexpr size_t kLatencyMarkerBytes = 17;
/// Writes a latency marker element (kLatencyMarkerBytes).
inline void EncodeLatencyMarker(const LatencyMarker& marker, char* out) {
  out[0] = static_cast<char>(ElementTag::kLatencyMarker);
  PutFixed64(out + 1, marker.marked_time);
  PutFixed32(out + 9, marker.source);
  PutFixed32(out + 13, marker.subtask);
}

/// One decoded element frame: its tag and fields; for records, `payload` is the value.
struct ElementView {
  ElementTag tag = ElementTag::kRecord;
  EventTime time = kNoTimestamp;  // record timestamp, watermark or latency marker time
  WatermarkStatus status = WatermarkStatus::kActive;
  int32_t source = 0;             // latency markers: source operator index
  int32_t subtask = 0;            // latency markers: source subtask
  std::string_view payload;
};

/// Parses one frame; false if it is malformed (unknown tag or too short).
inline bool DecodeElement(std::string_view frame, ElementView* out) {
  if (frame.empty()) return false;
  out->tag = static_cast<ElementTag>(frame[0]);
  switch (out->tag) {
    case ElementTag::kRecord:
      out->time = kNoTimestamp;
      out->payload = frame.substr(1);
      return true;
    case ElementTag::kTimestampedRecord:
      if (frame.size() < 9) return false;
      out->time = GetFixed64(frame.data() + 1);
      out->payload = frame.substr(9);
      return true;
    case ElementTag::kWatermark:
      if (frame.size() != 9) return false;
      out->time = GetFixed64(frame.data() + 1);
      return true;
    case ElementTag::kWatermarkStatus:
      if (frame.size() != 2 || static_cast<uint8_t>(frame[1]) > 1) return false;
      out->status = static_cast<WatermarkStatus>(frame[1]);
      return true;
    case ElementTag::kLatencyMarker:
      if (frame.size() != kLatencyMarkerBytes) return false;
      out->time = GetFixed64(frame.data() + 1);
      out->source = GetFixed32(frame.data() + 9);
      out->subtask = GetFixed32(frame.data() + 13);
      return true;
  }
  return false;
}

}  // namespace element
}  // namespace eddy
