// Keyed timers as operators see them (Flink's InternalTimerService): event-time and
// processing-time timers of (time, key, namespace), registered at the keyed state backend's
// current key, deduplicated, deletable, fired in time order with their key made current.
// Timers live with the keyed state and are part of its snapshots. One task thread uses a
// timer service; nothing here is thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "api/serde.h"
#include "common/check.h"

namespace eddy {

/// The time domains of timers; the numbers are part of the snapshot format.
enum class TimeDomain : uint8_t { kEventTime = 0, kProcessingTime = 1 };

/// A timer: fires once at `time` for the key (encoded) and namespace (encoded).
struct InternalTimer {
  int64_t time = 0;
  int32_t key_group = 0;
  std::string key;
  std::string ns;

  /// Decodes the timer's key as K.
  template <typename K>
  K key_as() const {
    return DecodeAs<K>(key);
  }
  /// Decodes the timer's namespace as N.
  template <typename N>
  N namespace_as() const {
    return DecodeAs<N>(ns);
  }

  auto operator<=>(const InternalTimer&) const = default;
  bool operator==(const InternalTimer&) const = default;

 private:
  template <typename T>
  static T DecodeAs(std::string_view bytes) {
    T value{};
    const absl::Status status = Deserialize(bytes, &value);
    EDDY_CHECK(status.ok()) << "timer field is not a " << TypeName<T>() << ": " << status;
    return value;
  }
};

/// The timers of one operator (a named service of the keyed state backend).
class InternalTimerService {
 public:
  virtual ~InternalTimerService() = default;

  /// Registers an event-time timer at `time` for the current key and namespace `ns`;
  /// registering the same (time, key, namespace) again keeps one timer.
  template <typename N>
  void register_event_time_timer(const N& ns, int64_t time) {
    Register(TimeDomain::kEventTime, Encode(ns), time);
  }
  template <typename N>
  void delete_event_time_timer(const N& ns, int64_t time) {
    Delete(TimeDomain::kEventTime, Encode(ns), time);
  }
  template <typename N>
  void register_processing_time_timer(const N& ns, int64_t time) {
    Register(TimeDomain::kProcessingTime, Encode(ns), time);
  }
  template <typename N>
  void delete_processing_time_timer(const N& ns, int64_t time) {
    Delete(TimeDomain::kProcessingTime, Encode(ns), time);
  }

  /// Fires every event-time timer at or before `watermark`, in time order, each with its key
  /// made the backend's current key; `on_timer` may register more timers (those at or before
  /// `watermark` fire in the same call).
  virtual void advance_watermark(int64_t watermark,
                                 absl::FunctionRef<void(const InternalTimer&)> on_timer) = 0;
  /// Like advance_watermark, for processing-time timers at or before `time`.
  virtual void advance_processing_time(int64_t time,
                                       absl::FunctionRef<void(const InternalTimer&)> on_timer) = 0;
  /// Returns the last watermark passed to advance_watermark.
  virtual int64_t current_watermark() const = 0;
  /// Returns the earliest timer's time in `domain`, if any (to schedule processing time).
  virtual std::optional<int64_t> next_timer_time(TimeDomain domain) const = 0;
  /// Returns the number of timers in `domain`.
  virtual size_t num_timers(TimeDomain domain) const = 0;

  virtual void Register(TimeDomain domain, std::string_view ns, int64_t time) = 0;
  virtual void Delete(TimeDomain domain, std::string_view ns, int64_t time) = 0;

 private:
  template <typename N>
  std::string_view Encode(const N& ns) {
    ns_scratch_.clear();
    Serde<N>::Write(ns, &ns_scratch_);
    return ns_scratch_;
  }
  std::string ns_scratch_;
};

}  // namespace eddy
