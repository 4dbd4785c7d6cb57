// Stream elements: what flows between operators and over network channels. A record is a
// value with an event timestamp; watermarks, watermark status and latency markers travel in
// order with the records. On the wire each element is one length-delimited frame of the
// record stream: a tag byte, then the tag's fields (see EncodeElementHeader). Barriers and
// end-of-partition are network events, not elements. Plain values; thread-safe as values.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
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

/// Wire tags of the elements inside data buffers.
enum class ElementTag : uint8_t {
  kRecord = 0,              // no timestamp; then the value's Serde encoding
  kTimestampedRecord = 1,   // fixed64 timestamp; then the value
  kWatermark = 2,           // fixed64 watermark
  kWatermarkStatus = 3,     // one byte: WatermarkStatus
  kLatencyMarker = 4,       // fixed64 marked time (ms), fixed32 source subtask
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

/// One decoded element frame: its tag and fields; for records, `payload` is the value.
struct ElementView {
  ElementTag tag = ElementTag::kRecord;
  EventTime time = kNoTimestamp;  // record timestamp, watermark or latency marker time
  WatermarkStatus status = WatermarkStatus::kActive;
  int32_t subtask = 0;            // latency markers
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
    case ElementTag::kLatencyMarker: {
      if (frame.size() != 13) return false;
      out->time = GetFixed64(frame.data() + 1);
      uint32_t s = 0;
      for (int i = 0; i < 4; ++i) s |= uint32_t{static_cast<uint8_t>(frame[9 + i])} << (8 * i);
      out->subtask = static_cast<int32_t>(s);
      return true;
    }
  }
  return false;
}

}  // namespace element
}  // namespace eddy
